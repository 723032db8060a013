"""The trigger's settings, from the environment the construct writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from .constants import (
    ALLOWED_COLUMNS_VARIABLE,
    ENDPOINT_NAME_VARIABLE,
    ENVIRONMENT_NAME_VARIABLE,
    IGNORED_COLUMNS_VARIABLE,
    MAX_UPLOAD_BYTES_VARIABLE,
    PINNED_INPUT_BUCKET_VARIABLE,
    PINNED_INPUT_PREFIX_VARIABLE,
    PIPELINE_NAME_VARIABLE,
    TARGET_COLUMN_VARIABLE,
    TOPIC_ARN_VARIABLE,
)


@dataclass(frozen=True)
class Settings:
    pipeline_name: str
    topic_arn: str
    max_upload_bytes: int
    target_column: str
    allowed_columns: frozenset[str] | None  # None: any columns allowed
    pinned_input_bucket: str
    pinned_input_prefix: str  # empty, or ends with "/"
    environment_name: str
    endpoint_name: str  # the environment's endpoint: the model it serves is the champion
    # The data contract's ignored_columns: accepted when present, never required.
    ignored_columns: frozenset[str] = frozenset()


def load_settings(environ: Mapping[str, str]) -> Settings:
    """The function's settings; a misconfiguration raises (every event retried, then dead-lettered)."""
    missing = [
        name
        for name in (
            PIPELINE_NAME_VARIABLE,
            TOPIC_ARN_VARIABLE,
            MAX_UPLOAD_BYTES_VARIABLE,
            TARGET_COLUMN_VARIABLE,
            ALLOWED_COLUMNS_VARIABLE,
            PINNED_INPUT_BUCKET_VARIABLE,
            PINNED_INPUT_PREFIX_VARIABLE,
            ENVIRONMENT_NAME_VARIABLE,
            ENDPOINT_NAME_VARIABLE,
        )
        if name not in environ
    ]
    if missing:
        raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
    allowed = json.loads(environ[ALLOWED_COLUMNS_VARIABLE])
    if allowed is not None and not (isinstance(allowed, list) and all(isinstance(name, str) for name in allowed)):
        raise RuntimeError(f"{ALLOWED_COLUMNS_VARIABLE} must be a JSON list of column names or null")
    target = environ[TARGET_COLUMN_VARIABLE]
    if allowed is not None and target not in allowed:
        raise RuntimeError(f"{ALLOWED_COLUMNS_VARIABLE} does not include the target column '{target}'")
    # Optional: a function configured before ignored columns existed has none.
    ignored = json.loads(environ.get(IGNORED_COLUMNS_VARIABLE, "[]"))
    if not (isinstance(ignored, list) and all(isinstance(name, str) for name in ignored)):
        raise RuntimeError(f"{IGNORED_COLUMNS_VARIABLE} must be a JSON list of column names")
    prefix = environ[PINNED_INPUT_PREFIX_VARIABLE].strip("/")
    return Settings(
        pipeline_name=environ[PIPELINE_NAME_VARIABLE],
        topic_arn=environ[TOPIC_ARN_VARIABLE],
        max_upload_bytes=int(environ[MAX_UPLOAD_BYTES_VARIABLE]),
        target_column=target,
        allowed_columns=None if allowed is None else frozenset(allowed),
        pinned_input_bucket=environ[PINNED_INPUT_BUCKET_VARIABLE],
        pinned_input_prefix=f"{prefix}/" if prefix else "",
        environment_name=environ[ENVIRONMENT_NAME_VARIABLE],
        endpoint_name=environ[ENDPOINT_NAME_VARIABLE],
        ignored_columns=frozenset(ignored),
    )
