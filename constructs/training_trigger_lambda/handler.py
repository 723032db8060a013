"""Upload trigger: validates a CSV dropped under `incoming/`, pins that object version and starts the pipeline.

Invoked by an EventBridge rule on S3 "Object Created" events of the data bucket. Bad input is answered
here (tagged, notified, never retried), and so is an upload deleted before it could be handled; the
console's folder marker is ignored. AWS errors raise so Lambda retries and the dead-letter queue keeps
what keeps failing. Runs on Lambda's Python runtime (constructs/python_lambda.py) with only the standard
library and boto3.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import os
import sys
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

import boto3
from botocore.exceptions import ClientError

REJECTED_TAG = "mlops:rejected"
# Marks a source version whose execution started, so a redelivery after SageMaker has forgotten the
# ClientRequestToken still cannot start a second execution.
EXECUTION_TAG = "mlops:pipeline-execution"
MAX_TAGS = 10
MAX_TAG_VALUE_CHARS = 256
TAG_VALUE_PUNCTUATION = frozenset(" +-=._:/@")
HEADER_RANGE_BYTES = 64 * 1024
# Preprocess reads plain and gzip-compressed CSV (ml_code/input_files.py, CSV_SUFFIXES).
CSV_SUFFIX = ".csv"
GZIP_SUFFIX = ".csv.gz"
GZIP_MAGIC = b"\x1f\x8b"  # RFC 1952: every gzip member starts with these two bytes
# A delimiter other than the comma that an export may have used, as a notice names it.
OTHER_DELIMITERS = {";": "semicolon (;)", "\t": "tab"}
MAX_SUBJECT_CHARS = 100
MAX_NAMES_IN_MESSAGE = 3
MAX_NAME_CHARS = 40
FIX_AND_UPLOAD_AGAIN = "Fix the file and upload it again."
# The serving model is looked for among this many most recently created Approved packages.


class Rejected(Exception):
    """The upload is bad input (or deleted): reported and tagged, never retried."""

    def __init__(self, reason: str, advice: str = FIX_AND_UPLOAD_AGAIN) -> None:
        super().__init__(reason)
        self.reason = reason
        self.advice = advice


@dataclass(frozen=True)
class Config:
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


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def version_args(self) -> dict[str, str]:
        return {"VersionId": self.version_id} if self.version_id else {}

    @property
    def where(self) -> str:
        return f"{self.uri}, version {self.version_id}" if self.version_id else f"{self.uri}, etag {self.etag}"


class Clients(NamedTuple):
    s3: Any
    sagemaker: Any
    sns: Any


class JsonFormatter(logging.Formatter):
    """One JSON object per line: level, message and the record's structured `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _logger() -> logging.Logger:
    log = logging.getLogger("training_trigger")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        # Lambda's runtime puts its own plain-text handler on the root logger: keep each record single.
        log.propagate = False
    return log


log = _logger()


def load_config(environ: Mapping[str, str]) -> Config:
    """The function's settings; a misconfiguration raises (every event retried, then dead-lettered)."""
    missing = [
        name
        for name in (
            "PIPELINE_NAME",
            "TOPIC_ARN",
            "MAX_UPLOAD_BYTES",
            "TARGET_COLUMN",
            "ALLOWED_COLUMNS",
            "PINNED_INPUT_BUCKET",
            "PINNED_INPUT_PREFIX",
            "ENVIRONMENT_NAME",
            "ENDPOINT_NAME",
        )
        if name not in environ
    ]
    if missing:
        raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
    allowed = json.loads(environ["ALLOWED_COLUMNS"])
    if allowed is not None and not (isinstance(allowed, list) and all(isinstance(name, str) for name in allowed)):
        raise RuntimeError("ALLOWED_COLUMNS must be a JSON list of column names or null")
    target = environ["TARGET_COLUMN"]
    if allowed is not None and target not in allowed:
        raise RuntimeError(f"ALLOWED_COLUMNS does not include the target column '{target}'")
    # Optional: a function configured before ignored columns existed has none.
    ignored = json.loads(environ.get("IGNORED_COLUMNS", "[]"))
    if not (isinstance(ignored, list) and all(isinstance(name, str) for name in ignored)):
        raise RuntimeError("IGNORED_COLUMNS must be a JSON list of column names")
    prefix = environ["PINNED_INPUT_PREFIX"].strip("/")
    return Config(
        pipeline_name=environ["PIPELINE_NAME"],
        topic_arn=environ["TOPIC_ARN"],
        max_upload_bytes=int(environ["MAX_UPLOAD_BYTES"]),
        target_column=target,
        allowed_columns=None if allowed is None else frozenset(allowed),
        pinned_input_bucket=environ["PINNED_INPUT_BUCKET"],
        pinned_input_prefix=f"{prefix}/" if prefix else "",
        environment_name=environ["ENVIRONMENT_NAME"],
        endpoint_name=environ["ENDPOINT_NAME"],
        ignored_columns=frozenset(ignored),
    )


def parse_event(event: Mapping[str, Any]) -> Upload:
    """The uploaded object version from an EventBridge "Object Created" event, its key as the event has it.

    Which key that is gets decided against S3 (`locate`): see `key_candidates`.
    """
    try:
        detail = event["detail"]
        obj = detail["object"]
        version_id = obj.get("version-id")
        return Upload(
            bucket=detail["bucket"]["name"],
            key=obj["key"],
            size=int(obj["size"]),
            etag=obj.get("etag", ""),
            # "null" names the one unversioned object, which an overwrite replaces: not an identity.
            version_id=version_id if version_id and version_id != "null" else None,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not an S3 Object Created event (missing or invalid {error})") from error


def key_candidates(event_key: str) -> list[str]:
    """The object keys an event's `detail.object.key` may stand for, the URL-decoded reading first.

    S3's own event notifications URL-encode the key, form style: "red flower.jpg" arrives as
    "red+flower.jpg" (Amazon S3 User Guide, "Event message structure"). The page on S3's EventBridge
    events ("EventBridge event message structure") shows only plain keys and says nothing about encoding,
    while AWS Lambda Powertools for Python decodes that field the same way
    (`S3EventBridgeNotificationObject.key` returns `unquote_plus(detail.object.key)`), and encoded keys
    have been seen to reach this function (issue 9: `NoSuchVersion`). A literal "+" in a key is ambiguous
    between the two readings, so both are tried and S3 decides: the reading under which the event's
    version exists is the object.
    """
    return list(dict.fromkeys([unquote_plus(event_key), event_key]))


def is_folder_marker(upload: Upload) -> bool:
    """The zero-byte object the S3 console's "Create folder" writes, e.g. `incoming/`."""
    return upload.size == 0 and upload.key.endswith("/")


class Located(NamedTuple):
    key: str
    deleted: bool  # the key's latest version is a delete marker


def _versions_of(s3: Any, bucket: str, key: str) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every version and delete marker of exactly `key`, with whether it is a delete marker."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        entries = [(entry, False) for entry in page.get("Versions", [])]
        entries += [(entry, True) for entry in page.get("DeleteMarkers", [])]
        yield from ((entry, marker) for entry, marker in entries if entry["Key"] == key)
        # Keys come in UTF-8 binary order: the exact key's entries precede every longer key it prefixes.
        if any(entry["Key"] != key for entry, _ in entries):
            return


def locate(s3: Any, upload: Upload) -> Located | None:
    """The key that holds the event's object version and whether it has been deleted since; None if gone."""
    for key in key_candidates(upload.key):
        found, deleted = False, False
        for entry, is_delete_marker in _versions_of(s3, upload.bucket, key):
            if upload.version_id is None:
                # Unversioned: one object per key, the latest; a delete marker means it is gone.
                found = found or (entry["IsLatest"] and not is_delete_marker)
            else:
                found = found or (not is_delete_marker and entry["VersionId"] == upload.version_id)
            deleted = deleted or (entry["IsLatest"] and is_delete_marker)
        if found:
            return Located(key=key, deleted=deleted)
    return None


def derive_token(upload: Upload) -> str:
    """SageMaker ClientRequestToken (32-128 chars) and pinned-input folder: 64 hex digits, one per object version."""
    identity = f"version:{upload.version_id}" if upload.version_id else f"etag:{upload.etag}"
    return hashlib.sha256(json.dumps([upload.bucket, upload.key, identity]).encode()).hexdigest()


def pinned_input_uri(config: Config, token: str) -> str:
    """The pipeline's InputDataUri: a folder of its own per object version."""
    return f"s3://{config.pinned_input_bucket}/{config.pinned_input_prefix}{token}/"


def is_gzip(key: str) -> bool:
    return key.lower().endswith(GZIP_SUFFIX)


def pinned_file_name(key: str) -> str:
    """The file name of the pinned copy: the upload's, its suffix in lower case (preprocess matches
    `.csv` and `.csv.gz` exactly)."""
    name = key.rsplit("/", 1)[-1]
    suffix = GZIP_SUFFIX if is_gzip(name) else CSV_SUFFIX
    return name[: -len(suffix)] + suffix


def check_object(upload: Upload, max_upload_bytes: int) -> None:
    """What the event alone tells: suffix and size (of the upload as stored, compressed or not)."""
    if not upload.key.lower().endswith((CSV_SUFFIX, GZIP_SUFFIX)):
        raise Rejected(f"wrong suffix: only {CSV_SUFFIX} and {GZIP_SUFFIX} files are accepted")
    if upload.size == 0:
        raise Rejected("empty file: 0 bytes")
    if upload.size > max_upload_bytes:
        raise Rejected(f"too large: {upload.size} bytes, the maximum is {max_upload_bytes} bytes")


def decompress_head(data: bytes, whole_object: bool) -> tuple[bytes, bool]:
    """The first (up to) 64 KiB of a gzip file's content, and whether that is all of it."""
    if not data.startswith(GZIP_MAGIC):
        raise Rejected(f"not gzip-compressed: a {GZIP_SUFFIX} file must start with the gzip header (bytes 1f 8b)")
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16 +: expect a gzip header and trailer
    try:
        content = decompressor.decompress(data, HEADER_RANGE_BYTES)
    except zlib.error as error:
        raise Rejected(f"corrupt gzip data ({error})") from None
    if whole_object and not decompressor.eof and not decompressor.unconsumed_tail:
        raise Rejected("corrupt gzip data: the compressed stream ends early (was the upload cut short?)")
    complete = whole_object and decompressor.eof and not decompressor.unused_data
    return content, complete


def parse_header(data: bytes, whole_object: bool) -> list[str]:
    """Column names (stripped, as preprocess reads them) from the first bytes of the file."""
    line_end = data.find(b"\n")
    carriage_return = data.find(b"\r", 0, line_end if line_end >= 0 else len(data))
    if carriage_return >= 0 and line_end < 0:
        raise Rejected("CR-only line endings (classic Mac style): save the file with LF or CRLF line endings")
    if 0 <= carriage_return < line_end - 1:
        raise Rejected(
            f"a bare carriage return (CR) in the header line at byte {carriage_return}:"
            " remove it, or save the file with LF or CRLF line endings"
        )
    if line_end < 0:
        if not whole_object:
            raise Rejected(f"unreadable header: no line break in the first {HEADER_RANGE_BYTES // 1024} KiB")
        line_end = len(data)
    line = data[:line_end].removesuffix(b"\r")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Rejected(f"unreadable header: not UTF-8 (invalid byte at offset {error.start})") from None
    names = [name.strip() for name in next(csv.reader([text]), [])]
    if not any(names):
        raise Rejected("unreadable header: the first line is empty")
    check_delimiter(names)
    return names


def check_delimiter(names: list[str]) -> None:
    """A header with no comma but another delimiter: the export used the wrong separator."""
    if len(names) != 1:
        return
    counts = {delimiter: names[0].count(delimiter) for delimiter in OTHER_DELIMITERS}
    delimiter = max(counts, key=lambda found: counts[found])
    if counts[delimiter]:
        raise Rejected(
            f"{OTHER_DELIMITERS[delimiter]}-separated: the header has {counts[delimiter] + 1} fields separated by"
            f" {OTHER_DELIMITERS[delimiter]} and no comma; export the file comma-separated"
        )


def check_data_rows(data: bytes, whole_object: bool) -> None:
    """At least one non-blank line after the header, when the whole file has been read."""
    line_end = data.find(b"\n")
    if whole_object and (line_end < 0 or not data[line_end + 1 :].strip()):
        raise Rejected("no data rows: the file has a header and nothing else")


def _quoted(names: list[str]) -> str:
    shown = [f"'{name[:MAX_NAME_CHARS]}'" for name in names[:MAX_NAMES_IN_MESSAGE]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def check_columns(
    names: list[str], target: str, allowed: frozenset[str] | None, ignored: frozenset[str] = frozenset()
) -> None:
    """The header against the contract (ignored columns may come or not); every problem in one reason."""
    if not ({target} | (allowed or set())).intersection(names):
        # Without a single known name the first line may be a data row: never echo its values.
        raise Rejected(
            f"missing target column '{target}': the first line has {len(names)} fields and no known column name"
            " (is the header row missing?)"
        )
    problems = []
    empty = [str(position) for position, name in enumerate(names, start=1) if not name]
    if empty:
        problems.append(f"empty column name at position {', '.join(empty)}")
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    if duplicates:
        problems.append(f"duplicate column names {_quoted(duplicates)}")
    if target not in names:
        problems.append(f"missing target column '{target}'")
    if allowed is not None:
        unknown = list(dict.fromkeys(name for name in names if name and name not in allowed | ignored))
        if unknown:
            problems.append(
                f"unknown columns {_quoted(unknown)} (not in the data contract's features or ignored_columns)"
            )
        # Preprocess needs every contract column: reject here, before a paid run fails on it.
        absent = [name for name in sorted(allowed) if name != target and name not in names]
        if absent:
            problems.append(f"missing columns {_quoted(absent)} (required by the data contract)")
    if problems:
        raise Rejected("; ".join(problems))


def sanitize_tag_value(text: str) -> str:
    """S3 tag rules: at most 256 letters, digits, spaces and `+ - = . _ : / @`."""
    kept = "".join(char if char.isalnum() or char in TAG_VALUE_PUNCTUATION else " " for char in text)
    return " ".join(kept.split())[:MAX_TAG_VALUE_CHARS].rstrip()


def merge_tag(tags: Mapping[str, str], key: str, value: str) -> dict[str, str] | None:
    """The object's tags plus (or with a new value for) one tag; None when that would break S3's limits."""
    if len(value) > MAX_TAG_VALUE_CHARS or (key not in tags and len(tags) >= MAX_TAGS):
        return None
    return {**tags, key: value}


def upload_details(config: Config, upload: Upload, outcome: str, reason: str) -> dict[str, Any]:
    """What a notice about an upload says of it, for people and for filters on the topic."""
    return {
        "environment": config.environment_name,
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
    room = MAX_SUBJECT_CHARS - len(prefix)
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


@functools.cache
def clients() -> Clients:
    """Created on first use (not at import) and reused by later invocations of a warm function."""
    return Clients(s3=boto3.client("s3"), sagemaker=boto3.client("sagemaker"), sns=boto3.client("sns"))


def _read_tags(s3: Any, upload: Upload) -> dict[str, str]:
    response = s3.get_object_tagging(Bucket=upload.bucket, Key=upload.key, **upload.version_args)
    return {tag["Key"]: tag["Value"] for tag in response["TagSet"]}


def _write_tags(s3: Any, upload: Upload, tags: Mapping[str, str]) -> None:
    s3.put_object_tagging(
        Bucket=upload.bucket,
        Key=upload.key,
        **upload.version_args,
        Tagging={"TagSet": [{"Key": key, "Value": value} for key, value in tags.items()]},
    )


def _read_head(s3: Any, upload: Upload) -> tuple[bytes, bool]:
    """The file's first bytes (decompressed for .csv.gz) and whether they are all of it."""
    response = s3.get_object(
        Bucket=upload.bucket, Key=upload.key, Range=f"bytes=0-{HEADER_RANGE_BYTES - 1}", **upload.version_args
    )
    data = response["Body"].read()
    whole_object = len(data) >= upload.size
    return decompress_head(data, whole_object) if is_gzip(upload.key) else (data, whole_object)


def _reject(
    aws: Clients, config: Config, upload: Upload, tags: Mapping[str, str], rejection: Rejected, fields: dict[str, Any]
) -> dict[str, Any]:
    reason = rejection.reason
    tag_value = sanitize_tag_value(reason)
    if tags.get(REJECTED_TAG) == tag_value:
        # The tag is written after the notification: this version was already reported.
        log.info(
            "rejected upload delivered again; already reported", extra={"fields": {**fields, "outcome": "duplicate"}}
        )
        return {"status": "rejected", "reason": reason}
    merged = merge_tag(tags, REJECTED_TAG, tag_value)
    details = upload_details(config, upload, "rejected", reason)
    aws.sns.publish(
        TopicArn=config.topic_arn,
        Subject=notification_subject(config.environment_name, upload.key),
        Message=notification_body(upload, reason, merged is not None, details, rejection.advice),
    )
    if merged is None:
        log.warning(f"cannot tag {REJECTED_TAG}: the object has {MAX_TAGS} tags", extra={"fields": fields})
    else:
        _write_tags(aws.s3, upload, merged)
    log.info(f"upload rejected: {reason} ({upload.where})", extra={"fields": {**fields, "outcome": "rejected"}})
    return {"status": "rejected", "reason": reason}


NO_CHAMPION = [{"Name": "ChampionModelUri", "Value": ""}, {"Name": "ChampionModelPackageArn", "Value": ""}]


def champion_parameters(sagemaker: Any, endpoint_name: str) -> list[dict[str, str]]:
    """ChampionModelUri and ChampionModelPackageArn of the model serving on the environment's endpoint; empty
    without one.

    The version that serves, read from the endpoint itself: its EndpointConfigName (the config serving, also
    while an update rolls another out, DescribeEndpoint), that config's model, and the model package the deploy
    workflow made the model from (`Containers=[{ModelPackageName}]`). Not "the Approved package approved last":
    editing an old package moves its LastModifiedTime, and a rollout may have rolled back.
    """
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationException":  # no endpoint (yet)
            return NO_CHAMPION
        raise
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
    package_arn = containers[0].get("ModelPackageName")
    if not package_arn:
        return NO_CHAMPION
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    model_data_url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    return [
        {"Name": "ChampionModelUri", "Value": model_data_url},
        {"Name": "ChampionModelPackageArn", "Value": package["ModelPackageArn"]},
    ]


def _start(
    aws: Clients, config: Config, upload: Upload, tags: Mapping[str, str], token: str, fields: dict[str, Any]
) -> dict[str, Any]:
    input_data_uri = pinned_input_uri(config, token)
    # Always copy, even when a copy exists: a crash between copy and start must still start on redelivery.
    # Copying the same version again writes the same bytes; the managed copy goes multipart above 5 GB.
    aws.s3.copy(
        CopySource={"Bucket": upload.bucket, "Key": upload.key, **upload.version_args},
        Bucket=config.pinned_input_bucket,
        Key=f"{config.pinned_input_prefix}{token}/{pinned_file_name(upload.key)}",
        # The uploader's tags stay on the source: copying them would also need s3:PutObjectTagging on the copy.
        ExtraArgs={"TaggingDirective": "REPLACE"},
    )
    response = aws.sagemaker.start_pipeline_execution(
        PipelineName=config.pipeline_name,
        ClientRequestToken=token,  # SageMaker answers a repeated token with the execution it started
        PipelineParameters=[
            {"Name": "InputDataUri", "Value": input_data_uri},
            {"Name": "InputDataVersion", "Value": upload.version_id or f"etag {upload.etag}"},
            *champion_parameters(aws.sagemaker, config.endpoint_name),
        ],
        PipelineExecutionDisplayName=f"upload-{token[:24]}",
        PipelineExecutionDescription=f"{upload.uri} version {upload.version_id}"
        if upload.version_id
        else f"{upload.uri} etag {upload.etag}",
    )
    execution_arn = response["PipelineExecutionArn"]
    fields = {**fields, "outcome": "started", "pipeline_execution_arn": execution_arn, "input_data_uri": input_data_uri}
    merged = merge_tag(tags, EXECUTION_TAG, execution_arn)
    if merged is None:
        log.warning(f"cannot tag {EXECUTION_TAG}: redeliveries rely on the request token", extra={"fields": fields})
    else:
        _write_tags(aws.s3, upload, merged)
    log.info("pipeline execution started", extra={"fields": fields})
    return {"status": "started", "pipeline_execution_arn": execution_arn, "input_data_uri": input_data_uri}


def _report_gone(aws: Clients, config: Config, upload: Upload, fields: dict[str, Any]) -> dict[str, Any]:
    """The event's object version no longer exists: nothing to train, nothing to tag; the team is told."""
    reason = "the object version no longer exists (deleted before the upload could be checked)"
    details = upload_details(config, upload, "gone", reason)
    aws.sns.publish(
        TopicArn=config.topic_arn,
        Subject=notification_subject(config.environment_name, upload.key, "Upload not trained"),
        Message=(
            f"The upload {upload.where} was not trained: {reason}. Nothing was started.\n"
            f"Upload the file again to train on it.\n\n{json.dumps(details, indent=2, ensure_ascii=False)}\n"
        ),
    )
    log.info(f"upload not trained: {reason} ({upload.where})", extra={"fields": {**fields, "outcome": "gone"}})
    return {"status": "gone", "reason": reason}


def process(event: Mapping[str, Any], config: Config, aws: Clients, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate, then reject or start. Fills `fields` (the log context) so the caller can log a failure."""
    upload = parse_event(event)
    fields.update(bucket=upload.bucket, key=upload.key, version_id=upload.version_id, etag=upload.etag)
    if is_folder_marker(upload):
        log.info("folder marker ignored", extra={"fields": {**fields, "outcome": "ignored"}})
        return {"status": "ignored", "reason": "folder marker"}
    located = locate(aws.s3, upload)
    if located is None:
        return _report_gone(aws, config, upload, fields)
    upload = replace(upload, key=located.key)
    token = derive_token(upload)
    fields.update(key=upload.key, token=token)
    tags = _read_tags(aws.s3, upload)
    if EXECUTION_TAG in tags:
        log.info(
            "upload delivered again; execution already started", extra={"fields": {**fields, "outcome": "duplicate"}}
        )
        return {
            "status": "started",
            "pipeline_execution_arn": tags[EXECUTION_TAG],
            "input_data_uri": pinned_input_uri(config, token),
        }
    try:
        if located.deleted:
            raise Rejected(
                "deleted before training started: the object's latest version is a delete marker",
                advice="Upload it again if it should be trained.",
            )
        check_object(upload, config.max_upload_bytes)
        head, whole_file = _read_head(aws.s3, upload)
        check_columns(
            parse_header(head, whole_file), config.target_column, config.allowed_columns, config.ignored_columns
        )
        check_data_rows(head, whole_file)
    except Rejected as rejection:
        return _reject(aws, config, upload, tags, rejection, fields)
    return _start(aws, config, upload, tags, token, fields)


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"event_id": event.get("id"), "aws_request_id": getattr(context, "aws_request_id", None)}
    try:
        return process(event, load_config(os.environ), clients(), fields)
    except Exception:
        # Only bad input is answered without raising; anything else is retried, then dead-lettered.
        log.exception("upload not processed; raising for a retry", extra={"fields": {**fields, "outcome": "error"}})
        raise
