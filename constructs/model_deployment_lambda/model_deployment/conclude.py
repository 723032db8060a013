"""Step `Conclude` (also `ReportError`): clean up, restore autoscaling, remove rollback alarms, report on SNS.

Every execution ends here whatever happened, so this is where what a rollout changed is put back: autoscaling is
registered again whenever the endpoint is InService, and the rollback alarms of configs no longer being rolled
out are deleted. Each of those is tried on its own; a failure is reported, never hides the outcome. A transient
error (throttling, a 5xx, a read not yet consistent) instead fails the step so that Step Functions runs it again:
everything before the publish is safe to repeat, and the ledger's report record makes the publish happen once.

What is being rolled out by any execution (the config in flight on the endpoint, and every config claimed in the
ledger and not yet released) is never deleted, nor are its model and rollback alarms.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .autoscaling import apply_autoscaling
from .aws_answers import (
    NotYetConsistent,
    describe_config,
    describe_endpoint,
    ignore_missing,
    is_transient,
    now,
    resource_tags,
)
from .aws_clients import Clients
from .constants import versioned_prefix
from .decisions import (
    OUTCOME_DEPLOYED,
    OUTCOME_FAILED,
    OUTCOME_IGNORED,
    OUTCOME_SUPERSEDED,
    config_in_flight,
    configs_to_delete,
    summary_message,
)
from .deployment_names import SERVED_TAG
from .endpoint_requests import rollback_alarm_names
from .ledger import Ledger
from .step_handler import step_handler

logger = logging.getLogger(__name__)


def run(state: Mapping[str, Any], settings: Mapping[str, Any], aws: Clients) -> dict[str, Any]:
    state = dict(state)
    ledger = Ledger(aws.dynamodb, settings["ledger_table_name"])
    report_key = state.get("run_id") or f"event-{state.get('id') or (state.get('detail') or {}).get('ModelPackageArn')}"
    earlier = ledger.report(report_key)
    if earlier is not None:  # this step ran before and published: the same answer, not a second message
        state.pop("error", None)
        state.pop("detail", None)
        state.update(earlier)
        return state
    error = state.pop("error", None)
    detail = state.pop("detail", None)  # Prepare failed on the raw event: report its package at least
    if isinstance(detail, Mapping):
        state.setdefault("package_arn", detail.get("ModelPackageArn"))
        state.setdefault("package_version", detail.get("ModelPackageVersion"))
    if error is not None:
        state.update(outcome=OUTCOME_FAILED, reason=f"the workflow failed: {_error_text(error)}")
    outcome = state.get("outcome") or OUTCOME_FAILED
    state["outcome"] = outcome
    notes: list[str] = []

    def attempt(what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except (ClientError, BotoCoreError, NotYetConsistent) as failure:
            if is_transient(failure):
                raise  # the whole step runs again (its Retry)
            notes.append(f"{what} failed: {failure}")

    endpoint: dict[str, Any] | None = None

    def read_endpoint() -> None:
        nonlocal endpoint
        endpoint = describe_endpoint(aws.sagemaker, settings["endpoint_name"])

    if state.get("run_id") and state.get("deployment_key"):
        # Released first: this rollout has ended, whatever follows; other executions' claims are read next.
        ledger.release(state["deployment_key"], state["run_id"])
    attempt("reading the endpoint", read_endpoint)
    protected: set[str] | None = None

    def read_protected() -> None:
        nonlocal protected
        protected = ledger.protected_configs(time.time())

    attempt("reading the rollouts in progress", read_protected)
    if endpoint is not None and protected is not None:  # nothing is deleted without knowing what is in use
        state["serving_config_name"] = endpoint.get("EndpointConfigName")
        in_flight = config_in_flight(endpoint)
        keep = protected | ({in_flight} if in_flight else set())
        # Before the cleanup, which may delete the configs these alarms are found by.
        attempt(
            "removing rollback alarms",
            lambda: delete_rollback_alarms(aws.cloudwatch, aws.sagemaker, settings, keep),
        )
        if outcome == OUTCOME_DEPLOYED:
            attempt("cleanup", lambda: _clean_up_after_deploy(aws.sagemaker, settings, state, keep))
        elif outcome == OUTCOME_SUPERSEDED and state.get("config_name"):
            # An earlier attempt of StartRollout may have made the model (and the config) before a retry found the
            # later approval; the later approval's clean-up may already have run while this pair was claimed.
            attempt(
                "removing the superseded version's model",
                lambda: _remove_never_served(
                    aws.sagemaker, state["config_name"], keep | {endpoint["EndpointConfigName"]}
                ),
            )
    if endpoint is not None and endpoint["EndpointStatus"] == "InService":
        # While another rollout runs, its own Conclude restores autoscaling when it ends.
        attempt("restoring autoscaling", lambda: apply_autoscaling(aws, settings))
    if notes:
        state["reason"] = "; ".join([state.get("reason") or "", *notes]).lstrip("; ")
    if outcome != OUTCOME_IGNORED:  # a registration, or a rejection of a version not serving: nothing to say
        subject, message = summary_message(state, settings)
        aws.sns.publish(
            TopicArn=settings["topic_arn"],
            Subject=subject,
            Message=message,
            MessageAttributes={"outcome": {"DataType": "String", "StringValue": outcome}},
        )
    try:
        ledger.record_report(report_key, {"outcome": outcome, "reason": state.get("reason") or ""})
    except (ClientError, BotoCoreError) as failure:
        # Published already: failing the step now would publish again on its retry. Only a second fault (the
        # invocation lost after this) could then repeat the message.
        logger.warning("published, but could not record the report of %s: %s", report_key, failure)
    logger.info("outcome %s: %s", outcome, state.get("reason"))
    return state


def _error_text(error: Mapping[str, Any]) -> str:
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        cause = parsed.get("errorMessage") or cause
    except (TypeError, ValueError):
        pass
    return f"{error.get('Error', 'Error')}: {cause}"[:1000]


def delete_rollback_alarms(cloudwatch: Any, sagemaker: Any, settings: Mapping[str, Any], keep: set[str]) -> None:
    """Delete the rollback alarms of this endpoint's configs, except those of configs in `keep` (being rolled out).

    By name (the form in which SageMaker's guide grants DescribeAlarms on rollback alarms), for every config of
    the endpoint, so alarms left by a stopped execution go too.
    """
    names = [
        name
        for config in list_own_configs(sagemaker, settings)
        if config["EndpointConfigName"] not in keep
        for name in rollback_alarm_names(config["EndpointConfigName"])
    ]
    for start in range(0, len(names), 100):  # DescribeAlarms and DeleteAlarms take at most 100 names
        alarms = cloudwatch.describe_alarms(AlarmNames=names[start : start + 100])["MetricAlarms"]
        existing = [alarm["AlarmName"] for alarm in alarms]
        if existing:
            cloudwatch.delete_alarms(AlarmNames=existing)


def _clean_up_after_deploy(sagemaker: Any, settings: Mapping[str, Any], state: dict[str, Any], keep: set[str]) -> None:
    serving = sagemaker.describe_endpoint_config(EndpointConfigName=state["config_name"])
    sagemaker.add_tags(ResourceArn=serving["EndpointConfigArn"], Tags=[{"Key": SERVED_TAG, "Value": "true"}])
    configs = [
        {
            "name": config["EndpointConfigName"],
            "created": config["CreationTime"],
            "served": SERVED_TAG in resource_tags(sagemaker, config["EndpointConfigArn"]),
        }
        for config in list_own_configs(sagemaker, settings)
    ]
    started_at = datetime.fromisoformat(state["started_at"]) if state.get("started_at") else now()
    kept_versions = settings["previous_versions_kept"]
    doomed = [
        name for name in configs_to_delete(configs, state["config_name"], kept_versions, started_at) if name not in keep
    ]
    for name in doomed:
        _delete_model_and_config(sagemaker, name)
    state["deleted_configs"] = doomed


def _remove_never_served(sagemaker: Any, name: str, keep: set[str]) -> None:
    """Delete the model and config `name` unless kept or once served (a served one is a kept previous version
    that approving it again reuses). Both are re-made by StartRollout if this version is approved again."""
    if name in keep:
        return
    config = describe_config(sagemaker, name)
    if config is not None and SERVED_TAG in resource_tags(sagemaker, config["EndpointConfigArn"]):
        return
    _delete_model_and_config(sagemaker, name)


def _delete_model_and_config(sagemaker: Any, name: str) -> None:
    # The model first: a step run again finds the config still listed and finishes the pair.
    ignore_missing(sagemaker.delete_model, ModelName=name)
    ignore_missing(sagemaker.delete_endpoint_config, EndpointConfigName=name)


def list_own_configs(sagemaker: Any, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    prefix = versioned_prefix(settings["endpoint_name"])
    configs = []
    for page in sagemaker.get_paginator("list_endpoint_configs").paginate(NameContains=prefix):
        configs.extend(c for c in page["EndpointConfigs"] if c["EndpointConfigName"].startswith(prefix))
    return configs


def list_own_models(sagemaker: Any, settings: Mapping[str, Any]) -> list[str]:
    prefix = versioned_prefix(settings["endpoint_name"])
    names = []
    for page in sagemaker.get_paginator("list_models").paginate(NameContains=prefix):
        names.extend(m["ModelName"] for m in page["Models"] if m["ModelName"].startswith(prefix))
    return names


handler = step_handler(run)
