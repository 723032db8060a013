"""What AWS answers the steps with: the error shapes, the errors a step is retried on, and reads that allow for
a missing resource."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

THROTTLING_CODES = frozenset(
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


def is_transient(error: BaseException) -> bool:
    """Throttling, a 5xx or a read not yet consistent: the step should run again, not report a failure."""
    if isinstance(error, (AwsThrottled, AwsUnavailable, NotYetConsistent)):
        return True
    return isinstance(error, ClientError) and (error_code(error) in THROTTLING_CODES or is_server_error(error))


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


def describe_config(sagemaker: Any, name: str | None) -> dict[str, Any] | None:
    if not name:
        return None
    try:
        return sagemaker.describe_endpoint_config(EndpointConfigName=name)
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


def now() -> datetime:
    return datetime.now(timezone.utc)
