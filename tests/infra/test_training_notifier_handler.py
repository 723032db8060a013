"""The notifier: SageMaker events in, readable messages on the topic out (moto SNS, Stubber for SageMaker)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from constructs.training_notifier_lambda.training_notifier import aws_clients, messages, on_training_event
from tests.infra.support.sample_events import MODEL_PACKAGE_STATE_CHANGE, PIPELINE_STATUS_CHANGE

REGION = "eu-west-1"


@pytest.fixture
def topic_messages(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Publishes go to a moto topic with an SQS subscription; yields the messages received so far."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "ENVIRONMENT_NAME": "dev",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic_arn = sns.create_topic(Name="mlops-dev")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("TOPIC_ARN", topic_arn)
        aws_clients.clients.cache_clear()  # the handler's clients are created inside this mock
        received: list[dict[str, Any]] = []

        class Inbox(list):  # reads the queue when the test looks
            def __iter__(self) -> Iterator[dict[str, Any]]:
                for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
                    received.append(json.loads(message["Body"]))
                return iter(received)

        yield Inbox()
        aws_clients.clients.cache_clear()


def stubbed_sagemaker(steps: list[dict[str, Any]]) -> Any:
    client = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": steps},
        {"PipelineExecutionArn": PIPELINE_STATUS_CHANGE["detail"]["pipelineExecutionArn"]},
    )
    stubber.activate()
    return client


def run_with_sagemaker(event: dict[str, Any], sagemaker: Any) -> dict[str, str]:
    clients = aws_clients.Clients(sagemaker=sagemaker, sns=boto3.client("sns"))
    with mock.patch.object(aws_clients, "clients", lambda: clients):
        return on_training_event.handler(event, None)


def test_failed_run_names_the_failed_step_and_its_reason(topic_messages: list[dict[str, Any]]) -> None:
    steps = [
        {
            "StepName": "QualityGateFailed",
            "StepStatus": "Failed",
            "FailureReason": "Quality gate failed: ROC-AUC 0.8100 is 0.0400 below the threshold 0.85",
        },
        {"StepName": "CheckQualityGate", "StepStatus": "Succeeded"},
        {"StepName": "Evaluate", "StepStatus": "Succeeded"},
    ]
    run_with_sagemaker(PIPELINE_STATUS_CHANGE, stubbed_sagemaker(steps))
    (message,) = list(topic_messages)
    assert message["Subject"] == "[dev] Training run failed at QualityGateFailed"
    reason = "Quality gate failed: ROC-AUC 0.8100 is 0.0400 below the threshold 0.85"
    assert f"- QualityGateFailed: {reason}" in message["Message"]
    assert "Evaluate" not in message["Message"]
    assert PIPELINE_STATUS_CHANGE["detail"]["pipelineExecutionArn"] in message["Message"]


def test_failed_run_without_a_failed_step_still_reports(topic_messages: list[dict[str, Any]]) -> None:
    run_with_sagemaker(PIPELINE_STATUS_CHANGE, stubbed_sagemaker([{"StepName": "Preprocess", "StepStatus": "Stopped"}]))
    (message,) = list(topic_messages)
    assert "no step reported a failure" in message["Message"]


def test_registered_model_says_version_auc_report_and_how_to_approve(topic_messages: list[dict[str, Any]]) -> None:
    on_training_event.handler(MODEL_PACKAGE_STATE_CHANGE, None)
    (message,) = list(topic_messages)
    assert message["Subject"] == "[dev] Model version 3 awaits approval (ROC-AUC 0.9281)"
    body = message["Message"]
    assert "Report: s3://artifacts/pipelines/mlops-dev-training/abc/evaluate/report.html" in body
    assert "--model-approval-status Approved" in body


def test_subject_fits_sns_limit() -> None:
    detail = {**MODEL_PACKAGE_STATE_CHANGE["detail"], "CustomerMetadataProperties": {"auc": "9" * 200}}
    subject, _ = messages.model_registered_message("dev", detail)
    assert len(subject) < 100  # "less than 100 characters long" (Amazon SNS API reference, Publish)


def test_unexpected_event_is_an_error(topic_messages: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="unexpected event detail-type"):
        on_training_event.handler({**MODEL_PACKAGE_STATE_CHANGE, "detail-type": "Something Else"}, None)
    assert list(topic_messages) == []
