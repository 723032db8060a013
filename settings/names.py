"""The fixed names of an environment's resources, shared by the constructs that create them and the tools that
find them (tools/approver.py). Pure Python: importing it loads no CDK."""

from __future__ import annotations


def training_pipeline_name(environment: str) -> str:
    return f"mlops-{environment}-training"


def model_package_group_name(environment: str) -> str:
    return f"mlops-{environment}"


def endpoint_name(environment: str) -> str:
    return f"mlops-{environment}"


def deploy_state_machine_name(environment: str) -> str:
    return f"mlops-{environment}-deploy"
