"""The SageMaker Python SDK 2.x as synth uses it: quiet, offline, and without a slow check repeated.

Import this module before the SDK (the training_pipeline_* modules that use the SDK do, in their own import block):

- Quiet: importing this module sets `SAGEMAKER_SUPPRESS_V2_WARNING` (the SDK prints its v2 banner when it is
  imported and again for some v2 classes, each time reading the variable) and quiets the SDK's loggers (its
  config-file notices). Synth output stays quiet; tests/infra/test_snapshots.py checks it.
- Offline: `offline_sessions(region, bucket)` gives the SDK sessions that never look for credentials and
  need no AWS call (explicit region and default bucket, telemetry off).
- Quick: the SDK validates its config against its JSON schema on every config lookup (about 150 in a synth)
  and checks the schema itself each time. `offline_sessions` replaces that one function, in the two SDK
  modules that call it, with the same validation built once: it saves about a second of a synth's CPU.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
import botocore.credentials
import botocore.session

if TYPE_CHECKING:
    from sagemaker.workflow.pipeline_context import PipelineSession

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
for _logger in ("sagemaker", "sagemaker.config"):
    logging.getLogger(_logger).setLevel(logging.ERROR)

# The SDK's config file content: telemetry off (otherwise the SDK calls STS and S3).
_SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


@functools.cache
def _offline_boto_session(region: str) -> boto3.Session:
    """A boto3 session that never looks for credentials (env, files, instance metadata over the network).
    Nothing reaches AWS; a call would fail at once."""
    core = botocore.session.Session()
    core.register_component("credential_provider", botocore.credentials.CredentialResolver(providers=[]))
    return boto3.Session(botocore_session=core, region_name=region)


@functools.cache
def _pipeline_session(region: str, default_bucket: str) -> PipelineSession:
    # The SDK is imported here, after this module quieted it. One session per region and bucket for the whole
    # synth: creating one builds a dozen botocore clients and validates the SDK config, most of the time a
    # definition takes. Builds run one after another, so the session's per-step context never mixes two pipelines.
    from sagemaker.workflow.pipeline_context import PipelineSession

    _validate_sdk_config_with_a_schema_checked_once()
    return PipelineSession(
        boto_session=_offline_boto_session(region),
        default_bucket=default_bucket,
        sagemaker_config=_SDK_CONFIG,
    )


@functools.cache
def _validate_sdk_config_with_a_schema_checked_once() -> None:
    import jsonschema
    from sagemaker import session, utils
    from sagemaker.config.config_schema import SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA as SCHEMA

    validate = jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate
    utils.validate_sagemaker_config = session.validate_sagemaker_config = validate


@contextmanager
def offline_sessions(region: str, default_bucket: str) -> Iterator[PipelineSession]:
    """The offline pipeline session to build a definition with; meanwhile its boto3 session is also boto3's
    default, since the SDK creates some clients from the default session (e.g. Estimator's TensorBoardApp)."""
    session = _offline_boto_session(region)
    previous, boto3.DEFAULT_SESSION = boto3.DEFAULT_SESSION, session
    try:
        yield _pipeline_session(region, default_bucket)
    finally:
        boto3.DEFAULT_SESSION = previous
