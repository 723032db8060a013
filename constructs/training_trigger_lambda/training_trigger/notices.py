"""What the environment's topic is told about an upload that was not trained."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .constants import SNS_SUBJECT_MAX_CHARS
from .settings import Settings
from .tags import MAX_TAGS, REJECTED_TAG
from .uploads import Upload
from .validation import FIX_AND_UPLOAD_AGAIN


def upload_details(settings: Settings, upload: Upload, outcome: str, reason: str) -> dict[str, Any]:
    """What a notice about an upload says of it, for people and for filters on the topic."""
    return {
        "environment": settings.environment_name,
        "outcome": outcome,
        "reason": reason,
        "s3_uri": upload.uri,
        "bucket": upload.bucket,
        "key": upload.key,
        "version_id": upload.version_id,
        "etag": upload.etag,
        "size": upload.size,
    }


def notification_subject(environment: str, key: str, what: str = "Upload rejected") -> str:
    prefix = f"[{environment}] {what}: "
    room = SNS_SUBJECT_MAX_CHARS - len(prefix)
    # The end of the key (the file name) says most; SNS refuses control characters in subjects.
    shown = key if len(key) <= room else "..." + key[-(room - 3) :]
    return "".join(char if char.isprintable() else " " for char in prefix + shown)


def notification_body(
    upload: Upload, reason: str, tagged: bool, details: Mapping[str, Any], advice: str = FIX_AND_UPLOAD_AGAIN
) -> str:
    if tagged:
        kept = f"It was left in place and tagged {REJECTED_TAG}."
    else:
        kept = f"It was left in place, untagged: it already has {MAX_TAGS} tags."
    return (
        f"The upload {upload.where} was rejected before training: {reason}.\n"
        f"{kept} {advice}\n\n{json.dumps(details, indent=2, ensure_ascii=False)}\n"
    )
