"""The trigger's entry: an S3 "Object Created" event in; the upload rejected, started, or found gone."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from . import aws_clients
from .aws_clients import Clients
from .notices import notification_body, notification_subject, upload_details
from .pipeline_start import pinned_input_uri, start
from .settings import Settings, load_settings
from .tags import EXECUTION_TAG, MAX_TAGS, REJECTED_TAG, merge_tag, read_tags, sanitize_tag_value, write_tags
from .uploads import Upload, derive_token, is_folder_marker, locate, parse_event
from .validation import Rejected, check_columns, check_data_rows, check_object, parse_header, read_head

logger = logging.getLogger(__name__)


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    # The log context: Lambda's JSON log lines carry each record's `extra` keys (and the requestId themselves).
    fields: dict[str, Any] = {"event_id": event.get("id")}
    try:
        return run(event, load_settings(os.environ), aws_clients.clients(), fields)
    except Exception:
        # Only bad input is answered without raising; anything else is retried, then dead-lettered.
        logger.exception("upload not processed; raising for a retry", extra={**fields, "outcome": "error"})
        raise


def run(event: Mapping[str, Any], settings: Settings, aws: Clients, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate, then reject or start. Fills `fields` (the log context) so the caller can log a failure."""
    upload = parse_event(event)
    fields.update(bucket=upload.bucket, key=upload.key, version_id=upload.version_id, etag=upload.etag)
    if is_folder_marker(upload):
        logger.info("folder marker ignored", extra={**fields, "outcome": "ignored"})
        return {"status": "ignored", "reason": "folder marker"}
    located = locate(aws.s3, upload)
    if located is None:
        return report_gone(aws, settings, upload, fields)
    upload = replace(upload, key=located.key)
    token = derive_token(upload)
    fields.update(key=upload.key, token=token)
    tags = read_tags(aws.s3, upload)
    if EXECUTION_TAG in tags:
        logger.info("upload delivered again; execution already started", extra={**fields, "outcome": "duplicate"})
        return {
            "status": "started",
            "pipeline_execution_arn": tags[EXECUTION_TAG],
            "input_data_uri": pinned_input_uri(settings, token),
        }
    try:
        if located.deleted:
            raise Rejected(
                "deleted before training started: the object's latest version is a delete marker",
                advice="Upload it again if it should be trained.",
            )
        check_object(upload, settings.max_upload_bytes)
        head, whole_file = read_head(aws.s3, upload)
        check_columns(
            parse_header(head, whole_file), settings.target_column, settings.allowed_columns, settings.ignored_columns
        )
        check_data_rows(head, whole_file)
    except Rejected as rejection:
        return reject(aws, settings, upload, tags, rejection, fields)
    return start(aws, settings, upload, tags, token, fields)


def reject(
    aws: Clients,
    settings: Settings,
    upload: Upload,
    tags: Mapping[str, str],
    rejection: Rejected,
    fields: dict[str, Any],
) -> dict[str, Any]:
    reason = rejection.reason
    tag_value = sanitize_tag_value(reason)
    if tags.get(REJECTED_TAG) == tag_value:
        # The tag is written after the notification: this version was already reported.
        logger.info("rejected upload delivered again; already reported", extra={**fields, "outcome": "duplicate"})
        return {"status": "rejected", "reason": reason}
    merged = merge_tag(tags, REJECTED_TAG, tag_value)
    details = upload_details(settings, upload, "rejected", reason)
    aws.sns.publish(
        TopicArn=settings.topic_arn,
        Subject=notification_subject(settings.environment_name, upload.key),
        Message=notification_body(upload, reason, merged is not None, details, rejection.advice),
    )
    if merged is None:
        logger.warning(f"cannot tag {REJECTED_TAG}: the object has {MAX_TAGS} tags", extra=fields)
    else:
        write_tags(aws.s3, upload, merged)
    logger.info(f"upload rejected: {reason} ({upload.where})", extra={**fields, "outcome": "rejected"})
    return {"status": "rejected", "reason": reason}


def report_gone(aws: Clients, settings: Settings, upload: Upload, fields: dict[str, Any]) -> dict[str, Any]:
    """The event's object version no longer exists: nothing to train, nothing to tag; the team is told."""
    reason = "the object version no longer exists (deleted before the upload could be checked)"
    details = upload_details(settings, upload, "gone", reason)
    aws.sns.publish(
        TopicArn=settings.topic_arn,
        Subject=notification_subject(settings.environment_name, upload.key, "Upload not trained"),
        Message=(
            f"The upload {upload.where} was not trained: {reason}. Nothing was started.\n"
            f"Upload the file again to train on it.\n\n{json.dumps(details, indent=2, ensure_ascii=False)}\n"
        ),
    )
    logger.info(f"upload not trained: {reason} ({upload.where})", extra={**fields, "outcome": "gone"})
    return {"status": "gone", "reason": reason}
