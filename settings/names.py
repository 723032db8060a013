"""Transitional: the fixed names of an environment's resources are settings/resource_names.py. This module only
re-exports them for the deploy constructs (constructs/deployment_workflow.py, constructs/model_deployment.py) that a
parallel branch is rewriting; delete it once nothing imports it (tests/infra/test_layout.py names the importers
it still allows).
"""

from settings.resource_names import (
    TRAINING_OUTPUT_FOLDER,
    deploy_state_machine_name,
    endpoint_name,
    model_artifact_keys,
    model_package_group_name,
    pipeline_prefix,
    training_pipeline_name,
)

__all__ = [
    "TRAINING_OUTPUT_FOLDER",
    "deploy_state_machine_name",
    "endpoint_name",
    "model_artifact_keys",
    "model_package_group_name",
    "pipeline_prefix",
    "training_pipeline_name",
]
