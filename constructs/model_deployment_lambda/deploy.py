"""The deploy workflow's steps, run as Lambda handlers by the Step Functions state machine of `ModelDeployment`.

The state machine passes one JSON object (the *state*) from step to step; every handler takes it and returns it
updated. The pure helpers at the top (names, the endpoint config and DeploymentConfig requests, the decision on
the outcome, what to clean up) hold the rules; the handlers below only call AWS.

- `prepare`: from the approval event (or the state, when it loops while the endpoint is busy) decide what to do:
  `deploy`, `wait` (the endpoint is being created or updated) or `conclude` (no-op, skipped, or gave up waiting).
- `start_rollout`: create the Model and EndpointConfig for the package version (idempotent), then create the
  endpoint or update it with a blue/green DeploymentConfig and auto-rollback alarms.
- `check_endpoint`: read the endpoint and decide: still in progress, deployed, rolled back or failed.
- `conclude`: on success clean up old configs and models; register autoscaling; publish the outcome on SNS.
- `teardown`: CloudFormation custom resource: on Delete, remove the endpoint and every config and model it made.

Settings arrive in the `DEPLOY_SETTINGS` environment variable (JSON written by the construct).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)

NAME_LIMIT = 63
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# Configs and models are named `<prefix>-v<version>-<hash>`: a prefix of at most 40 characters leaves room for a
# 12-digit version. The construct scopes IAM to `<prefix>-*` with the same function.
PREFIX_LIMIT = 40
HASH_LENGTH = 8

DEPLOYMENT_KEY_TAG = "mlops:deployment-key"
PACKAGE_TAG = "mlops:model-package-arn"
SERVED_TAG = "mlops:served"

# The endpoint cannot take an update in these states: wait for them to end.
BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
POLL_SECONDS = 60

OUTCOME_DEPLOYED = "deployed"
OUTCOME_ROLLED_BACK = "rolled_back"
OUTCOME_FAILED = "failed"
OUTCOME_NOOP = "noop"
OUTCOME_SKIPPED = "skipped"

_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})


# ---------------------------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------------------------


def name_prefix(endpoint_name: str) -> str:
    """The prefix of every config and model name of this endpoint; the endpoint name itself when short enough."""
    if not NAME_PATTERN.fullmatch(endpoint_name):
        raise ValueError(f"endpoint name {endpoint_name!r} is not a valid SageMaker name")
    if len(endpoint_name) <= PREFIX_LIMIT:
        return endpoint_name
    digest = hashlib.sha256(endpoint_name.encode()).hexdigest()[:HASH_LENGTH]
    head = endpoint_name[: PREFIX_LIMIT - HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"


def settings_hash(settings: Mapping[str, Any], package_arn: str) -> str:
    """A short hash of everything that goes into the Model and the EndpointConfig: a change makes new names."""
    relevant = {key: settings.get(key) for key in ENDPOINT_CONFIG_KEYS}
    relevant["package_arn"] = package_arn
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:HASH_LENGTH]


ENDPOINT_CONFIG_KEYS = (
    "model_role_arn",
    "kms_key_arn",
    "data_capture_s3_uri",
    "instance_type",
    "instance_count",
    "variant_name",
    "container_startup_health_check_timeout_seconds",
    "model_data_download_timeout_seconds",
    "data_capture_percent",
)


def resource_name(prefix: str, version: int, digest: str) -> str:
    """`<prefix>-v<version>-<hash>`: the name of the Model and of the EndpointConfig for one package version."""
    name = f"{prefix}-v{version}-{digest}"
    if len(name) > NAME_LIMIT or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"cannot name the model for version {version}: {name!r} is not a valid name of at most 63")
    return name


def deployment_key(package_arn: str, last_modified: str) -> str:
    """One approval of one package: duplicate events share it, a later re-approval does not."""
    return hashlib.sha256(f"{package_arn}|{last_modified}".encode()).hexdigest()[:16]


def endpoint_config_request(settings: Mapping[str, Any], config_name: str, model_name: str) -> dict[str, Any]:
    variant = {
        "VariantName": settings["variant_name"],
        "ModelName": model_name,
        "InstanceType": settings["instance_type"],
        "InitialInstanceCount": settings["instance_count"],
        "InitialVariantWeight": 1.0,
        # Without it a model that cannot start keeps the endpoint Creating for about an hour.
        "ContainerStartupHealthCheckTimeoutInSeconds": settings["container_startup_health_check_timeout_seconds"],
        "ModelDataDownloadTimeoutInSeconds": settings["model_data_download_timeout_seconds"],
    }
    request: dict[str, Any] = {
        "EndpointConfigName": config_name,
        "ProductionVariants": [variant],
        "KmsKeyId": settings["kms_key_arn"],  # the ML storage volumes of the instances
    }
    if settings["data_capture_percent"] > 0:
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": settings["data_capture_percent"],
            "DestinationS3Uri": settings["data_capture_s3_uri"],
            "KmsKeyId": settings["kms_key_arn"],
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
        }
    return request


def deployment_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The blue/green DeploymentConfig of UpdateEndpoint, with auto-rollback on this endpoint's alarms."""
    routing: dict[str, Any] = {
        "Type": settings["traffic_routing"],
        "WaitIntervalInSeconds": settings["traffic_wait_seconds"],
    }
    step = {"Type": "CAPACITY_PERCENT", "Value": settings["traffic_step_percent"]}
    if settings["traffic_routing"] == "CANARY":
        routing["CanarySize"] = step
    elif settings["traffic_routing"] == "LINEAR":
        routing["LinearStepSize"] = step
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": settings["termination_wait_seconds"],
            "MaximumExecutionTimeoutInSeconds": settings["max_execution_timeout_seconds"],
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in settings["alarm_names"]]},
    }


def update_endpoint_request(settings: Mapping[str, Any], endpoint_name: str, config_name: str) -> dict[str, Any]:
    request: dict[str, Any] = {
        "EndpointName": endpoint_name,
        "EndpointConfigName": config_name,
        "DeploymentConfig": deployment_config(settings),
    }
    if settings.get("autoscaling"):
        # Keep the instance count autoscaling reached; the data capture settings still come from the new config.
        request["RetainAllVariantProperties"] = True
        request["ExcludeRetainedVariantProperties"] = [{"VariantPropertyType": "DataCaptureConfig"}]
    return request


def decide_outcome(endpoint: Mapping[str, Any] | None, target_config: str) -> tuple[str, str]:
    """From DescribeEndpoint after a rollout: ("in_progress" | deployed | rolled_back | failed, reason).

    A failed or alarmed blue/green update rolls back and still ends InService: only the endpoint's current
    EndpointConfigName tells whether the new config is serving.
    """
    if endpoint is None:
        return OUTCOME_FAILED, "the endpoint no longer exists (deleted during the rollout?)"
    status = endpoint["EndpointStatus"]
    current = endpoint.get("EndpointConfigName")
    failure = endpoint.get("FailureReason")
    if status in BUSY_STATUSES - {"Deleting"}:
        return "in_progress", f"endpoint is {status}"
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


def busy_limit(settings: Mapping[str, Any]) -> int:
    """How many POLL_SECONDS checks to wait for a busy endpoint or a rollout: its timeout plus an hour to create."""
    return math.ceil((settings["max_execution_timeout_seconds"] + 3600) / POLL_SECONDS)


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
    return subject[:100], json.dumps(body, indent=2)


# ---------------------------------------------------------------------------------------------------------------
# AWS access
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Clients:
    sagemaker: Any
    sns: Any
    autoscaling: Any
    stepfunctions: Any


def aws_clients() -> Clients:
    return Clients(
        sagemaker=boto3.client("sagemaker", config=_BOTO_CONFIG),
        sns=boto3.client("sns", config=_BOTO_CONFIG),
        autoscaling=boto3.client("application-autoscaling", config=_BOTO_CONFIG),
        stepfunctions=boto3.client("stepfunctions", config=_BOTO_CONFIG),
    )


def load_settings() -> dict[str, Any]:
    return json.loads(os.environ["DEPLOY_SETTINGS"])


def _is_missing(error: ClientError) -> bool:
    message = error.response.get("Error", {}).get("Message", "")
    code = error.response.get("Error", {}).get("Code", "")
    return code in {"ValidationException", "ResourceNotFound", "ObjectNotFoundException"} and (
        "Could not find" in message or "not found" in message.lower() or code == "ObjectNotFoundException"
    )


def _describe_endpoint(sagemaker: Any, endpoint_name: str) -> dict[str, Any] | None:
    try:
        return sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if _is_missing(error):
            return None
        raise


def _endpoint_tags(sagemaker: Any, endpoint_arn: str) -> dict[str, str]:
    tags = sagemaker.list_tags(ResourceArn=endpoint_arn).get("Tags", [])
    return {tag["Key"]: tag["Value"] for tag in tags}


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------------------------------------------------------
# Workflow steps
# ---------------------------------------------------------------------------------------------------------------


def prepare(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return run_prepare(event, load_settings(), aws_clients())


def run_prepare(event: Mapping[str, Any], settings: Mapping[str, Any], aws: Clients) -> dict[str, Any]:
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
    metadata = package.get("CustomerMetadataProperties") or {}
    digest = settings_hash(settings, package["ModelPackageArn"])
    name = resource_name(name_prefix(endpoint_name), version, digest)
    state.update(
        package_version=version,
        auc=metadata.get("auc"),
        config_name=name,
        model_name=name,
        deployment_key=deployment_key(package["ModelPackageArn"], _iso(package.get("LastModifiedTime"))),
    )

    if package.get("ModelPackageGroupName") != settings["model_package_group_name"]:
        return _conclude_with(state, OUTCOME_SKIPPED, f"package is not in group {settings['model_package_group_name']}")
    if package.get("ModelApprovalStatus") != "Approved":
        return _conclude_with(
            state, OUTCOME_SKIPPED, f"package is {package.get('ModelApprovalStatus')} now, no longer Approved"
        )

    endpoint = _describe_endpoint(aws.sagemaker, endpoint_name)
    if endpoint is None:
        state.update(action="deploy", mode="create", previous_config_name=None, reason="first deployment")
        return state
    status = endpoint["EndpointStatus"]
    current = endpoint.get("EndpointConfigName")
    state["previous_config_name"] = current
    if _endpoint_tags(aws.sagemaker, endpoint["EndpointArn"]).get(DEPLOYMENT_KEY_TAG) == state["deployment_key"]:
        return _conclude_with(
            state, OUTCOME_NOOP, f"duplicate event: this approval was already rolled out (endpoint on {current})"
        )
    if status == "InService" and current == name:
        return _conclude_with(state, OUTCOME_NOOP, f"version {version} is already serving ({current})")
    if status in BUSY_STATUSES:
        checks = int(state.get("busy_checks", 0)) + 1
        state["busy_checks"] = checks
        if checks > busy_limit(settings):
            return _conclude_with(
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


def _conclude_with(state: dict[str, Any], outcome: str, reason: str) -> dict[str, Any]:
    state.update(action="conclude", outcome=outcome, reason=reason)
    return state


def start_rollout(state: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return run_start_rollout(state, load_settings(), aws_clients())


def run_start_rollout(state: Mapping[str, Any], settings: Mapping[str, Any], aws: Clients) -> dict[str, Any]:
    state = dict(state)
    sagemaker = aws.sagemaker
    endpoint_name = settings["endpoint_name"]
    _ensure_model(sagemaker, settings, state)
    _ensure_endpoint_config(sagemaker, settings, state)
    state["started_at"] = _now().isoformat()
    state["rollout_checks"] = 0

    if state["mode"] == "recreate":
        # A Failed endpoint cannot be updated: delete it, then wait and prepare again (it will be created).
        sagemaker.delete_endpoint(EndpointName=endpoint_name)
        state.update(rollout="busy", action="wait", reason="deleted the Failed endpoint to create it again")
        return state

    tags = [
        {"Key": DEPLOYMENT_KEY_TAG, "Value": state["deployment_key"]},
        {"Key": PACKAGE_TAG, "Value": state["package_arn"]},
    ]
    try:
        if state["mode"] == "create":
            sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=state["config_name"], Tags=tags)
        else:
            _pause_autoscaling_if_instance_type_changes(aws, settings, state)
            sagemaker.update_endpoint(**update_endpoint_request(settings, endpoint_name, state["config_name"]))
            # Tagged only once the update is accepted: a duplicate that lost the race then finds it and stops.
            endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
            sagemaker.add_tags(ResourceArn=endpoint["EndpointArn"], Tags=tags)
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", "")
        if error.response.get("Error", {}).get("Code") == "ValidationException" and (
            "already existing" in message or "in-progress" in message or "in progress" in message
        ):
            # Another execution started a rollout between our check and our call: wait for it.
            state.update(rollout="busy", action="wait", reason=f"endpoint became busy: {message}")
            return state
        raise
    state.update(rollout="started", reason=f"{state['mode']} started with {state['config_name']}")
    return state


def _ensure_model(sagemaker: Any, settings: Mapping[str, Any], state: Mapping[str, Any]) -> None:
    try:
        sagemaker.describe_model(ModelName=state["model_name"])
        return
    except ClientError as error:
        if not _is_missing(error):
            raise
    sagemaker.create_model(
        ModelName=state["model_name"],
        ExecutionRoleArn=settings["model_role_arn"],
        Containers=[{"ModelPackageName": state["package_arn"]}],
        Tags=[{"Key": PACKAGE_TAG, "Value": state["package_arn"]}],
    )


def _ensure_endpoint_config(sagemaker: Any, settings: Mapping[str, Any], state: Mapping[str, Any]) -> None:
    try:
        sagemaker.describe_endpoint_config(EndpointConfigName=state["config_name"])
        return
    except ClientError as error:
        if not _is_missing(error):
            raise
    request = endpoint_config_request(settings, state["config_name"], state["model_name"])
    sagemaker.create_endpoint_config(**request, Tags=[{"Key": PACKAGE_TAG, "Value": state["package_arn"]}])


def _scalable_resource(settings: Mapping[str, Any]) -> str:
    return f"endpoint/{settings['endpoint_name']}/variant/{settings['variant_name']}"


def _pause_autoscaling_if_instance_type_changes(aws: Clients, settings: Mapping[str, Any], state: Mapping[str, Any]):
    # SageMaker rejects an update that changes the instance type of an autoscaled variant; `conclude` registers
    # autoscaling again whatever the outcome.
    previous = state.get("previous_config_name")
    if not settings.get("autoscaling") or not previous:
        return
    try:
        old = aws.sagemaker.describe_endpoint_config(EndpointConfigName=previous)
    except ClientError as error:
        if _is_missing(error):
            return
        raise
    old_types = {variant.get("InstanceType") for variant in old["ProductionVariants"]}
    if old_types != {settings["instance_type"]}:
        _deregister_autoscaling(aws, settings)


def check_endpoint(state: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return run_check_endpoint(state, load_settings(), aws_clients())


def run_check_endpoint(state: Mapping[str, Any], settings: Mapping[str, Any], aws: Clients) -> dict[str, Any]:
    state = dict(state)
    endpoint = _describe_endpoint(aws.sagemaker, settings["endpoint_name"])
    outcome, reason = decide_outcome(endpoint, state["config_name"])
    state["rollout_checks"] = int(state.get("rollout_checks", 0)) + 1
    state["serving_config_name"] = endpoint.get("EndpointConfigName") if endpoint else None
    if outcome == "in_progress":
        if state["rollout_checks"] > busy_limit(settings):
            state.update(
                rollout="done",
                outcome=OUTCOME_FAILED,
                reason=f"gave up after {state['rollout_checks'] - 1} checks: {reason}; the rollout may still end",
            )
        else:
            state.update(rollout="in_progress", reason=reason)
        return state
    state.update(rollout="done", outcome=outcome, reason=reason)
    return state


def conclude(state: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return run_conclude(state, load_settings(), aws_clients())


def run_conclude(state: Mapping[str, Any], settings: Mapping[str, Any], aws: Clients) -> dict[str, Any]:
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
    endpoint = _describe_endpoint(aws.sagemaker, settings["endpoint_name"])
    if endpoint is not None:
        state["serving_config_name"] = endpoint.get("EndpointConfigName")
    if outcome == OUTCOME_DEPLOYED:
        try:
            _mark_served(aws.sagemaker, state["config_name"])
            state["deleted_configs"] = _clean_up(aws.sagemaker, settings, state)
        except ClientError as cleanup_error:  # the deployment stands; say what was left behind
            notes.append(f"cleanup failed: {cleanup_error}")
    if endpoint is not None and endpoint["EndpointStatus"] == "InService":
        try:
            _apply_autoscaling(aws, settings)
        except ClientError as scaling_error:
            notes.append(f"autoscaling not applied: {scaling_error}")
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


def _mark_served(sagemaker: Any, config_name: str) -> None:
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    sagemaker.add_tags(ResourceArn=config["EndpointConfigArn"], Tags=[{"Key": SERVED_TAG, "Value": "true"}])


def _list_own_configs(sagemaker: Any, prefix: str) -> list[dict[str, Any]]:
    configs = []
    for page in sagemaker.get_paginator("list_endpoint_configs").paginate(NameContains=f"{prefix}-v"):
        configs.extend(c for c in page["EndpointConfigs"] if c["EndpointConfigName"].startswith(f"{prefix}-v"))
    return configs


def _list_own_models(sagemaker: Any, prefix: str) -> list[str]:
    names = []
    for page in sagemaker.get_paginator("list_models").paginate(NameContains=f"{prefix}-v"):
        names.extend(m["ModelName"] for m in page["Models"] if m["ModelName"].startswith(f"{prefix}-v"))
    return names


def _clean_up(sagemaker: Any, settings: Mapping[str, Any], state: Mapping[str, Any]) -> list[str]:
    prefix = name_prefix(settings["endpoint_name"])
    configs = []
    for config in _list_own_configs(sagemaker, prefix):
        tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=config["EndpointConfigArn"])["Tags"]}
        configs.append(
            {"name": config["EndpointConfigName"], "created": config["CreationTime"], "served": SERVED_TAG in tags}
        )
    started_at = datetime.fromisoformat(state["started_at"]) if state.get("started_at") else _now()
    doomed = configs_to_delete(configs, state["config_name"], settings["previous_versions_kept"], started_at)
    for name in doomed:
        _ignore_missing(sagemaker.delete_endpoint_config, EndpointConfigName=name)
        _ignore_missing(sagemaker.delete_model, ModelName=name)
    return doomed


def _ignore_missing(call: Any, **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except ClientError as error:
        if not _is_missing(error):
            raise


def _apply_autoscaling(aws: Clients, settings: Mapping[str, Any]) -> None:
    scaling = settings.get("autoscaling")
    if not scaling:
        _deregister_autoscaling(aws, settings)
        return
    resource = _scalable_resource(settings)
    aws.autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=scaling["min_instances"],
        MaxCapacity=scaling["max_instances"],
    )
    aws.autoscaling.put_scaling_policy(
        PolicyName=f"{settings['endpoint_name']}-invocations-per-instance",
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=SCALABLE_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(scaling["target_invocations_per_instance"]),
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    )


def _deregister_autoscaling(aws: Clients, settings: Mapping[str, Any]) -> None:
    try:
        aws.autoscaling.deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=_scalable_resource(settings), ScalableDimension=SCALABLE_DIMENSION
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {"ObjectNotFoundException", "ValidationException"}:
            raise


# ---------------------------------------------------------------------------------------------------------------
# Teardown (CloudFormation custom resource, only in environments whose removal policy is destroy)
# ---------------------------------------------------------------------------------------------------------------


def teardown(event: dict[str, Any], context: Any) -> None:
    status, reason = "SUCCESS", "nothing to do"
    try:
        if event["RequestType"] == "Delete":
            deadline = time.monotonic() + max(context.get_remaining_time_in_millis() / 1000 - 60, 0)
            removed = run_teardown(load_settings(), aws_clients(), deadline)
            reason = f"removed {len(removed)} SageMaker resources"
    except Exception as error:  # CloudFormation must get an answer whatever happened
        LOGGER.exception("teardown failed")
        status, reason = "FAILED", f"{type(error).__name__}: {error}"[:900]
    send_cfn_response(event, context, status, reason)


def run_teardown(settings: Mapping[str, Any], aws: Clients, deadline: float, sleep: Any = time.sleep) -> list[str]:
    """Stop running deployments, delete the endpoint, then every config and model with this endpoint's prefix."""
    removed: list[str] = []
    machine = settings.get("state_machine_arn")
    if machine:
        for page in aws.stepfunctions.get_paginator("list_executions").paginate(
            stateMachineArn=machine, statusFilter="RUNNING"
        ):
            for execution in page["executions"]:
                aws.stepfunctions.stop_execution(executionArn=execution["executionArn"], cause="stack deleted")
    endpoint_name = settings["endpoint_name"]
    endpoint = _describe_endpoint(aws.sagemaker, endpoint_name)
    while endpoint is not None and endpoint["EndpointStatus"] in BUSY_STATUSES - {"Deleting"}:
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"endpoint {endpoint_name} is still {endpoint['EndpointStatus']}: retry the deletion when it ends"
            )
        sleep(15)
        endpoint = _describe_endpoint(aws.sagemaker, endpoint_name)
    _deregister_autoscaling(aws, settings)
    if endpoint is not None and endpoint["EndpointStatus"] != "Deleting":
        aws.sagemaker.delete_endpoint(EndpointName=endpoint_name)
        removed.append(f"endpoint/{endpoint_name}")
    prefix = name_prefix(endpoint_name)
    for config in _list_own_configs(aws.sagemaker, prefix):
        _ignore_missing(aws.sagemaker.delete_endpoint_config, EndpointConfigName=config["EndpointConfigName"])
        removed.append(f"endpoint-config/{config['EndpointConfigName']}")
    for model in _list_own_models(aws.sagemaker, prefix):
        _ignore_missing(aws.sagemaker.delete_model, ModelName=model)
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
        LOGGER.info("CloudFormation response: %s", response.status)
