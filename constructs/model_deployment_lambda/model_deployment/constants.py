"""What the `ModelDeployment` constructs and the deploy workflow's functions share: constants and pure name rules.

The constructs (model_deployment.py, deployment_workflow.py, deployment_teardown.py, and for the endpoint's name
prefix model_monitoring.py and training_trigger.py) import this module and nothing else of the package; it imports
nothing of the package.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any

# The environment variable the constructs write the workflow's settings into (JSON), for every step and the teardown.
DEPLOY_SETTINGS_VARIABLE = "DEPLOY_SETTINGS"

# How long the workflow waits between two looks at a busy endpoint or a rollout (its Wait states).
POLL_SECONDS = 60

# The step errors the state machine retries (deployment_workflow.py), by the names of the exceptions the steps
# raise (aws_answers.py): each means "run this step again later".
RETRIED_STEP_ERRORS = ("AwsThrottled", "AwsUnavailable", "NotYetConsistent")

# Application Auto Scaling of the endpoint's variant. The workflow's IAM allows registering only targets carrying
# ENDPOINT_TAG with the endpoint's name, and changing only targets that carry it (aws:RequestTag /
# aws:ResourceTag): another environment's targets are out of reach.
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
ENDPOINT_TAG = "mlops:endpoint"

# The longest subject Publish takes: "Subjects must be UTF-8 text with no line breaks or control characters, and
# less than 100 characters long" (Amazon SNS API reference, Publish, Subject).
SNS_SUBJECT_MAX_CHARS = 99

# SageMaker names: at most 63 characters, letters, digits and hyphens (CreateModel, CreateEndpointConfig).
NAME_LIMIT = 63
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# Configs and models are named `<prefix>-v<version>-<hash>`: a prefix of at most 40 characters leaves room for a
# 12-digit version. The constructs scope IAM to `<prefix>-v*` with the same function.
PREFIX_LIMIT = 40
HASH_LENGTH = 8


def name_prefix(endpoint_name: str) -> str:
    """The prefix of every config and model name of this endpoint; the endpoint name itself when short enough."""
    if not NAME_PATTERN.fullmatch(endpoint_name):
        raise ValueError(f"endpoint name {endpoint_name!r} is not a valid SageMaker name")
    if len(endpoint_name) <= PREFIX_LIMIT:
        return endpoint_name
    digest = hashlib.sha256(endpoint_name.encode()).hexdigest()[:HASH_LENGTH]
    head = endpoint_name[: PREFIX_LIMIT - HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"


def versioned_prefix(endpoint_name: str) -> str:
    """What every config, model and rollback alarm of this endpoint starts with: `<prefix>-v`."""
    return f"{name_prefix(endpoint_name)}-v"


def busy_limit(settings: Mapping[str, Any]) -> int:
    """How many POLL_SECONDS checks to wait for a busy endpoint or a rollout: its timeout plus an hour to create."""
    return math.ceil((settings["max_execution_timeout_seconds"] + 3600) / POLL_SECONDS)
