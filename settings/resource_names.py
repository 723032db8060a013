"""The fixed names of an environment's resources, shared by the constructs that create them and the tools that
find them (tools/approver/). Pure Python: importing it loads no CDK."""

from __future__ import annotations


def training_pipeline_name(environment: str) -> str:
    return f"mlops-{environment}-training"


def model_package_group_name(environment: str) -> str:
    return f"mlops-{environment}"


def endpoint_name(environment: str) -> str:
    return f"mlops-{environment}"


def deploy_state_machine_name(environment: str) -> str:
    return f"mlops-{environment}-deploy"


# The endpoint captures requests and answers under <artifacts bucket>/data-capture/<endpoint name>/ (the deploy
# workflow's DataCaptureConfig, constructs/model_deployment.py); the monitoring job reads them there
# (constructs/model_monitoring.py).
DATA_CAPTURE_PREFIX = "data-capture/"

# Training jobs write <artifacts bucket>/pipelines/<pipeline>/train/<job name>/output/model.tar.gz (CreateTrainingJob,
# OutputDataConfig): every model version, and all the endpoint's model role reads of the bucket.
TRAINING_OUTPUT_FOLDER = "train"


def pipeline_prefix(pipeline_name: str) -> str:
    """Where every run of the pipeline writes in the artifacts bucket."""
    return f"pipelines/{pipeline_name}"


def model_artifact_keys(pipeline_name: str) -> str:
    """The key pattern (IAM wildcard) of every model.tar.gz the pipeline's training jobs write."""
    return f"{pipeline_prefix(pipeline_name)}/{TRAINING_OUTPUT_FOLDER}/*/output/model.tar.gz"
