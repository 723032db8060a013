"""The upload-trigger Lambda against moto's S3, SNS, SQS and SageMaker (botocore's Stubber where moto falls short)."""

from __future__ import annotations

import gzip
import io
import json
import logging
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from constructs.training_trigger_lambda.training_trigger import (
    aws_clients,
    config,
    notices,
    on_upload,
    uploads,
    validation,
)
from constructs.training_trigger_lambda.training_trigger import tags as trigger_tags
from tests.infra.support.sample_events import object_created
from twin.lambda_host import LambdaJsonFormatter

REGION = "eu-west-1"
DATA_BUCKET = "mlops-test-data"
PINNED_BUCKET = "mlops-test-artifacts"
PINNED_PREFIX = "pipeline-inputs/"
PIPELINE = "mlops-test-training"
MODEL_PACKAGE_GROUP = "mlops-test"
ENDPOINT = "mlops-test"
NO_CHAMPION = [{"Name": "ChampionModelUri", "Value": ""}, {"Name": "ChampionModelPackageArn", "Value": ""}]
TARGET = "income-per-year"
MAX_UPLOAD_BYTES = 100_000
# A data value that must never reach a tag, a notification or a log line.
ROW = b"39,SECRET-ROW-VALUE,>50K\n"
GOOD_CSV = b"age,workclass,income-per-year\n" + ROW
OWNER_TAG = {"Key": "owner", "Value": "feature-export"}
TAG_VALUE = re.compile(r"[\w +\-=.:/@]{1,256}")


@dataclass
class Aws:
    s3: Any
    sagemaker: Any
    sqs: Any
    queue_url: str


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in (DATA_BUCKET, PINNED_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=DATA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        sagemaker = boto3.client("sagemaker")
        sagemaker.create_pipeline(
            PipelineName=PIPELINE,
            PipelineDefinition=json.dumps(
                {"Version": "2020-12-01", "Parameters": [{"Name": "InputDataUri", "Type": "String"}], "Steps": []}
            ),
            RoleArn="arn:aws:iam::123456789012:role/mlops-test-pipeline",
        )
        sagemaker.create_model_package_group(ModelPackageGroupName=MODEL_PACKAGE_GROUP)
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic_arn = sns.create_topic(Name="mlops-test-notifications")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="notifications-reader")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)  # raw delivery off: the SNS envelope
        for name, value in {
            "PIPELINE_NAME": PIPELINE,
            "TOPIC_ARN": topic_arn,
            "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
            "TARGET_COLUMN": TARGET,
            "ALLOWED_COLUMNS": json.dumps(["age", "workclass", TARGET]),
            "PINNED_INPUT_BUCKET": PINNED_BUCKET,
            "PINNED_INPUT_PREFIX": PINNED_PREFIX,
            "ENVIRONMENT_NAME": "test",
            "ENDPOINT_NAME": ENDPOINT,
        }.items():
            monkeypatch.setenv(name, value)
        aws_clients.clients.cache_clear()  # the handler's clients are created inside this mock
        yield Aws(s3=s3, sagemaker=sagemaker, sqs=sqs, queue_url=queue_url)
        aws_clients.clients.cache_clear()


def upload(aws: Aws, key: str, body: bytes, tags: str = "owner=feature-export") -> dict[str, Any]:
    """PUT the object and return the EventBridge event S3 sends for it."""
    response = aws.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body, Tagging=tags)
    return object_created_event(key, len(body), response["ETag"].strip('"'), response["VersionId"])


STUBBED_EXECUTION_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/{PIPELINE}/execution/abcdef123456"


def start_request(token: str, event: dict[str, Any]) -> dict[str, Any]:
    """The StartPipelineExecution request the trigger must send for this upload's pinned copy (no champion)."""
    obj = event["detail"]["object"]
    return {
        "PipelineName": PIPELINE,
        "ClientRequestToken": token,
        "PipelineParameters": [
            {"Name": "InputDataUri", "Value": f"s3://{PINNED_BUCKET}/{PINNED_PREFIX}{token}/"},
            {"Name": "InputDataVersion", "Value": obj["version-id"]},
            *NO_CHAMPION,
        ],
        "PipelineExecutionDisplayName": f"upload-{token[:24]}",
        "PipelineExecutionDescription": f"s3://{DATA_BUCKET}/{obj['key']} version {obj['version-id']}",
    }


def expect_no_champion(stubber: Stubber) -> None:
    """The stubbed client first answers the serving-model lookup: no endpoint yet."""
    stubber.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message=f'Could not find endpoint "{ENDPOINT}".',
        expected_params={"EndpointName": ENDPOINT},
    )


def object_created_event(key: str, size: int, etag: str, version_id: str) -> dict[str, Any]:
    return object_created(bucket=DATA_BUCKET, key=key, size=size, etag=etag, version_id=version_id, region=REGION)


def version_id(event: dict[str, Any]) -> str:
    return event["detail"]["object"]["version-id"]


def tags_of(aws: Aws, key: str, version: str) -> dict[str, str]:
    tag_set = aws.s3.get_object_tagging(Bucket=DATA_BUCKET, Key=key, VersionId=version)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tag_set}


def notifications(aws: Aws) -> list[dict[str, Any]]:
    """Every message published to the topic so far, read from its SQS subscriber."""
    messages = []
    while batch := aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            messages.append(json.loads(message["Body"]))
            aws.sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def executions(aws: Aws) -> list[dict[str, Any]]:
    return aws.sagemaker.list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"]


def pinned_keys(aws: Aws) -> list[str]:
    return [item["Key"] for item in aws.s3.list_objects_v2(Bucket=PINNED_BUCKET).get("Contents", [])]


def pinned_body(aws: Aws, input_data_uri: str, file_name: str) -> bytes:
    prefix = input_data_uri.removeprefix(f"s3://{PINNED_BUCKET}/")
    return aws.s3.get_object(Bucket=PINNED_BUCKET, Key=prefix + file_name)["Body"].read()


def token_of(input_data_uri: str) -> str:
    match = re.fullmatch(rf"s3://{PINNED_BUCKET}/{PINNED_PREFIX}([0-9a-f]{{64}})/", input_data_uri)
    assert match, input_data_uri
    return match.group(1)


def form_encoded(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its key URL-encoded as S3's event notifications do ("red flower.jpg" arrives as
    "red+flower.jpg"; Amazon S3 User Guide, "Event message structure"; "/" stays as is). AWS Lambda
    Powertools decodes `detail.object.key` of S3's EventBridge events the same way
    (S3EventBridgeNotificationObject.key: unquote_plus), while the S3 User Guide's "EventBridge event message
    structure" shows only plain keys: the trigger must handle both forms."""
    encoded = json.loads(json.dumps(event))
    encoded["detail"]["object"]["key"] = quote_plus(event["detail"]["object"]["key"], safe="/")
    return encoded


def test_good_upload_starts_the_pipeline_on_a_pinned_copy_of_that_version(aws: Aws) -> None:
    key = "incoming/2024-06 adult+sample.csv"
    event = upload(aws, key, GOOD_CSV)

    result = on_upload.handler(event, None)

    assert result["status"] == "started"
    token = token_of(result["input_data_uri"])
    assert pinned_keys(aws) == [f"{PINNED_PREFIX}{token}/2024-06 adult+sample.csv"]
    assert pinned_body(aws, result["input_data_uri"], "2024-06 adult+sample.csv") == GOOD_CSV
    pinned_tags = aws.s3.get_object_tagging(Bucket=PINNED_BUCKET, Key=pinned_keys(aws)[0])["TagSet"]
    assert pinned_tags == []
    [execution] = executions(aws)
    assert execution["PipelineExecutionArn"] == result["pipeline_execution_arn"]
    assert execution["PipelineExecutionDescription"] == f"s3://{DATA_BUCKET}/{key} version {version_id(event)}"
    assert execution["PipelineExecutionDisplayName"] == f"upload-{token[:24]}"
    parameters = aws.sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=result["pipeline_execution_arn"]
    )["PipelineParameters"]
    assert parameters == [
        {"Name": "InputDataUri", "Value": result["input_data_uri"]},
        {"Name": "InputDataVersion", "Value": version_id(event)},
        *NO_CHAMPION,  # the environment's first model: gated on the threshold alone
    ]
    # The source version is marked as started, its own tags kept; nothing is notified on success.
    assert tags_of(aws, key, version_id(event)) == {
        "owner": "feature-export",
        "mlops:pipeline-execution": result["pipeline_execution_arn"],
    }
    assert notifications(aws) == []


KEYS = {
    "space and plus": "incoming/2024-06 adult+sample.csv",
    "equals signs": "incoming/export=2024/day=01/features.csv",
    "non-ASCII": "incoming/données été/Ångström 日本.csv",
    "percent and ampersand": "incoming/100% c++ & more.csv",
}


@pytest.mark.parametrize("encoded", [False, True], ids=["key as is", "key URL-encoded"])
@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
def test_a_key_with_special_characters_is_found_either_way_it_arrives(aws: Aws, key: str, encoded: bool) -> None:
    event = upload(aws, key, GOOD_CSV)
    delivered = form_encoded(event) if encoded else event

    result = on_upload.handler(delivered, None)

    assert result["status"] == "started"
    assert pinned_body(aws, result["input_data_uri"], key.rsplit("/", 1)[-1]) == GOOD_CSV
    assert tags_of(aws, key, version_id(event))["mlops:pipeline-execution"] == result["pipeline_execution_arn"]
    [execution] = executions(aws)
    assert execution["PipelineExecutionDescription"] == f"s3://{DATA_BUCKET}/{key} version {version_id(event)}"


def test_the_same_upload_delivered_encoded_and_as_is_starts_one_execution(aws: Aws) -> None:
    event = upload(aws, "incoming/a b+c.csv", GOOD_CSV)

    first = on_upload.handler(form_encoded(event), None)
    second = on_upload.handler(event, None)

    assert first == second
    assert len(executions(aws)) == 1
    assert len(pinned_keys(aws)) == 1


def test_a_plus_names_whichever_object_holds_the_events_version(aws: Aws) -> None:
    # "incoming/a+b.csv" in an event is "a b.csv" URL-encoded or a literal "a+b.csv": the version decides.
    spaced = upload(aws, "incoming/a b.csv", GOOD_CSV)
    plussed = upload(aws, "incoming/a+b.csv", GOOD_CSV + b"50,Private,<=50K\n")

    for event, key in ((form_encoded(spaced), "incoming/a b.csv"), (plussed, "incoming/a+b.csv")):
        assert event["detail"]["object"]["key"] == "incoming/a+b.csv"
        result = on_upload.handler(event, None)
        assert result["status"] == "started"
        stored = aws.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
        assert pinned_body(aws, result["input_data_uri"], key.rsplit("/", 1)[-1]) == stored
    assert len(executions(aws)) == 2


def test_a_compressed_upload_starts_the_pipeline_on_a_pinned_gzip_copy(aws: Aws) -> None:
    body = gzip.compress(GOOD_CSV, mtime=0)
    event = upload(aws, "incoming/adult.csv.gz", body)

    result = on_upload.handler(event, None)

    assert result["status"] == "started"
    # Preprocess reads *.csv.gz under InputDataUri as gzip (ml_code/input_files.py, CSV_SUFFIXES).
    assert pinned_body(aws, result["input_data_uri"], "adult.csv.gz") == body


def test_a_compressed_upload_larger_than_the_header_range_is_checked_on_its_first_bytes(aws: Aws) -> None:
    rows = random.Random(0)
    body = GOOD_CSV + b"".join(
        f"{rows.randrange(100)},{rows.getrandbits(64):x},{rows.choice(['<=50K', '>50K'])}\n".encode()
        for _ in range(6_000)
    )
    compressed = gzip.compress(body, mtime=0)
    assert validation.HEADER_RANGE_BYTES < len(compressed) < MAX_UPLOAD_BYTES < len(body)

    assert on_upload.handler(upload(aws, "incoming/large.csv.gz", compressed), None)["status"] == "started"


def test_an_upper_case_suffix_is_pinned_with_the_suffix_preprocess_reads(aws: Aws) -> None:
    result = on_upload.handler(upload(aws, "incoming/Export.CSV", GOOD_CSV), None)

    assert result["status"] == "started"
    assert pinned_body(aws, result["input_data_uri"], "Export.csv") == GOOD_CSV


def test_the_consoles_folder_marker_is_ignored_silently(aws: Aws) -> None:
    event = upload(aws, "incoming/", b"")

    assert on_upload.handler(event, None) == {"status": "ignored", "reason": "folder marker"}

    assert tags_of(aws, "incoming/", version_id(event)) == {"owner": "feature-export"}
    assert notifications(aws) == []
    assert executions(aws) == []


def test_an_upload_deleted_before_the_event_is_handled_is_not_trained_and_notified_once(aws: Aws) -> None:
    key = "incoming/adult.csv"
    event = upload(aws, key, GOOD_CSV)
    aws.s3.delete_object(Bucket=DATA_BUCKET, Key=key)  # versioned: the latest version is now a delete marker

    first, second = on_upload.handler(event, None), on_upload.handler(event, None)

    reason = "deleted before training started: the object's latest version is a delete marker"
    assert first == second == {"status": "rejected", "reason": reason}
    [notification] = notifications(aws)
    assert reason in notification["Message"]
    assert "Upload it again if it should be trained." in notification["Message"]
    assert executions(aws) == []
    assert pinned_keys(aws) == []
    # The deleted version itself is kept (and marked), as every rejected upload is.
    assert aws.s3.get_object(Bucket=DATA_BUCKET, Key=key, VersionId=version_id(event))["Body"].read() == GOOD_CSV
    assert "mlops:rejected" in tags_of(aws, key, version_id(event))


def test_an_upload_whose_version_is_gone_is_not_trained_and_notified(aws: Aws) -> None:
    key = "incoming/adult.csv"
    event = upload(aws, key, GOOD_CSV)
    aws.s3.delete_object(Bucket=DATA_BUCKET, Key=key, VersionId=version_id(event))  # permanently

    result = on_upload.handler(form_encoded(event), None)

    assert result == {
        "status": "gone",
        "reason": "the object version no longer exists (deleted before the upload could be checked)",
    }
    [notification] = notifications(aws)
    assert notification["Subject"] == f"[test] Upload not trained: {key}"
    assert result["reason"] in notification["Message"]
    assert executions(aws) == []
    assert pinned_keys(aws) == []


def test_a_failing_version_listing_raises_for_a_retry_and_reports_nothing(aws: Aws) -> None:
    event = upload(aws, "incoming/adult.csv", GOOD_CSV)
    with Stubber(aws_clients.clients().s3) as stubber:
        stubber.add_client_error("list_object_versions", "SlowDown", "Please reduce your request rate.", 503)
        with pytest.raises(ClientError, match="SlowDown"):
            on_upload.handler(event, None)
        stubber.assert_no_pending_responses()

    assert notifications(aws) == []
    assert executions(aws) == []
    # The redelivery (Lambda's retry) then starts the run.
    assert on_upload.handler(event, None)["status"] == "started"


def test_reordered_events_each_train_their_own_version(aws: Aws) -> None:
    # EventBridge does not promise order: the newer version's event may come first.
    key = "incoming/adult.csv"
    second_csv = GOOD_CSV + b"50,Private,<=50K\n"
    first_event = upload(aws, key, GOOD_CSV)
    second_event = upload(aws, key, second_csv)

    second = on_upload.handler(second_event, None)
    first = on_upload.handler(first_event, None)
    again = on_upload.handler(second_event, None)

    assert first["status"] == second["status"] == "started"
    assert again == second
    assert pinned_body(aws, first["input_data_uri"], "adult.csv") == GOOD_CSV
    assert pinned_body(aws, second["input_data_uri"], "adult.csv") == second_csv
    assert len(executions(aws)) == 2


HEADER = b"age,workclass,income-per-year"
BAD_UPLOADS = {
    "wrong suffix": ("incoming/adult.txt", GOOD_CSV, "wrong suffix: only .csv and .csv.gz files are accepted"),
    "empty": ("incoming/empty.csv", b"", "empty file: 0 bytes"),
    "too large": (
        "incoming/big.csv",
        GOOD_CSV + ROW * (MAX_UPLOAD_BYTES // len(ROW)),
        f"too large: {len(GOOD_CSV) + len(ROW) * (MAX_UPLOAD_BYTES // len(ROW))} bytes, the maximum is 100000 bytes",
    ),
    "missing target column": (
        "incoming/no-target.csv",
        b"age,workclass,income\n" + ROW,
        f"missing target column '{TARGET}';"
        " unknown columns 'income' (not in the data contract's features or ignored_columns)",
    ),
    "missing feature column": (
        "incoming/no-workclass.csv",
        b"age,income-per-year\n" + ROW,
        "missing columns 'workclass' (required by the data contract)",
    ),
    "unknown columns": (
        "incoming/extra.csv",
        b"age,workclass,income-per-year,ssn,email,phone,zip\n" + ROW,
        "unknown columns 'ssn', 'email', 'phone' and 1 more (not in the data contract's features or ignored_columns)",
    ),
    "duplicate column": (
        "incoming/dup.csv",
        b"age,age,workclass,income-per-year\n" + ROW,
        "duplicate column names 'age'",
    ),
    "empty column name": (
        "incoming/blank.csv",
        b"age,,workclass,income-per-year\n" + ROW,
        "empty column name at position 2",
    ),
    "not UTF-8": (
        "incoming/latin1.csv",
        b"age,workclass,income-per-year,ann\xe9e\n" + ROW,
        "unreadable header: not UTF-8 (invalid byte at offset 33)",
    ),
    "no line break in range": (
        "incoming/one-line.csv",
        b"age," + b"x" * validation.HEADER_RANGE_BYTES + b"\n" + ROW,
        "unreadable header: no line break in the first 64 KiB",
    ),
    "header only": ("incoming/header-only.csv", HEADER + b"\n", "no data rows: the file has a header and nothing else"),
    "header and blank lines": (
        "incoming/blank-lines.csv",
        HEADER + b"\r\n\r\n\n",
        "no data rows: the file has a header and nothing else",
    ),
    "header without a line break": (
        "incoming/header-no-newline.csv",
        HEADER,
        "no data rows: the file has a header and nothing else",
    ),
    "CR-only line endings": (
        "incoming/classic-mac.csv",
        HEADER + b"\r39,SECRET-ROW-VALUE,>50K\r",
        "CR-only line endings (classic Mac style): save the file with LF or CRLF line endings",
    ),
    "bare CR in the header": (
        "incoming/bare-cr.csv",
        b"age,work\rclass,income-per-year\n" + ROW,
        "a bare carriage return (CR) in the header line at byte 8:"
        " remove it, or save the file with LF or CRLF line endings",
    ),
    "semicolon-separated": (
        "incoming/semicolons.csv",
        b"age;workclass;income-per-year\n39;SECRET-ROW-VALUE;>50K\n",
        "semicolon (;)-separated: the header has 3 fields separated by semicolon (;) and no comma;"
        " export the file comma-separated",
    ),
    "tab-separated": (
        "incoming/tabs.csv",
        b"age\tworkclass\tincome-per-year\n39\tSECRET-ROW-VALUE\t>50K\n",
        "tab-separated: the header has 3 fields separated by tab and no comma; export the file comma-separated",
    ),
    "csv.gz not compressed": (
        "incoming/plain.csv.gz",
        GOOD_CSV,
        "not gzip-compressed: a .csv.gz file must start with the gzip header (bytes 1f 8b)",
    ),
    "csv.gz cut short": (
        "incoming/cut.csv.gz",
        gzip.compress(GOOD_CSV, mtime=0)[:-8],
        "corrupt gzip data: the compressed stream ends early (was the upload cut short?)",
    ),
    "csv.gz corrupt": (
        "incoming/corrupt.csv.gz",
        gzip.compress(GOOD_CSV, mtime=0)[:10] + b"\xff" * 20,
        "corrupt gzip data (Error -3 while decompressing data: invalid block type)",
    ),
    "csv.gz header only": (
        "incoming/header-only.csv.gz",
        gzip.compress(HEADER + b"\n", mtime=0),
        "no data rows: the file has a header and nothing else",
    ),
    "csv.gz missing feature column": (
        "incoming/no-workclass.csv.gz",
        gzip.compress(b"age,income-per-year\n" + ROW, mtime=0),
        "missing columns 'workclass' (required by the data contract)",
    ),
    "header row missing": (
        "incoming/headerless.csv",
        ROW + ROW,
        f"missing target column '{TARGET}': the first line has 3 fields and no known column name"
        " (is the header row missing?)",
    ),
}


@pytest.mark.parametrize(("key", "body", "reason"), BAD_UPLOADS.values(), ids=BAD_UPLOADS.keys())
def test_bad_upload_is_tagged_notified_kept_and_not_trained(aws: Aws, key: str, body: bytes, reason: str) -> None:
    event = upload(aws, key, body)
    version = version_id(event)

    result = on_upload.handler(event, None)

    assert result == {"status": "rejected", "reason": reason}
    tags = tags_of(aws, key, version)
    assert tags == {"owner": "feature-export", "mlops:rejected": trigger_tags.sanitize_tag_value(reason)}
    assert TAG_VALUE.fullmatch(tags["mlops:rejected"])
    [notification] = notifications(aws)
    assert notification["Subject"] == f"[test] Upload rejected: {key}"
    text, details = notification["Message"].split("\n\n", 1)
    assert f"s3://{DATA_BUCKET}/{key}, version {version}" in text
    assert reason in text
    assert json.loads(details) | {"environment": "test", "outcome": "rejected"} == {
        "environment": "test",
        "outcome": "rejected",
        "reason": reason,
        "s3_uri": f"s3://{DATA_BUCKET}/{key}",
        "bucket": DATA_BUCKET,
        "key": key,
        "version_id": version,
        "etag": event["detail"]["object"]["etag"],
        "size": len(body),
    }
    assert b"SECRET-ROW-VALUE" not in notification["Message"].encode() + tags["mlops:rejected"].encode()
    # Nothing deleted, nothing copied, nothing started.
    versions = aws.s3.list_object_versions(Bucket=DATA_BUCKET, Prefix=key)
    assert [v["VersionId"] for v in versions["Versions"]] == [version]
    assert "DeleteMarkers" not in versions
    assert aws.s3.get_object(Bucket=DATA_BUCKET, Key=key, VersionId=version)["Body"].read() == body
    assert pinned_keys(aws) == []
    assert executions(aws) == []


def test_rejection_tag_is_sanitised_to_s3_tag_rules() -> None:
    reason = "unknown columns 'a;b', 'ünïcode' (not in the data contract)\nnext" + "x" * 300
    value = trigger_tags.sanitize_tag_value(reason)
    assert value.startswith("unknown columns a b ünïcode not in the data contract next")
    assert len(value) == 256
    assert TAG_VALUE.fullmatch(value)


def test_duplicate_delivery_starts_one_execution(aws: Aws) -> None:
    event = upload(aws, "incoming/adult.csv", GOOD_CSV)

    results = [on_upload.handler(event, None) for _ in range(3)]

    assert results[1] == results[0] == results[2]
    assert [e["PipelineExecutionArn"] for e in executions(aws)] == [results[0]["pipeline_execution_arn"]]
    assert len(pinned_keys(aws)) == 1


def test_duplicate_delivery_of_a_rejected_upload_notifies_once(aws: Aws) -> None:
    event = upload(aws, "incoming/extra.csv", b"age,workclass,income-per-year,ssn\n" + ROW)

    first, second = on_upload.handler(event, None), on_upload.handler(event, None)

    reason = "unknown columns 'ssn' (not in the data contract's features or ignored_columns)"
    assert first == second == {"status": "rejected", "reason": reason}
    assert len(notifications(aws)) == 1


def test_a_second_version_of_the_same_key_is_a_second_execution_on_its_own_bytes(aws: Aws) -> None:
    key = "incoming/adult.csv"
    second_csv = GOOD_CSV + b"50,Private,<=50K\n"
    first_event = upload(aws, key, GOOD_CSV)
    second_event = upload(aws, key, second_csv)  # overwritten before the first event is handled

    first = on_upload.handler(first_event, None)
    second = on_upload.handler(second_event, None)

    assert first["status"] == second["status"] == "started"
    assert first["pipeline_execution_arn"] != second["pipeline_execution_arn"]
    assert token_of(first["input_data_uri"]) != token_of(second["input_data_uri"])
    assert len(executions(aws)) == 2
    # Each execution reads the bytes of its own version, whatever the key holds now.
    assert pinned_body(aws, first["input_data_uri"], "adult.csv") == GOOD_CSV
    assert pinned_body(aws, second["input_data_uri"], "adult.csv") == second_csv

    aws.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=b"age,workclass,income-per-year\n1,later,x\n")
    assert pinned_body(aws, first["input_data_uri"], "adult.csv") == GOOD_CSV
    assert pinned_body(aws, second["input_data_uri"], "adult.csv") == second_csv


def test_a_bad_version_is_judged_on_its_own_bytes_and_only_it_is_tagged(aws: Aws) -> None:
    key = "incoming/adult.csv"
    bad_event = upload(aws, key, b"age,workclass,income-per-year,ssn\n" + ROW)
    good_event = upload(aws, key, GOOD_CSV)

    assert on_upload.handler(bad_event, None)["status"] == "rejected"
    assert on_upload.handler(good_event, None)["status"] == "started"

    assert "mlops:rejected" in tags_of(aws, key, version_id(bad_event))
    assert "mlops:rejected" not in tags_of(aws, key, version_id(good_event))
    assert len(executions(aws)) == 1


def test_throttled_start_raises_and_the_retry_starts_with_the_same_token(aws: Aws) -> None:
    key = "incoming/adult.csv"
    event = upload(aws, key, GOOD_CSV)
    sagemaker = aws_clients.clients().sagemaker
    with Stubber(sagemaker) as stubber:
        expect_no_champion(stubber)
        stubber.add_client_error("start_pipeline_execution", "ThrottlingException", "Rate exceeded", 400)
        with pytest.raises(ClientError, match="ThrottlingException"):
            on_upload.handler(event, None)
        # The pinned copy exists now; the redelivery must still start the pipeline.
        assert len(pinned_keys(aws)) == 1
        assert "mlops:pipeline-execution" not in tags_of(aws, key, version_id(event))

        arn = STUBBED_EXECUTION_ARN
        token = token_of(f"s3://{PINNED_BUCKET}/{pinned_keys(aws)[0].rsplit('/', 1)[0]}/")
        expect_no_champion(stubber)
        stubber.add_response(
            "start_pipeline_execution", {"PipelineExecutionArn": arn}, expected_params=start_request(token, event)
        )
        result = on_upload.handler(event, None)
        stubber.assert_no_pending_responses()

    assert result["pipeline_execution_arn"] == arn
    assert tags_of(aws, key, version_id(event))["mlops:pipeline-execution"] == arn
    assert notifications(aws) == []


def test_without_room_for_the_marker_tag_redelivery_relies_on_the_request_token(aws: Aws) -> None:
    # moto starts a new execution for every call, repeated token or not; real SageMaker returns the first one.
    # The Stubber checks both calls carry the same token (and validates them against the service model).
    key = "incoming/adult.csv"
    full_tags = "&".join(f"t{i}=v{i}" for i in range(10))
    event = upload(aws, key, GOOD_CSV, tags=full_tags)
    arn = STUBBED_EXECUTION_ARN
    with Stubber(aws_clients.clients().sagemaker) as stubber:
        expect_no_champion(stubber)
        stubber.add_response("start_pipeline_execution", {"PipelineExecutionArn": arn})
        first = on_upload.handler(event, None)
        token = token_of(first["input_data_uri"])
        assert first["input_data_uri"] == f"s3://{PINNED_BUCKET}/{PINNED_PREFIX}{token}/"
        expect_no_champion(stubber)
        stubber.add_response(
            "start_pipeline_execution", {"PipelineExecutionArn": arn}, expected_params=start_request(token, event)
        )
        second = on_upload.handler(event, None)
        stubber.assert_no_pending_responses()

    assert (
        first
        == second
        == {"status": "started", "pipeline_execution_arn": arn, "input_data_uri": first["input_data_uri"]}
    )
    assert tags_of(aws, key, version_id(event)) == {f"t{i}": f"v{i}" for i in range(10)}


def register(aws: Aws, model_data_url: str) -> str:
    """A package in the group as the pipeline's Register step creates it: PendingManualApproval."""
    return aws.sagemaker.create_model_package(
        ModelPackageGroupName=MODEL_PACKAGE_GROUP,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5",
                            "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]  # fmt: skip


def decide(aws: Aws, package_arn: str, status: str) -> None:
    aws.sagemaker.update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus=status)


def started_parameters(aws: Aws, result: dict[str, Any]) -> dict[str, str]:
    parameters = aws.sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=result["pipeline_execution_arn"]
    )["PipelineParameters"]
    return {parameter["Name"]: parameter["Value"] for parameter in parameters}


def serve(aws: Aws, package_arn: str, version: int) -> None:
    """What the deploy workflow leaves behind: a model of the package, its config, the endpoint on it."""
    name = f"{ENDPOINT}-v{version}-abcd1234"
    aws.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/model",
        Containers=[{"ModelPackageName": package_arn}],
    )
    aws.sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    # moto has no UpdateEndpoint: a new endpoint on the config stands for the update.
    if any(e["EndpointName"] == ENDPOINT for e in aws.sagemaker.list_endpoints()["Endpoints"]):
        aws.sagemaker.delete_endpoint(EndpointName=ENDPOINT)
    aws.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=name)


def test_the_run_is_compared_with_the_model_the_endpoint_serves(aws: Aws) -> None:
    first = register(aws, "s3://artifacts/models/1/model.tar.gz")
    second = register(aws, "s3://artifacts/models/2/model.tar.gz")
    register(aws, "s3://artifacts/models/3/model.tar.gz")  # newest, still waiting for approval
    decide(aws, first, "Approved")
    decide(aws, second, "Approved")
    serve(aws, second, 2)

    parameters = started_parameters(aws, on_upload.handler(upload(aws, "incoming/a.csv", GOOD_CSV), None))

    assert parameters["ChampionModelUri"] == "s3://artifacts/models/2/model.tar.gz"
    assert parameters["ChampionModelPackageArn"] == second


def test_an_older_version_serving_again_is_the_champion_even_after_a_newer_one_was_edited(aws: Aws) -> None:
    # Rolled back to v1 (approved again); then v2's metadata is edited, which moves its LastModifiedTime.
    first = register(aws, "s3://artifacts/models/1/model.tar.gz")
    second = register(aws, "s3://artifacts/models/2/model.tar.gz")
    decide(aws, first, "Approved")
    decide(aws, second, "Approved")
    serve(aws, first, 1)
    decide(aws, second, "Approved")

    parameters = started_parameters(aws, on_upload.handler(upload(aws, "incoming/a.csv", GOOD_CSV), None))

    assert parameters["ChampionModelPackageArn"] == first


def test_without_an_endpoint_there_is_no_champion(aws: Aws) -> None:
    decide(aws, register(aws, "s3://artifacts/models/1/model.tar.gz"), "Approved")

    parameters = started_parameters(aws, on_upload.handler(upload(aws, "incoming/a.csv", GOOD_CSV), None))

    assert {name: parameters[name] for name in ("ChampionModelUri", "ChampionModelPackageArn")} == {
        item["Name"]: item["Value"] for item in NO_CHAMPION
    }


def test_token_is_per_object_version_and_fits_sagemaker() -> None:
    base = uploads.Upload(bucket=DATA_BUCKET, key="incoming/a.csv", size=1, etag="e1", version_id="v1")
    token = uploads.derive_token(base)
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    model = botocore.session.get_session().get_service_model("sagemaker")
    limits = model.operation_model("StartPipelineExecution").input_shape.members["ClientRequestToken"].metadata
    assert limits["min"] <= len(token) <= limits["max"]
    assert uploads.derive_token(base) == token
    assert uploads.derive_token(uploads.Upload(DATA_BUCKET, "incoming/a.csv", 1, "e1", "v2")) != token
    assert uploads.derive_token(uploads.Upload(DATA_BUCKET, "incoming/b.csv", 1, "e1", "v1")) != token
    # Without a version id the etag tells uploads apart.
    unversioned = uploads.Upload(DATA_BUCKET, "incoming/a.csv", 1, "e1", None)
    assert uploads.derive_token(unversioned) != uploads.derive_token(
        uploads.Upload(DATA_BUCKET, "incoming/a.csv", 1, "e2", None)
    )


def test_header_parsing_strips_a_bom_and_accepts_crlf_and_a_cut_after_the_first_line() -> None:
    data = "\ufeffage, workclass ,income-per-year\r\n39,Sélect".encode()[:-1]  # the range cut a character in two
    assert validation.parse_header(data, whole_object=False) == ["age", "workclass", "income-per-year"]
    assert validation.parse_header(b"age,income-per-year", whole_object=True) == ["age", "income-per-year"]


def test_any_columns_are_allowed_when_allowed_columns_is_null(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_COLUMNS", "null")
    event = upload(aws, "incoming/wide.csv", b"age,anything,else,income-per-year\n" + ROW)

    assert on_upload.handler(event, None)["status"] == "started"


@pytest.mark.parametrize(
    "header", [b"id,age,workclass,email,income-per-year", b"age,workclass,income-per-year"], ids=["present", "absent"]
)
def test_the_contracts_ignored_columns_are_accepted_and_not_required(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, header: bytes
) -> None:
    monkeypatch.setenv("IGNORED_COLUMNS", json.dumps(["id", "email", "created_at"]))
    row = b"7,39,State-gov,a@example.com,<=50K\n" if header.startswith(b"id") else ROW
    event = upload(aws, "incoming/export.csv", header + b"\n" + row)

    assert on_upload.handler(event, None)["status"] == "started"


def test_a_column_neither_a_feature_nor_ignored_is_refused_with_where_to_list_it() -> None:
    with pytest.raises(validation.Rejected, match="'id' \\(not in the data contract's features or ignored_columns\\)"):
        validation.check_columns(["id", "age", TARGET], TARGET, frozenset(["age", TARGET]), frozenset(["email"]))


def test_a_malformed_ignored_columns_setting_is_a_configuration_error() -> None:
    environ = {
        name: "x"
        for name in (
            "PIPELINE_NAME",
            "TOPIC_ARN",
            "TARGET_COLUMN",
            "PINNED_INPUT_BUCKET",
            "PINNED_INPUT_PREFIX",
            "ENVIRONMENT_NAME",
            "ENDPOINT_NAME",
        )
    }
    environ |= {"MAX_UPLOAD_BYTES": "1", "ALLOWED_COLUMNS": "null", "IGNORED_COLUMNS": '"id"'}
    with pytest.raises(RuntimeError, match="IGNORED_COLUMNS must be a JSON list"):
        config.load_config(environ)


def test_logs_are_one_json_object_per_line_without_row_contents(aws: Aws) -> None:
    # As Lambda writes the function's records with its JSON log format, from its ApplicationLogLevel (INFO).
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(LambdaJsonFormatter())
    capture.addFilter(lambda record: "training_trigger" in record.name)
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    try:
        started = on_upload.handler(upload(aws, "incoming/adult.csv", GOOD_CSV), None)
        on_upload.handler(upload(aws, "incoming/extra.csv", b"age,workclass,income-per-year,ssn\n" + ROW), None)
    finally:
        root.removeHandler(capture)
        root.setLevel(level)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["outcome"]) for line in lines] == [("INFO", "started"), ("INFO", "rejected")]
    assert lines[0]["pipeline_execution_arn"] == started["pipeline_execution_arn"]
    assert lines[0]["token"] == token_of(started["input_data_uri"])
    assert {"bucket", "key", "version_id", "token", "event_id", "timestamp", "message"} <= lines[1].keys()
    assert "SECRET-ROW-VALUE" not in stream.getvalue()


def test_a_long_key_keeps_its_file_name_in_a_subject_sns_takes() -> None:
    subject = notices.notification_subject("prod", "incoming/" + "deep/" * 40 + "export-2026-12-05.csv")
    assert len(subject) < 100  # "less than 100 characters long" (Amazon SNS API reference, Publish)
    assert subject.startswith("[prod] Upload rejected: ...")
    assert subject.endswith("/export-2026-12-05.csv")


def test_a_failure_is_logged_with_its_error_and_raised(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(LambdaJsonFormatter())
    logger = logging.getLogger(on_upload.__name__)
    logger.addHandler(capture)
    monkeypatch.delenv("PIPELINE_NAME")
    try:
        with pytest.raises(RuntimeError, match="PIPELINE_NAME"):
            on_upload.handler(upload(aws, "incoming/adult.csv", GOOD_CSV), None)
    finally:
        logger.removeHandler(capture)

    (line,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert (line["level"], line["outcome"], line["errorType"]) == ("ERROR", "error", "RuntimeError")
    assert "PIPELINE_NAME" in line["errorMessage"]


def test_a_malformed_event_or_missing_setting_raises(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="not an S3 Object Created event"):
        on_upload.handler({"detail": {"bucket": {"name": DATA_BUCKET}}}, None)
    monkeypatch.delenv("TOPIC_ARN")
    with pytest.raises(RuntimeError, match="TOPIC_ARN"):
        on_upload.handler(upload(aws, "incoming/adult.csv", GOOD_CSV), None)
    assert executions(aws) == []
