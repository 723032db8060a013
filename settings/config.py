"""Transitional: the typed environment settings now live in settings/schema.py (the dataclasses) and
settings/loading.py (cdk.json's context to them). This module only re-exports them for the deploy construct
(constructs/model_deployment.py) that a parallel branch is rewriting; import from schema/loading instead, and
delete this file once nothing imports it (tests/infra/test_layout.py names the importers it still allows).
"""

from settings.loading import (
    ENVIRONMENT_DEFAULTS_CONTEXT_KEY,
    ENVIRONMENTS_CONTEXT_KEY,
    SELECTED_ENVIRONMENT_CONTEXT_KEY,
    ConfigError,
    auc_thresholds,
    environment_settings,
    load_environments,
    parse_environment,
)
from settings.schema import (
    AlarmsConfig,
    AutoscalingConfig,
    DataConfig,
    DeploymentConfig,
    EndpointSettings,
    EnvironmentConfig,
    NotificationsConfig,
    TrainingConfig,
    has_local_nvme_storage,
)

__all__ = [
    "ENVIRONMENTS_CONTEXT_KEY",
    "ENVIRONMENT_DEFAULTS_CONTEXT_KEY",
    "SELECTED_ENVIRONMENT_CONTEXT_KEY",
    "AlarmsConfig",
    "AutoscalingConfig",
    "ConfigError",
    "DataConfig",
    "DeploymentConfig",
    "EndpointSettings",
    "EnvironmentConfig",
    "NotificationsConfig",
    "TrainingConfig",
    "auc_thresholds",
    "environment_settings",
    "has_local_nvme_storage",
    "load_environments",
    "parse_environment",
]
