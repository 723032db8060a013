"""The tags the trigger writes on an upload's version, within S3's tag limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .uploads import Upload

REJECTED_TAG = "mlops:rejected"
# Marks a source version whose execution started, so a redelivery after SageMaker has forgotten the
# ClientRequestToken still cannot start a second execution.
EXECUTION_TAG = "mlops:pipeline-execution"
MAX_TAGS = 10
MAX_TAG_VALUE_CHARS = 256
TAG_VALUE_PUNCTUATION = frozenset(" +-=._:/@")


def sanitize_tag_value(text: str) -> str:
    """S3 tag rules: at most 256 letters, digits, spaces and `+ - = . _ : / @`."""
    kept = "".join(char if char.isalnum() or char in TAG_VALUE_PUNCTUATION else " " for char in text)
    return " ".join(kept.split())[:MAX_TAG_VALUE_CHARS].rstrip()


def merge_tag(tags: Mapping[str, str], key: str, value: str) -> dict[str, str] | None:
    """The object's tags plus (or with a new value for) one tag; None when that would break S3's limits."""
    if len(value) > MAX_TAG_VALUE_CHARS or (key not in tags and len(tags) >= MAX_TAGS):
        return None
    return {**tags, key: value}


def read_tags(s3: Any, upload: Upload) -> dict[str, str]:
    response = s3.get_object_tagging(Bucket=upload.bucket, Key=upload.key, **upload.version_args)
    return {tag["Key"]: tag["Value"] for tag in response["TagSet"]}


def write_tags(s3: Any, upload: Upload, tags: Mapping[str, str]) -> None:
    s3.put_object_tagging(
        Bucket=upload.bucket,
        Key=upload.key,
        **upload.version_args,
        Tagging={"TagSet": [{"Key": key, "Value": value} for key, value in tags.items()]},
    )
