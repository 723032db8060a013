"""Step `Prepare`: from the status event (or the state, after waiting) decide: deploy, wait or conclude.

Run at the start and again after every wait for a busy endpoint, so each decision sees the ledger, the registry
and the endpoint as they are now: the package may have been rejected, a later approval may have overtaken it, a
duplicate execution may have claimed it meanwhile.

The first call records the event in the ledger (`ledger.py`): which version should serve is decided by the
approval events in their order, never by a package's LastModifiedTime (which editing an old package moves).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .approvals import registry_approvals
from .aws_answers import describe_endpoint, now
from .aws_clients import Clients
from .constants import POLL_SECONDS, busy_limit, name_prefix
from .decisions import (
    BUSY_STATUSES,
    OUTCOME_FAILED,
    OUTCOME_IGNORED,
    OUTCOME_KEPT_SERVING,
    OUTCOME_NOOP,
    OUTCOME_SKIPPED,
    OUTCOME_SUPERSEDED,
    config_in_flight,
    version_of_config,
)
from .deployment_names import deployment_key, resource_name, settings_hash
from .ledger import Ledger
from .step_handler import step_handler


def run(event: Mapping[str, Any], settings: Mapping[str, Any], aws: Clients) -> dict[str, Any]:
    ledger = Ledger(aws.dynamodb, settings["ledger_table_name"])
    endpoint_name = settings["endpoint_name"]
    # The state machine passes {"input": <the EventBridge event or the state>, "execution_id": ...}.
    execution_id = event.get("execution_id")
    event = event.get("input", event)
    first_call = "package_arn" not in event
    # The EventBridge event first; later calls (after waiting for a busy endpoint) get the state.
    state = start_state(event, execution_id) if first_call else dict(event)
    state["endpoint_name"] = endpoint_name

    package = aws.sagemaker.describe_model_package(ModelPackageName=state["package_arn"])
    version = int(package["ModelPackageVersion"])
    name = resource_name(name_prefix(endpoint_name), version, settings_hash(settings, package["ModelPackageArn"]))
    state.update(
        package_version=version,
        auc=(package.get("CustomerMetadataProperties") or {}).get("auc"),
        config_name=name,
        model_name=name,
    )
    group = settings["model_package_group_name"]
    if package.get("ModelPackageGroupName") != group:
        return conclude_with(state, OUTCOME_SKIPPED, f"package is not in group {group}")

    if first_call:
        if not ledger.is_seeded():
            ledger.seed(registry_approvals(aws.sagemaker, group))
        record = ledger.record_status(state["package_arn"], version, state["event_status"], state["event_time"])
        if record.status != "Approved" or record.approved_at is None:
            return status_change(aws, settings, state)
        # An edit of an approved package leaves approved_at as it was: it is the same approval (a duplicate).
        state["approved_at"] = record.approved_at
        state["deployment_key"] = deployment_key(state["package_arn"], state["approved_at"])
        approval_event = state.pop("event_status") == "Approved"
        state.pop("event_time")
        # One execution handles each approval, from here to its report: the first to claim it. Duplicates (and
        # edits, which are no new approval) find it claimed. A non-Approved event that arrives after the
        # approval may be what makes it a new one (a re-approval whose Approved event came first and was taken
        # for an edit): then this execution handles it, unless another does already.
        claimant = ledger.claim(state["deployment_key"], state["run_id"], name, claim_expiry(settings))
        if claimant is not None:
            if not approval_event:
                return conclude_with(state, OUTCOME_IGNORED, "an earlier status event of an approved package")
            return conclude_with(
                state, OUTCOME_NOOP, f"duplicate event: execution {claimant} handles (or handled) this approval"
            )

    if package.get("ModelApprovalStatus") != "Approved":
        return conclude_with(
            state, OUTCOME_SKIPPED, f"package is {package.get('ModelApprovalStatus')} now, no longer Approved"
        )
    superseded = superseded_by(ledger, state)
    if superseded:
        return conclude_with(state, OUTCOME_SUPERSEDED, superseded)

    endpoint = describe_endpoint(aws.sagemaker, endpoint_name)
    if endpoint is None:
        state.update(action="deploy", mode="create", previous_config_name=None, reason="first deployment")
        return state
    status = endpoint["EndpointStatus"]
    current = endpoint.get("EndpointConfigName")
    if state.get("started_at") and name in (current, config_in_flight(endpoint)):
        # StartRollout ran before and its create or update was accepted (the step was then retried and found
        # the endpoint busy with it): StartRollout picks the rollout up and the watch goes on. Counted as a
        # busy check, so that no loop between the two can outlast the limit.
        state["busy_checks"] = int(state.get("busy_checks", 0)) + 1
        if state["busy_checks"] <= busy_limit(settings):
            state.update(action="deploy", reason=f"resuming: endpoint is {status} with {name}")
            return state
    state["previous_config_name"] = current
    if status == "InService" and current == name:
        return conclude_with(state, OUTCOME_NOOP, f"version {version} is already serving ({current})")
    if status in BUSY_STATUSES:
        if config_in_flight(endpoint) == name:
            return conclude_with(
                state, OUTCOME_NOOP, f"version {version} ({name}) is being rolled out by another execution"
            )
        checks = int(state.get("busy_checks", 0)) + 1
        state["busy_checks"] = checks
        if checks > busy_limit(settings):
            return conclude_with(
                state,
                OUTCOME_FAILED,
                f"endpoint {endpoint_name} was still {status} after {checks - 1} checks "
                f"{POLL_SECONDS} s apart; approve the package again once it is InService",
            )
        state.update(action="wait", reason=f"endpoint is {status}")
        return state
    mode = "recreate" if status == "Failed" else "update"
    state.update(action="deploy", mode=mode, reason=f"endpoint is {status} on {current}")
    return state


def claim_expiry(settings: Mapping[str, Any]) -> float:
    """When a claim stops protecting its config: after the longest an execution can run (a stopped one never
    releases its claim)."""
    return time.time() + 2 * busy_limit(settings) * POLL_SECONDS + 3600


def start_state(event: Mapping[str, Any], execution_id: str | None) -> dict[str, Any]:
    detail = event.get("detail") or {}
    if not detail.get("ModelPackageArn"):
        raise ValueError("the event has no detail.ModelPackageArn: not a Model Package State Change event")
    # When SageMaker made the change (the event's `time`); an event without one is taken as happening now.
    event_time = datetime.fromisoformat(event["time"].replace("Z", "+00:00")) if event.get("time") else now()
    return {
        "package_arn": detail["ModelPackageArn"],
        "busy_checks": 0,
        "event_id": event.get("id"),
        "event_status": detail.get("ModelApprovalStatus") or "Approved",
        "event_time": event_time,
        # This execution's identity in the ledger (its claim and its report): the execution's id, which the state
        # machine passes in (deployment_workflow.py), so that a retried first Prepare is the same execution.
        "run_id": execution_id or uuid.uuid4().hex,
    }


def status_change(aws: Clients, settings: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """A registration or a rejection: nothing to deploy; a notice when the version concerned is serving.

    Rejecting the serving version does not undeploy it (documented choice, docs/deployment-runbook.md): the
    registry's status is a record, the endpoint changes only on an approval, and an automatic rollback to an
    older model is a change someone should decide on. The notice says so and how to roll back.
    """
    status = state.pop("event_status")
    state.pop("event_time")
    endpoint = describe_endpoint(aws.sagemaker, settings["endpoint_name"])
    version = state["package_version"]
    serving = endpoint is not None and version in {
        version_of_config(endpoint.get("EndpointConfigName")),
        version_of_config(config_in_flight(endpoint)),
    }
    if status == "Rejected" and serving:
        return conclude_with(
            state,
            OUTCOME_KEPT_SERVING,
            f"version {version} was Rejected in the registry but still serves on {settings['endpoint_name']}: "
            "a rejection does not undeploy. To replace it, approve another version (an earlier one again, to "
            "roll back: docs/deployment-runbook.md, 'Roll back by approving an older version')",
        )
    return conclude_with(state, OUTCOME_IGNORED, f"version {version} is {status}: nothing to deploy")


def superseded_by(ledger: Ledger, state: Mapping[str, Any]) -> str | None:
    """Why this execution is overtaken by a later approval, or None when it is still the one to serve."""
    latest = ledger.latest_approval()
    if latest is None or latest.package_arn == state["package_arn"]:
        return None
    return (
        f"version {latest.version} was approved later ({latest.approved_at.isoformat()}) and is the one to serve; "
        f"approve version {state['package_version']} again to roll back to it"
    )


def conclude_with(state: dict[str, Any], outcome: str, reason: str) -> dict[str, Any]:
    state.pop("event_time", None)
    state.update(action="conclude", outcome=outcome, reason=reason)
    return state


handler = step_handler(run)
