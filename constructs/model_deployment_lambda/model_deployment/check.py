"""Step `CheckEndpoint`: judge the rollout from the endpoint itself, every POLL_SECONDS until it ends.

No error of a call here ends the watch: the rollout goes on whatever this Lambda sees, so an unreadable endpoint
counts as one more check. Read-only: safe to run twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .aws_answers import describe_endpoint
from .aws_clients import Clients
from .constants import busy_limit
from .decisions import (
    BUSY_STATUSES,
    IN_PROGRESS,
    OUTCOME_DEPLOYED,
    OUTCOME_FAILED,
    OUTCOME_ROLLED_BACK,
    OUTCOME_SUPERSEDED,
    config_in_flight,
    decide_outcome,
)
from .endpoint_requests import rollback_alarm_names
from .step_handler import step_handler


def run(state: Mapping[str, Any], settings: Mapping[str, Any], aws: Clients) -> dict[str, Any]:
    state = dict(state)
    endpoint_name = settings["endpoint_name"]
    state["rollout_checks"] = int(state.get("rollout_checks", 0)) + 1
    try:
        endpoint = describe_endpoint(aws.sagemaker, endpoint_name)
    except (ClientError, BotoCoreError) as error:
        outcome, reason = IN_PROGRESS, f"could not read the endpoint ({error}); checking again"
    else:
        state["serving_config_name"] = endpoint.get("EndpointConfigName") if endpoint else None
        outcome, reason = judge(endpoint, state)
        if outcome == OUTCOME_ROLLED_BACK and endpoint is not None and endpoint["EndpointStatus"] == "InService":
            outcome, reason = rollback_or_failure(aws.cloudwatch, state, endpoint, reason)
    if outcome == IN_PROGRESS:
        if state["rollout_checks"] > busy_limit(settings):
            state.update(
                rollout="done",
                outcome=OUTCOME_FAILED,
                reason=f"gave up after {state['rollout_checks'] - 1} checks: {reason}; the rollout may still end",
            )
        else:
            state.update(rollout=IN_PROGRESS, reason=reason)
        return state
    state.update(rollout="done", outcome=outcome, reason=reason)
    return state


def rollback_or_failure(
    cloudwatch: Any, state: Mapping[str, Any], endpoint: Mapping[str, Any], reason: str
) -> tuple[str, str]:
    """Back on the old config: `rolled_back` when a rollback alarm fired, `failed` when the new fleet did.

    DescribeEndpoint gives a FailureReason "if the status is InService but update operation fails", whatever
    the cause; the rollback alarms' state tells an alarmed rollout from a fleet that never became healthy.
    """
    names = rollback_alarm_names(state["config_name"])
    try:
        alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    except (ClientError, BotoCoreError):
        return OUTCOME_ROLLED_BACK, reason
    fired = [alarm["AlarmName"] for alarm in alarms if alarm["StateValue"] == "ALARM"]
    if fired:
        return OUTCOME_ROLLED_BACK, f"{reason} (in ALARM: {', '.join(fired)})"
    failure = endpoint.get("FailureReason")
    if failure:
        return OUTCOME_FAILED, (
            f"the new fleet of {state['config_name']} failed: {failure}; "
            f"SageMaker kept {endpoint.get('EndpointConfigName')} serving"
        )
    return OUTCOME_ROLLED_BACK, reason


def judge(endpoint: Mapping[str, Any] | None, state: Mapping[str, Any]) -> tuple[str, str]:
    """decide_outcome, for a rollout that a later one may have followed between two checks.

    The endpoint takes one update at a time, so a later rollout in flight means ours has ended: its
    `EndpointConfigName` (the config still serving while an update runs) says how.
    """
    target = state["config_name"]
    if endpoint is None or endpoint["EndpointStatus"] not in BUSY_STATUSES:
        outcome, reason = decide_outcome(endpoint, target)
        current = endpoint.get("EndpointConfigName") if endpoint else None
        if outcome == OUTCOME_ROLLED_BACK and current not in (state.get("previous_config_name"), None):
            return OUTCOME_SUPERSEDED, (
                f"the endpoint now serves {current}, rolled out after this one; "
                "whether this version served in between is in the execution's history"
            )
        return outcome, reason
    in_flight = config_in_flight(endpoint)
    if in_flight in (target, None):
        return decide_outcome(endpoint, target)
    current = endpoint.get("EndpointConfigName")
    if current == target:
        return OUTCOME_DEPLOYED, f"endpoint served {target}; a later rollout of {in_flight} has started since"
    return OUTCOME_ROLLED_BACK, (
        f"SageMaker rolled the endpoint back to {current}; a later rollout of {in_flight} has started since"
    )


handler = step_handler(run)
