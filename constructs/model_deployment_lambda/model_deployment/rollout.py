"""Step `StartRollout`: claim the approval, create the Model, the EndpointConfig and the rollback alarms, then
create or update the endpoint.

Safe to run again after any of its side effects (Step Functions retries a task that may already have run):
creates are idempotent for the names `names` derives, the claim is this execution's own, and a rollout of this
config already under way (started by an earlier attempt) is picked up instead of being taken for another's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from .autoscaling import pause_if_instance_type_changes
from .aws_answers import (
    NotYetConsistent,
    describe_config,
    describe_endpoint,
    error_message,
    is_already_existing,
    is_endpoint_busy,
    is_missing,
    now,
)
from .aws_clients import Clients
from .decisions import OUTCOME_NOOP, OUTCOME_SUPERSEDED, config_in_flight
from .deployment_names import DEPLOYMENT_KEY_TAG, PACKAGE_TAG
from .endpoint_requests import endpoint_config_request, rollback_alarm_requests, update_endpoint_request
from .ledger import Ledger
from .prepare import claim_expiry, superseded_by
from .step_handler import step_handler

# UpdateRollbackFailed (a rolling deployment and its rollback both failed) is left by another update: a new
# UpdateEndpoint is the documented way out ("Rolling deployments", Amazon SageMaker developer guide,
# https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-rolling.html).
UPDATABLE_STATUSES = ("InService", "UpdateRollbackFailed")


def run(state: Mapping[str, Any], settings: Mapping[str, Any], aws: Clients) -> dict[str, Any]:
    state = dict(state)
    sagemaker = aws.sagemaker
    ledger = Ledger(aws.dynamodb, settings["ledger_table_name"])
    endpoint_name = settings["endpoint_name"]
    # A decision point: a later approval may have arrived while this execution prepared.
    superseded = superseded_by(ledger, state)
    if superseded:
        state.update(rollout="concluded", outcome=OUTCOME_SUPERSEDED, reason=superseded)
        return state
    # Claimed by Prepare already; claimed again (this execution's own claim: a no-op, or it renews its expiry)
    # before anything is made, so the config is out of bounds for other executions' clean-up from here on.
    claimant = ledger.claim(state["deployment_key"], state["run_id"], state["config_name"], claim_expiry(settings))
    if claimant is not None:
        state.update(rollout="concluded", outcome=OUTCOME_NOOP, reason=f"duplicate event: run {claimant} rolls it out")
        return state
    ensure_model(sagemaker, settings, state)
    ensure_endpoint_config(sagemaker, settings, state)
    state.setdefault("started_at", now().isoformat())
    state["rollout_checks"] = 0

    endpoint = describe_endpoint(sagemaker, endpoint_name)
    if endpoint is not None and state["config_name"] in (config_in_flight(endpoint), endpoint["EndpointConfigName"]):
        # This execution holds the approval's claim: the rollout of its config was started by an earlier attempt
        # of this step (or the version serves already). Watch it; CheckEndpoint judges the outcome.
        state.update(rollout="started", reason=f"{state['config_name']} already being rolled out or serving")
        return state
    mode = state["mode"]
    if endpoint is None:
        mode = "create"
    elif mode == "create" or endpoint["EndpointStatus"] not in UPDATABLE_STATUSES:
        if endpoint["EndpointStatus"] == "Failed":
            return delete_failed_endpoint(sagemaker, endpoint_name, state)
        state.update(rollout="busy", reason=f"endpoint is {endpoint['EndpointStatus']}")
        return state

    try:
        if mode == "create":
            # Tagged in the same call: the endpoint says which approval created it.
            sagemaker.create_endpoint(
                EndpointName=endpoint_name, EndpointConfigName=state["config_name"], Tags=deployment_tags(state)
            )
        else:
            previous = describe_config(sagemaker, state.get("previous_config_name"))
            state["autoscaling_paused"] = pause_if_instance_type_changes(aws, settings, previous) or bool(
                state.get("autoscaling_paused")
            )
            # The alarms exist before the update starts, so they watch the new fleet from its first request.
            for request in rollback_alarm_requests(settings, state["config_name"]):
                aws.cloudwatch.put_metric_alarm(**request)
            request = update_endpoint_request(settings, state["config_name"], previous)
            state["counts_retained"] = bool(request.get("RetainAllVariantProperties"))
            sagemaker.update_endpoint(**request)
    except ClientError as error:
        if is_missing(error) and "endpoint configuration" in error_message(error).lower():
            # Just made (or found) by this step: an eventually consistent read, or a clean-up that raced us.
            # Running the step again re-creates what is missing and tries again.
            raise NotYetConsistent(error_message(error)) from error
        if is_already_existing(error) or is_endpoint_busy(error):
            # Another execution started a create or rollout between our check and our call: wait for it, then
            # Prepare decides again (an older approval's rollout is waited out).
            state.update(rollout="busy", reason=f"endpoint became busy: {error_message(error)}")
            return state
        raise
    state.update(mode=mode, rollout="started", reason=f"{mode} started with {state['config_name']}")
    return state


def delete_failed_endpoint(sagemaker: Any, endpoint_name: str, state: dict[str, Any]) -> dict[str, Any]:
    """A Failed endpoint cannot be updated: delete it, wait, and Prepare again (it will be created)."""
    try:
        sagemaker.delete_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        # A duplicate execution (or an earlier attempt) deleted it first: the same wait follows.
        if not (is_missing(error) or is_endpoint_busy(error)):
            raise
    state.update(rollout="busy", mode="create", reason="deleted the Failed endpoint to create it again")
    return state


def deployment_tags(state: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {"Key": DEPLOYMENT_KEY_TAG, "Value": state["deployment_key"]},
        {"Key": PACKAGE_TAG, "Value": state["package_arn"]},
    ]


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
