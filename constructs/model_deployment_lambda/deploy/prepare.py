"""Step `Prepare`: from the approval event (or the state, after waiting) decide: deploy, wait or conclude.

Run at the start and again after every wait for a busy endpoint, so each decision sees the registry and the
endpoint as they are now: the package may have been rejected, a later approval may have overtaken it, a duplicate
execution may have rolled it out meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .approvals import approval_of, latest_approved_package
from .aws import Clients, describe_endpoint, iso, resource_tags, step_handler
from .decisions import (
    BUSY_STATUSES,
    OUTCOME_FAILED,
    OUTCOME_NOOP,
    OUTCOME_SKIPPED,
    OUTCOME_SUPERSEDED,
    POLL_SECONDS,
    busy_limit,
    config_in_flight,
)
from .names import DEPLOYMENT_KEY_TAG, deployment_key, name_prefix, resource_name, settings_hash


def run(event: Mapping[str, Any], settings: Mapping[str, Any], aws: Clients) -> dict[str, Any]:
    # First call: the EventBridge event. Later calls (after waiting for a busy endpoint): the state.
    if "package_arn" in event:
        state = dict(event)
    else:
        detail = event.get("detail") or {}
        if not detail.get("ModelPackageArn"):
            raise ValueError("the event has no detail.ModelPackageArn: not a Model Package State Change event")
        state = {"package_arn": detail["ModelPackageArn"], "busy_checks": 0, "event_id": event.get("id")}
    endpoint_name = settings["endpoint_name"]
    state["endpoint_name"] = endpoint_name

    package = aws.sagemaker.describe_model_package(ModelPackageName=state["package_arn"])
    version = int(package["ModelPackageVersion"])
    name = resource_name(name_prefix(endpoint_name), version, settings_hash(settings, package["ModelPackageArn"]))
    mine = approval_of(package)
    state.update(
        package_version=version,
        auc=(package.get("CustomerMetadataProperties") or {}).get("auc"),
        config_name=name,
        model_name=name,
    )
    # Fixed at the first Prepare: duplicates of one approval share it; a re-approval is a new one.
    state.setdefault("deployment_key", deployment_key(mine.package_arn, iso(mine.approved_at)))
    state.setdefault("approved_at", iso(mine.approved_at))

    group = settings["model_package_group_name"]
    if package.get("ModelPackageGroupName") != group:
        return conclude_with(state, OUTCOME_SKIPPED, f"package is not in group {group}")
    if package.get("ModelApprovalStatus") != "Approved":
        return conclude_with(
            state, OUTCOME_SKIPPED, f"package is {package.get('ModelApprovalStatus')} now, no longer Approved"
        )
    superseded = superseded_by(aws, settings, state)
    if superseded:
        return conclude_with(state, OUTCOME_SUPERSEDED, superseded)

    endpoint = describe_endpoint(aws.sagemaker, endpoint_name)
    if endpoint is None:
        state.update(action="deploy", mode="create", previous_config_name=None, reason="first deployment")
        return state
    status = endpoint["EndpointStatus"]
    current = endpoint.get("EndpointConfigName")
    state["previous_config_name"] = current
    if resource_tags(aws.sagemaker, endpoint["EndpointArn"]).get(DEPLOYMENT_KEY_TAG) == state["deployment_key"]:
        return conclude_with(
            state, OUTCOME_NOOP, f"duplicate event: this approval was already rolled out (endpoint on {current})"
        )
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


def superseded_by(aws: Clients, settings: Mapping[str, Any], state: Mapping[str, Any]) -> str | None:
    """Why this execution is overtaken by a later approval, or None when it is still the one to serve."""
    latest = latest_approved_package(aws.sagemaker, settings["model_package_group_name"])
    if latest is None or latest.package_arn == state["package_arn"]:
        return None
    return (
        f"version {latest.version} was approved later ({iso(latest.approved_at)}) and is the one to serve; "
        f"approve version {state['package_version']} again to roll back to it"
    )


def conclude_with(state: dict[str, Any], outcome: str, reason: str) -> dict[str, Any]:
    state.update(action="conclude", outcome=outcome, reason=reason)
    return state


handler = step_handler(run)
