"""CloudFormation custom resource (only where the removal policy is destroy): on Delete, remove the endpoint
and every config, model and rollback alarm the workflow made for it."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

from . import aws_clients
from .autoscaling import deregister_autoscaling
from .aws_answers import describe_endpoint, ignore_missing
from .conclude import delete_rollback_alarms, list_own_configs, list_own_models
from .decisions import BUSY_STATUSES
from .step_handler import load_settings

logger = logging.getLogger(__name__)


def handler(event: dict[str, Any], context: Any) -> None:
    status, reason = "SUCCESS", "nothing to do"
    try:
        if event["RequestType"] == "Delete":
            deadline = time.monotonic() + max(context.get_remaining_time_in_millis() / 1000 - 60, 0)
            removed = run(load_settings(), aws_clients.clients(), deadline)
            reason = f"removed {len(removed)} SageMaker resources"
    except Exception as error:  # CloudFormation must get an answer whatever happened
        logger.exception("teardown failed")
        status, reason = "FAILED", f"{type(error).__name__}: {error}"[:900]
    send_cfn_response(event, context, status, reason)


def run(settings: Mapping[str, Any], aws: aws_clients.Clients, deadline: float, sleep: Any = None) -> list[str]:
    """Stop running deployments, delete the endpoint and wait until it is gone, then every config and model with
    this endpoint's prefix."""
    sleep = sleep or time.sleep
    removed: list[str] = []
    machine = settings.get("state_machine_arn")
    if machine:
        for page in aws.stepfunctions.get_paginator("list_executions").paginate(
            stateMachineArn=machine, statusFilter="RUNNING"
        ):
            for execution in page["executions"]:
                aws.stepfunctions.stop_execution(executionArn=execution["executionArn"], cause="stack deleted")
    endpoint_name = settings["endpoint_name"]
    endpoint = describe_endpoint(aws.sagemaker, endpoint_name)
    while endpoint is not None and endpoint["EndpointStatus"] in BUSY_STATUSES - {"Deleting"}:
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"endpoint {endpoint_name} is still {endpoint['EndpointStatus']}: retry the deletion when it ends"
            )
        sleep(15)
        endpoint = describe_endpoint(aws.sagemaker, endpoint_name)
    deregister_autoscaling(aws, settings)
    if endpoint is not None and endpoint["EndpointStatus"] != "Deleting":
        aws.sagemaker.delete_endpoint(EndpointName=endpoint_name)
        removed.append(f"endpoint/{endpoint_name}")
    # Until the endpoint is gone: CloudFormation deletes the model role's policy after this resource, and
    # SageMaker needs it while it deletes ("If you delete the ExecutionRole or its policy before the endpoint is
    # deleted, SageMaker can't release the KMS grants", DeleteEndpoint, API reference).
    while describe_endpoint(aws.sagemaker, endpoint_name) is not None:
        if time.monotonic() >= deadline:
            raise RuntimeError(f"endpoint {endpoint_name} is still Deleting: retry the stack deletion when it is gone")
        sleep(15)
    delete_rollback_alarms(aws.cloudwatch, aws.sagemaker, settings, keep=set())
    for config in list_own_configs(aws.sagemaker, settings):
        ignore_missing(aws.sagemaker.delete_endpoint_config, EndpointConfigName=config["EndpointConfigName"])
        removed.append(f"endpoint-config/{config['EndpointConfigName']}")
    for model in list_own_models(aws.sagemaker, settings):
        ignore_missing(aws.sagemaker.delete_model, ModelName=model)
        removed.append(f"model/{model}")
    return removed


def send_cfn_response(event: Mapping[str, Any], context: Any, status: str, reason: str) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": f"{reason} (log stream {getattr(context, 'log_stream_name', '?')})",
            "PhysicalResourceId": event.get("PhysicalResourceId") or f"{event['LogicalResourceId']}-teardown",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(  # the pre-signed https URL CloudFormation gave us
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        logger.info("CloudFormation response: %s", response.status)
