"""The upload trigger's world for its tests (tests/infra/test_training_trigger_*.py): moto's S3, SNS, SQS and
SageMaker set up as the construct configures the function (botocore's Stubber where moto falls short, in the
tests), and the uploads, reads and expected requests those tests share."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from constructs.training_trigger_lambda.training_trigger import aws_clients
from tests.infra.support.sample_events import object_created

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
TAG_VALUE = re.compile(r"[\w +\-=.:/@]{1,256}")


@dataclass
class Aws:
    s3: Any
    sagemaker: Any
    sqs: Any
    queue_url: str


@pytest.fixture(name="aws")
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """The fixture `aws`: the account as the trigger's construct leaves it, its function's environment set."""
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
