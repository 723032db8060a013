"""The notifier's entry: a SageMaker training event in, a short message on the environment's SNS topic out."""

from __future__ import annotations

import logging
import os
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


def handler(event: dict[str, Any], context: object) -> dict[str, str]:
    environment = os.environ[ENVIRONMENT_NAME_VARIABLE]
    aws = aws_clients.clients()
    detail = event["detail"]
    if event["detail-type"] == PIPELINE_STATUS_CHANGE:
        steps = aws.sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=detail["pipelineExecutionArn"])[
            "PipelineExecutionSteps"
        ]
        subject, body = pipeline_failed_message(environment, detail, steps)
    elif event["detail-type"] == MODEL_PACKAGE_STATE_CHANGE:
        subject, body = model_registered_message(environment, detail)
    else:
        raise ValueError(f"unexpected event detail-type {event['detail-type']!r}")
    aws.sns.publish(TopicArn=os.environ[TOPIC_ARN_VARIABLE], Subject=subject, Message=body)
    logger.info("notified", extra={"subject": subject})
    return {"subject": subject}
