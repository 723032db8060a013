"""Step `StartRollout`: create the Model, the EndpointConfig and the rollback alarms, then create or update.

Every create is idempotent for the names `names` derives: a duplicate execution that finds them already made by
its twin carries on. Once UpdateEndpoint is accepted nothing may end the watch: a failing follow-up call (the tag
marking which approval the endpoint carries) is retried by `CheckEndpoint`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .autoscaling import pause_if_instance_type_changes
from .aws import Clients, error_message, is_already_existing, is_endpoint_busy, now, step_handler
from .decisions import OUTCOME_SUPERSEDED
from .names import DEPLOYMENT_KEY_TAG, PACKAGE_TAG
from .prepare import superseded_by
from .requests import endpoint_config_request, rollback_alarm_requests, update_endpoint_request

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)


def run(state: Mapping[str, Any], settings: Mapping[str, Any], aws: Clients) -> dict[str, Any]:
    state = dict(state)
    sagemaker = aws.sagemaker
    endpoint_name = settings["endpoint_name"]
    ensure_model(sagemaker, settings, state)
    ensure_endpoint_config(sagemaker, settings, state)
    # A decision point: a later approval may have arrived while this execution prepared.
    superseded = superseded_by(aws, settings, state)
    if superseded:
        state.update(rollout="concluded", outcome=OUTCOME_SUPERSEDED, reason=superseded)
        return state
    state["started_at"] = now().isoformat()
    state["rollout_checks"] = 0

    if state["mode"] == "recreate":
        # A Failed endpoint cannot be updated: delete it, then wait and prepare again (it will be created).
        sagemaker.delete_endpoint(EndpointName=endpoint_name)
        state.update(rollout="busy", reason="deleted the Failed endpoint to create it again")
        return state

    tags = deployment_tags(state)
    try:
        if state["mode"] == "create":
            # Tagged in the same call: a duplicate execution recognises this approval's endpoint at once.
            sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=state["config_name"], Tags=tags)
        else:
            state["autoscaling_paused"] = pause_if_instance_type_changes(
                aws, settings, state.get("previous_config_name")
            )
            # The alarms exist before the update starts, so they watch the new fleet from its first request.
            for request in rollback_alarm_requests(settings, state["config_name"]):
                aws.cloudwatch.put_metric_alarm(**request)
            sagemaker.update_endpoint(**update_endpoint_request(settings, state["config_name"]))
    except ClientError as error:
        if is_already_existing(error) or is_endpoint_busy(error):
            # Another execution started a create or rollout between our check and our call: wait for it, then
            # Prepare decides again (a duplicate of ours ends noop, an older approval's rollout is waited out).
            state.update(rollout="busy", reason=f"endpoint became busy: {error_message(error)}")
            return state
        raise
    state.update(rollout="started", reason=f"{state['mode']} started with {state['config_name']}")
    if state["mode"] == "update":
        state["tag_pending"] = not tag_endpoint(sagemaker, endpoint_name, tags)
    return state


def deployment_tags(state: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {"Key": DEPLOYMENT_KEY_TAG, "Value": state["deployment_key"]},
        {"Key": PACKAGE_TAG, "Value": state["package_arn"]},
    ]


def tag_endpoint(sagemaker: Any, endpoint_name: str, tags: list[dict[str, str]]) -> bool:
    """Mark which approval the endpoint was updated for; False (and logged) when it could not, for a retry."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
        sagemaker.add_tags(ResourceArn=endpoint["EndpointArn"], Tags=tags)
        return True
    except (ClientError, BotoCoreError) as error:  # the rollout runs regardless: keep watching it
        LOGGER.warning("could not tag %s after UpdateEndpoint, will retry: %s", endpoint_name, error)
        return False


def ensure_model(sagemaker: Any, settings: Mapping[str, Any], state: Mapping[str, Any]) -> None:
    try:
        sagemaker.create_model(
            ModelName=state["model_name"],
            ExecutionRoleArn=settings["model_role_arn"],
            Containers=[{"ModelPackageName": state["package_arn"]}],
            Tags=[{"Key": PACKAGE_TAG, "Value": state["package_arn"]}],
            # Private network mode: the settings carry the model's VPC and isolation (constructs/private_network.py,
            # model_network_settings); without them, neither key is sent.
            **(
                {
                    "VpcConfig": settings["model_vpc_config"],
                    "EnableNetworkIsolation": settings["model_enable_network_isolation"],
                }
                if "model_vpc_config" in settings
                else {}
            ),
        )
    except ClientError as error:
        # The name is derived from the package version and the settings: an existing one is this very model.
        if not is_already_existing(error):
            raise


def ensure_endpoint_config(sagemaker: Any, settings: Mapping[str, Any], state: Mapping[str, Any]) -> None:
    request = endpoint_config_request(settings, state["config_name"], state["model_name"])
    try:
        sagemaker.create_endpoint_config(**request, Tags=[{"Key": PACKAGE_TAG, "Value": state["package_arn"]}])
    except ClientError as error:
        if not is_already_existing(error):
            raise


handler = step_handler(run)
