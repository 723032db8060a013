"""Starts the training pipeline again when a monitoring alarm goes to ALARM (only where retraining is switched on).

Invoked by an EventBridge rule on "CloudWatch Alarm State Change" of the monitoring alarms. Guards against
retraining storms: nothing starts while a run of the pipeline is executing, nor within min_interval_hours of the
last run's start; the request token is derived from the alarm and the time of its state change, so a redelivered
event is answered with the execution it already started. The run takes the most recent run's input (the pinned
copy of the latest accepted export) with the model the endpoint serves as its champion; it registers its model as
PendingManualApproval like every run: nothing deploys without a person.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from typing import Any

from . import aws_clients
from .constants import RETRAINING_SETTINGS_VARIABLE
from .serving import serving_package

logger = logging.getLogger(__name__)
KEPT_PARAMETERS = ("InputDataUri", "InputDataVersion")


def load_settings() -> dict[str, Any]:
    """The retrainer's settings: JSON the construct writes into the variable RETRAINING_SETTINGS_VARIABLE names."""
    return json.loads(os.environ[RETRAINING_SETTINGS_VARIABLE])


def run(
    event: dict[str, Any], settings: dict[str, Any], aws: aws_clients.Clients, now: datetime | None = None
) -> dict[str, Any]:
    sagemaker = aws.sagemaker
    now = now or datetime.now(timezone.utc)
    detail = event.get("detail", {})
    if detail.get("state", {}).get("value") != "ALARM":
        return {"status": "ignored", "reason": "not a change to ALARM"}
    executions = sagemaker.list_pipeline_executions(
        PipelineName=settings["pipeline_name"], SortBy="CreationTime", SortOrder="Descending", MaxResults=20
    )["PipelineExecutionSummaries"]
    if any(item.get("PipelineExecutionStatus") in ("Executing", "Stopping") for item in executions):
        return _skipped("a run of the pipeline is executing")
    if not executions:
        return _skipped("the pipeline has never run: there is no export to retrain on")
    latest = executions[0]
    interval = timedelta(hours=settings["min_interval_hours"])
    if now - latest["StartTime"] < interval:
        return _skipped(f"the last run started less than {settings['min_interval_hours']} hours ago")
    parameters = sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=latest["PipelineExecutionArn"]
    ).get("PipelineParameters", [])
    kept = [p for p in parameters if p["Name"] in KEPT_PARAMETERS]
    package, _ = serving_package(sagemaker, settings["endpoint_name"], settings["variant_name"])
    champion = [
        {
            "Name": "ChampionModelUri",
            "Value": package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] if package else "",
        },
        {"Name": "ChampionModelPackageArn", "Value": package["ModelPackageArn"] if package else ""},
    ]
    alarm = detail.get("alarmName", "?")
    token = hashlib.sha256(f"{alarm} {detail['state'].get('timestamp')}".encode()).hexdigest()
    response = sagemaker.start_pipeline_execution(
        PipelineName=settings["pipeline_name"],
        ClientRequestToken=token,
        PipelineParameters=kept + champion,
        PipelineExecutionDisplayName=f"retrain-{token[:24]}",
        PipelineExecutionDescription=f"Retraining after alarm {alarm}"[:3072],
    )
    logger.info("retraining started after %s: %s", alarm, response["PipelineExecutionArn"])
    return {"status": "started", "pipeline_execution_arn": response["PipelineExecutionArn"]}


def _skipped(reason: str) -> dict[str, Any]:
    logger.info("no retraining: %s", reason)
    return {"status": "skipped", "reason": reason}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run(event, load_settings(), aws_clients.clients())
