"""The notifier's entry: a SageMaker training event in, a short message on the environment's SNS topic out."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import aws_clients
from .constants import (
    ENVIRONMENT_NAME_VARIABLE,
    MODEL_PACKAGE_STATE_CHANGE,
    PIPELINE_STATUS_CHANGE,
    TOPIC_ARN_VARIABLE,
)
from .messages import model_registered_message, pipeline_failed_message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    environment_name: str
    topic_arn: str


def load_settings(environ: Mapping[str, str]) -> Settings:
    """The function's settings, from the environment the construct writes."""
    return Settings(environment_name=environ[ENVIRONMENT_NAME_VARIABLE], topic_arn=environ[TOPIC_ARN_VARIABLE])


def handler(event: dict[str, Any], context: object) -> dict[str, str]:
    return run(event, load_settings(os.environ), aws_clients.clients())


def run(event: dict[str, Any], settings: Settings, aws: aws_clients.Clients) -> dict[str, str]:
    detail = event["detail"]
    if event["detail-type"] == PIPELINE_STATUS_CHANGE:
        steps = aws.sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=detail["pipelineExecutionArn"])[
            "PipelineExecutionSteps"
        ]
        subject, body = pipeline_failed_message(settings.environment_name, detail, steps)
    elif event["detail-type"] == MODEL_PACKAGE_STATE_CHANGE:
        subject, body = model_registered_message(settings.environment_name, detail)
    else:
        raise ValueError(f"unexpected event detail-type {event['detail-type']!r}")
    aws.sns.publish(TopicArn=settings.topic_arn, Subject=subject, Message=body)
    logger.info("notified", extra={"subject": subject})
    return {"subject": subject}
