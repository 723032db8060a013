"""Step `Conclude` (also `ReportError`): clean up, restore autoscaling, remove rollback alarms, report on SNS.

Every execution ends here whatever happened, so this is where what a rollout changed is put back: autoscaling is
registered again whenever the endpoint is InService, and the rollback alarms of configs no longer being rolled
out are deleted. Each of those is tried on its own; a failure is reported, never hides the outcome.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .autoscaling import apply_autoscaling
from .aws import Clients, describe_endpoint, ignore_missing, now, resource_tags, step_handler
from .decisions import OUTCOME_DEPLOYED, OUTCOME_FAILED, config_in_flight, configs_to_delete, summary_message
from .names import SERVED_TAG, versioned_prefix
from .requests import rollback_alarm_names

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)


def run(state: Mapping[str, Any], settings: Mapping[str, Any], aws: Clients) -> dict[str, Any]:
    state = dict(state)
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
        except (ClientError, BotoCoreError) as failure:
            notes.append(f"{what} failed: {failure}")

    endpoint: dict[str, Any] | None = None

    def read_endpoint() -> None:
        nonlocal endpoint
        endpoint = describe_endpoint(aws.sagemaker, settings["endpoint_name"])

    attempt("reading the endpoint", read_endpoint)
    if endpoint is not None:
        state["serving_config_name"] = endpoint.get("EndpointConfigName")
        in_flight = config_in_flight(endpoint)
        # Before the cleanup, which may delete the configs these alarms are found by.
        attempt(
            "removing rollback alarms",
            lambda: delete_rollback_alarms(aws.cloudwatch, aws.sagemaker, settings, in_flight),
        )
    if outcome == OUTCOME_DEPLOYED:
        attempt("cleanup", lambda: _clean_up_after_deploy(aws.sagemaker, settings, state))
    if endpoint is not None and endpoint["EndpointStatus"] == "InService":
        # While another rollout runs, its own Conclude restores autoscaling when it ends.
        attempt("restoring autoscaling", lambda: apply_autoscaling(aws, settings))
    if notes:
        state["reason"] = "; ".join([state.get("reason") or "", *notes]).lstrip("; ")
    subject, message = summary_message(state, settings)
    aws.sns.publish(
        TopicArn=settings["topic_arn"],
        Subject=subject,
        Message=message,
        MessageAttributes={"outcome": {"DataType": "String", "StringValue": outcome}},
    )
    LOGGER.info("outcome %s: %s", outcome, state.get("reason"))
    return state


def _error_text(error: Mapping[str, Any]) -> str:
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        cause = parsed.get("errorMessage") or cause
    except (TypeError, ValueError):
        pass
    return f"{error.get('Error', 'Error')}: {cause}"[:1000]


def delete_rollback_alarms(cloudwatch: Any, sagemaker: Any, settings: Mapping[str, Any], in_flight: str | None) -> None:
    """Delete the rollback alarms of this endpoint's configs, except those of a config still being rolled out.

    By name (the form in which SageMaker's guide grants DescribeAlarms on rollback alarms), for every config of
    the endpoint, so alarms left by a stopped execution go too.
    """
    names = [
        name
        for config in list_own_configs(sagemaker, settings)
        if config["EndpointConfigName"] != in_flight
        for name in rollback_alarm_names(config["EndpointConfigName"])
    ]
    for start in range(0, len(names), 100):  # DescribeAlarms and DeleteAlarms take at most 100 names
        alarms = cloudwatch.describe_alarms(AlarmNames=names[start : start + 100])["MetricAlarms"]
        existing = [alarm["AlarmName"] for alarm in alarms]
        if existing:
            cloudwatch.delete_alarms(AlarmNames=existing)


def _clean_up_after_deploy(sagemaker: Any, settings: Mapping[str, Any], state: dict[str, Any]) -> None:
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
    doomed = configs_to_delete(configs, state["config_name"], settings["previous_versions_kept"], started_at)
    for name in doomed:
        ignore_missing(sagemaker.delete_endpoint_config, EndpointConfigName=name)
        ignore_missing(sagemaker.delete_model, ModelName=name)
    state["deleted_configs"] = doomed


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
