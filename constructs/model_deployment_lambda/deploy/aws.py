"""Clients, settings and the error shapes AWS answers with, shared by the steps."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})
_THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException"}
)


class AwsThrottled(RuntimeError):
    """AWS kept throttling after botocore's retries: the state machine retries the step later (its Retry)."""


class AwsUnavailable(RuntimeError):
    """AWS answered a 5xx (InternalFailure, ServiceUnavailable, ...) after botocore's retries: retried later."""


class NotYetConsistent(RuntimeError):
    """A read behind a write the step just made did not see it yet; the step runs again (its Retry).

    CreateEndpoint: "SageMaker ... checks the endpoint configuration with an eventually consistent read ...
    this causes a validation error ... retry logic is recommended" (API reference, CreateEndpoint,
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html). PutScalingPolicy right
    after RegisterScalableTarget has the same caveat (Application Auto Scaling API reference, PutScalingPolicy,
    https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html). Every step is
    safe to run again, so the whole step is retried rather than one call.
    """


# The step errors the state machine retries (deployment_workflow.py): each means "run this step again later".
RETRIED_STEP_ERRORS = ("AwsThrottled", "AwsUnavailable", "NotYetConsistent")


@dataclass
class Clients:
    sagemaker: Any
    sns: Any
    autoscaling: Any
    stepfunctions: Any
    cloudwatch: Any
    dynamodb: Any


def aws_clients() -> Clients:
    return Clients(
        sagemaker=boto3.client("sagemaker", config=_BOTO_CONFIG),
        sns=boto3.client("sns", config=_BOTO_CONFIG),
        autoscaling=boto3.client("application-autoscaling", config=_BOTO_CONFIG),
        stepfunctions=boto3.client("stepfunctions", config=_BOTO_CONFIG),
        cloudwatch=boto3.client("cloudwatch", config=_BOTO_CONFIG),
        dynamodb=boto3.client("dynamodb", config=_BOTO_CONFIG),
    )


def load_settings() -> dict[str, Any]:
    return json.loads(os.environ["DEPLOY_SETTINGS"])


def step_handler(run: Callable[[Any, Mapping[str, Any], Clients], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """The Lambda handler of a step: settings and clients from the environment; throttling becomes AwsThrottled."""

    @functools.wraps(run)
    def handler(event: Any, context: Any = None) -> dict[str, Any]:
        try:
            return run(event, load_settings(), aws_clients())
        except ClientError as error:
            if error_code(error) in _THROTTLING_CODES:
                raise AwsThrottled(str(error)) from error
            if is_server_error(error):
                raise AwsUnavailable(str(error)) from error
            raise

    return handler


def is_transient(error: BaseException) -> bool:
    """Throttling, a 5xx or a read not yet consistent: the step should run again, not report a failure."""
    if isinstance(error, (AwsThrottled, AwsUnavailable, NotYetConsistent)):
        return True
    return isinstance(error, ClientError) and (error_code(error) in _THROTTLING_CODES or is_server_error(error))


def is_server_error(error: ClientError) -> bool:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) >= 500


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def error_message(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message", "")


def is_missing(error: ClientError) -> bool:
    code, message = error_code(error), error_message(error)
    return code in {"ValidationException", "ResourceNotFound", "ObjectNotFoundException"} and (
        "Could not find" in message or "not found" in message.lower() or code == "ObjectNotFoundException"
    )


def is_already_existing(error: ClientError) -> bool:
    # CreateModel / CreateEndpointConfig / CreateEndpoint on a taken name: "Cannot create already existing ...".
    return error_code(error) == "ValidationException" and "already existing" in error_message(error)


def is_endpoint_busy(error: ClientError) -> bool:
    # UpdateEndpoint while another update runs: "Cannot update in-progress endpoint ...".
    message = error_message(error)
    return error_code(error) == "ValidationException" and ("in-progress" in message or "in progress" in message)


def describe_endpoint(sagemaker: Any, endpoint_name: str) -> dict[str, Any] | None:
    try:
        return sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if is_missing(error):
            return None
        raise


def resource_tags(sagemaker: Any, arn: str) -> dict[str, str]:
    tags = sagemaker.list_tags(ResourceArn=arn).get("Tags", [])
    return {tag["Key"]: tag["Value"] for tag in tags}


def ignore_missing(call: Callable[..., Any], **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except ClientError as error:
        if not is_missing(error):
            raise


def iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def now() -> datetime:
    return datetime.now(timezone.utc)
