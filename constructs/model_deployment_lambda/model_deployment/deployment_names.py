"""Deterministic names: every execution for the same package version and settings derives the same ones.

The endpoint's name prefix, which the constructs scope IAM with, is in constants.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .constants import HASH_LENGTH, NAME_LIMIT, NAME_PATTERN

DEPLOYMENT_KEY_TAG = "mlops:deployment-key"
PACKAGE_TAG = "mlops:model-package-arn"
SERVED_TAG = "mlops:served"

ENDPOINT_CONFIG_KEYS = (
    "model_role_arn",
    "kms_key_arn",
    "data_capture_s3_uri",
    "instance_type",
    "instance_count",
    "variant_name",
    "container_startup_health_check_timeout_seconds",
    "model_data_download_timeout_seconds",
    "data_capture_percent",
)
# The Model's network (private network mode, docs/private-network.md): in the hash only when set, so that the names
# of environments without it stay what they were.
MODEL_NETWORK_KEYS = ("model_vpc_config", "model_enable_network_isolation")


def settings_hash(settings: Mapping[str, Any], package_arn: str) -> str:
    """A short hash of everything that goes into the Model and the EndpointConfig: a change makes new names."""
    relevant = {key: settings.get(key) for key in ENDPOINT_CONFIG_KEYS}
    relevant.update({key: settings[key] for key in MODEL_NETWORK_KEYS if key in settings})
    relevant["package_arn"] = package_arn
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:HASH_LENGTH]


def resource_name(prefix: str, version: int, digest: str) -> str:
    """`<prefix>-v<version>-<hash>`: the name of the Model and of the EndpointConfig for one package version."""
    name = f"{prefix}-v{version}-{digest}"
    if len(name) > NAME_LIMIT or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"cannot name the model for version {version}: {name!r} is not a valid name of at most 63")
    return name


def deployment_key(package_arn: str, approved_at: str) -> str:
    """One approval of one package: duplicate events share it, a later re-approval does not."""
    return hashlib.sha256(f"{package_arn}|{approved_at}".encode()).hexdigest()[:16]
