"""The workflow's rules as pure functions: which approval wins, what the endpoint says, what to clean up."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .constants import SNS_SUBJECT_MAX_CHARS

# The endpoint cannot take an update in these states (DescribeEndpoint, EndpointStatus): wait for them to end.
BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})

OUTCOME_DEPLOYED = "deployed"
OUTCOME_ROLLED_BACK = "rolled_back"
OUTCOME_FAILED = "failed"
OUTCOME_NOOP = "noop"
OUTCOME_SKIPPED = "skipped"
OUTCOME_SUPERSEDED = "superseded"
# A status event that is not an approval (registration, rejection of a version not serving): nothing to report.
OUTCOME_IGNORED = "ignored"
# The serving version was rejected in the registry: it keeps serving (documented), and the topic says so.
OUTCOME_KEPT_SERVING = "kept_serving"
IN_PROGRESS = "in_progress"


@dataclass(frozen=True)
class Approval:
    """One Approved package of the group; `approved_at` is its LastModifiedTime (the approval's time)."""

    package_arn: str
    version: int
    approved_at: datetime


def latest_approval(approvals: Iterable[Approval]) -> Approval | None:
    """The approval that should serve: the most recently approved package (ties: the higher version).

    By approval time, not by version, so that approving an older version again is how one rolls back.
    """
    return max(approvals, key=lambda a: (a.approved_at, a.version), default=None)


def version_of_config(config_name: str | None) -> int | None:
    """The package version in a config or model name `<prefix>-v<version>-<hash>` (names.resource_name)."""
    if not config_name or "-v" not in config_name:
        return None
    head = config_name.rsplit("-v", 1)[1].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def decide_outcome(endpoint: Mapping[str, Any] | None, target_config: str) -> tuple[str, str]:
    """From DescribeEndpoint after a rollout: (in_progress | deployed | rolled_back | failed, reason).

    A failed or alarmed blue/green update rolls back and still ends InService: only the endpoint's current
    EndpointConfigName tells whether the new config is serving.
    """
    if endpoint is None:
        return OUTCOME_FAILED, "the endpoint no longer exists (deleted during the rollout?)"
    status = endpoint["EndpointStatus"]
    current = endpoint.get("EndpointConfigName")
    failure = endpoint.get("FailureReason")
    if status in BUSY_STATUSES - {"Deleting"}:
        return IN_PROGRESS, f"endpoint is {status}"
    if status == "InService":
        if current == target_config:
            return OUTCOME_DEPLOYED, f"endpoint is InService on {current}"
        cause = failure or "an auto-rollback alarm fired or the new fleet failed its health checks"
        return OUTCOME_ROLLED_BACK, f"SageMaker rolled the endpoint back to {current}: {cause}"
    if status == "UpdateRollbackFailed":
        return OUTCOME_FAILED, (
            f"the update and SageMaker's rollback both failed; the endpoint serves a mix of configs: {failure}"
        )
    return OUTCOME_FAILED, f"endpoint is {status}: {failure or 'no failure reason given'}"


def config_in_flight(endpoint: Mapping[str, Any]) -> str | None:
    """The config a running create or update is putting in place (PendingDeploymentSummary while updating)."""
    if endpoint["EndpointStatus"] == "Creating":
        return endpoint.get("EndpointConfigName")
    pending = endpoint.get("PendingDeploymentSummary") or {}
    return pending.get("EndpointConfigName")


def configs_to_delete(configs: Iterable[Mapping[str, Any]], current: str, keep: int, started_at: datetime) -> list[str]:
    """Config names to remove after `current` is confirmed serving.

    `configs`: {"name", "created" (datetime), "served" (bool)} for every config of this endpoint. Kept: the current
    one, the `keep` newest that once served (what "roll back by approving an older version" reuses) and any config
    created after this rollout started (another approval's, in flight). Everything else goes, never-served first.
    """
    others = [config for config in configs if config["name"] != current and config["created"] < started_at]
    served = sorted((c for c in others if c["served"]), key=lambda c: c["created"], reverse=True)
    kept = {c["name"] for c in served[:keep]}
    return sorted(c["name"] for c in others if c["name"] not in kept)


def summary_message(state: Mapping[str, Any], settings: Mapping[str, Any]) -> tuple[str, str]:
    """The SNS subject and message (JSON) for an outcome."""
    version = state.get("package_version")
    subject = f"[{settings['environment']}] model {'v' + str(version) if version else '?'}: {state['outcome']}"
    body = {
        "environment": settings["environment"],
        "endpoint": settings["endpoint_name"],
        "outcome": state["outcome"],
        "reason": state.get("reason"),
        "model_package_arn": state.get("package_arn"),
        "model_package_version": version,
        "auc": state.get("auc"),
        "endpoint_config": state.get("config_name"),
        "previous_endpoint_config": state.get("previous_config_name"),
        "serving_endpoint_config": state.get("serving_config_name"),
        "deleted_endpoint_configs": state.get("deleted_configs", []),
    }
    return subject[:SNS_SUBJECT_MAX_CHARS], json.dumps(body, indent=2)
