"""The approvers' command line: what waits for approval, what it scored, approve or reject it, what serves.

    make approver ARGS="pending dev"
    .venv/bin/python -m tools.approver [--json] [--profile NAME] COMMAND ENV [VERSION] [--note TEXT]

    pending ENV                         versions waiting for approval, their ROC-AUC against the serving model's
    show ENV VERSION                    metrics, comparison with the serving model, the data's origin, report link
    approve ENV VERSION --note TEXT     Approved (starts the deploy workflow); the note is the approval description
    reject ENV VERSION --note TEXT      Rejected; nothing is deployed or undeployed
    status ENV                          what serves, the endpoint's status, the last deployment, deployments running

Names and the region come from cdk.json through settings/config.py and settings/names.py; credentials from boto3's
default chain (AWS_PROFILE, `aws sso login`, environment variables, instance roles) or `--profile`. Plain text by
default, `--json` for scripts. Any failure is one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from settings import names
from settings.config import ConfigError, environment_settings, parse_environment

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"
PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
# UpdateModelPackage's ApprovalDescription: at most 1024 characters (botocore's service model).
NOTE_LIMIT = 1024
REPORT_LINK_SECONDS = 3600
# The sections of evaluation.json that ml_code/evaluate.py writes and `show` lays out; anything else is listed as is.
KNOWN_DETAILS = {
    "test_rows",
    "test_positive_rate",
    "auc_confidence_interval_95",
    "bootstrap_samples",
    "at_threshold_0_5",
    "best_f1_threshold",
    "at_best_f1_threshold",
    "confusion_matrix_at_best_f1_threshold",
    "calibration",
}
# Optional sections of evaluation.json (the champion comparison, every environment's threshold): laid out when
# present; runs from before they existed lack them.
CHAMPION_SECTION = "champion_comparison"
THRESHOLDS_SECTION = "thresholds"
LAID_OUT_SECTIONS = ("binary_classification_metrics", "evaluation_details", CHAMPION_SECTION, THRESHOLDS_SECTION)
# A pipeline-registered package's MetadataProperties.GeneratedBy is the execution that registered it.
_EXECUTION_ARN = re.compile(r"^arn:[^:]+:sagemaker:[^:]*:\d*:pipeline/[^/]+/execution/[^/]+$")
_CREDENTIAL_ERROR_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
}
_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5})


class ApproverError(Exception):
    """What went wrong, as one line for the approver."""


@dataclass(frozen=True)
class Environment:
    name: str
    region: str
    account: str | None
    auc_threshold: float
    model_package_group: str
    endpoint: str
    deploy_state_machine: str


@dataclass(frozen=True)
class Aws:
    sagemaker: Any
    s3: Any
    stepfunctions: Any
    sts: Any


def load_environment(name: str) -> Environment:
    try:
        environments = environment_settings(json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"])
    except ConfigError as error:
        raise ApproverError(f"cdk.json: {error}") from None
    if name not in environments:
        raise ApproverError(f"unknown environment '{name}': cdk.json defines {', '.join(sorted(environments))}")
    try:
        config = parse_environment(name, environments[name])
    except ConfigError as error:
        raise ApproverError(f"cdk.json: {error}") from None
    return Environment(
        name=name,
        region=config.region,
        account=config.account,
        auc_threshold=config.training.auc_threshold,
        model_package_group=names.model_package_group_name(name),
        endpoint=names.endpoint_name(name),
        deploy_state_machine=names.deploy_state_machine_name(name),
    )


def aws_clients(region: str, profile: str | None = None) -> Aws:
    session = boto3.Session(profile_name=profile, region_name=region)
    return Aws(
        sagemaker=session.client("sagemaker", config=_RETRIES),
        # Report links: objects under SSE-KMS need SigV4 (boto3 presigns with SigV2 unless told), and the regional
        # virtual-hosted endpoint avoids the global endpoint's redirect for buckets outside us-east-1.
        s3=session.client(
            "s3", config=_RETRIES.merge(Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
        ),
        stepfunctions=session.client("stepfunctions", config=_RETRIES),
        sts=session.client("sts", config=_RETRIES),
    )


# ---------------------------------------------------------------------------------------------------------------
# Reading what the registry, S3, the endpoint and the deploy workflow hold
# ---------------------------------------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _split_s3_uri(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri or "")
    if not match:
        raise ApproverError(f"not an s3:// URI: {uri!r}")
    return match.group(1), match.group(2)


def _is_missing(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    return code in {"ResourceNotFound", "NoSuchKey", "404"} or (
        code == "ValidationException" and ("not exist" in message or "not found" in message or "Could not" in message)
    )


def require_group(env: Environment, aws: Aws) -> None:
    try:
        aws.sagemaker.describe_model_package_group(ModelPackageGroupName=env.model_package_group)
    except ClientError as error:
        if _is_missing(error):
            raise ApproverError(
                f"model package group {env.model_package_group} does not exist in {env.region} for these "
                f"credentials: is environment '{env.name}' deployed (npx cdk deploy '{env.name}/*')?"
            ) from None
        raise


def _package_summaries(env: Environment, aws: Aws, status: str | None = None) -> Iterator[dict[str, Any]]:
    request: dict[str, Any] = {
        "ModelPackageGroupName": env.model_package_group,
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
    }
    if status:
        request["ModelApprovalStatus"] = status
    for page in aws.sagemaker.get_paginator("list_model_packages").paginate(**request):
        yield from page["ModelPackageSummaryList"]


def find_package(env: Environment, aws: Aws, version: int) -> dict[str, Any]:
    """DescribeModelPackage of one version of the environment's group."""
    require_group(env, aws)
    versions = []
    for summary in _package_summaries(env, aws):
        if summary.get("ModelPackageVersion") == version:
            return aws.sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        versions.append(summary.get("ModelPackageVersion"))
    known = f"versions {min(versions)} to {max(versions)}" if versions else "no versions yet"
    raise ApproverError(f"{env.model_package_group} has no version {version} ({known})")


def read_evaluation(aws: Aws, package: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """(evaluation.json, None), or (None, why it could not be read)."""
    metadata = package.get("CustomerMetadataProperties") or {}
    statistics = ((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}
    uri = metadata.get("evaluation_uri") or statistics.get("S3Uri")
    if not uri:
        return None, "the package names no evaluation.json"
    bucket, key = _split_s3_uri(uri)
    try:
        body = aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        return None, f"cannot read {uri}: {error.response.get('Error', {}).get('Code')}"
    try:
        return json.loads(body), None
    except ValueError:
        return None, f"{uri} is not valid JSON"


def report_link(aws: Aws, package: Mapping[str, Any]) -> str | None:
    """A presigned GET of report.html, signed locally with the caller's credentials (no call to AWS)."""
    uri = (package.get("CustomerMetadataProperties") or {}).get("report_uri")
    if not uri:
        return None
    bucket, key = _split_s3_uri(uri)
    return aws.s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": key, "ResponseContentType": "text/html"},
        ExpiresIn=REPORT_LINK_SECONDS,
    )


def package_view(package: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    metadata = package.get("CustomerMetadataProperties") or {}
    created = package.get("CreationTime")
    return {
        "version": package.get("ModelPackageVersion"),
        "arn": package.get("ModelPackageArn"),
        "status": package.get("ModelApprovalStatus"),
        "approval_description": package.get("ApprovalDescription"),
        "registered": _iso(created),
        "age_seconds": int((now - created).total_seconds()) if isinstance(created, datetime) else None,
        "last_modified": _iso(package.get("LastModifiedTime")),
        "auc": _float(metadata.get("auc")),
        "evaluation_uri": metadata.get("evaluation_uri"),
        "report_uri": metadata.get("report_uri"),
    }


def auc_interval(evaluation: Mapping[str, Any] | None) -> list[float] | None:
    details = (evaluation or {}).get("evaluation_details") or {}
    return details.get("auc_confidence_interval_95")


def champion_comparison(evaluation: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The run's own comparison with the model serving when it trained (both scored on the same test rows), from
    evaluation.json's champion section when the run had a champion; None otherwise."""
    comparison = (evaluation or {}).get(CHAMPION_SECTION) or {}
    champion = comparison.get("champion")
    if not champion:
        return None
    difference = comparison.get("auc_difference") or {}
    return {
        "champion_model_package_arn": champion.get("model_package_arn"),
        "champion_auc": (champion.get("auc") or {}).get("value"),
        "auc_difference": difference.get("value"),
        "auc_difference_interval_95": difference.get("confidence_interval_95"),
        "gate_passes": (comparison.get("gate") or {}).get("passes"),
    }


def threshold_verdicts(evaluation: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """Every environment's threshold and whether this model clears it, from evaluation.json when it has them."""
    return ((evaluation or {}).get(THRESHOLDS_SECTION) or {}).get("environments")


def serving_model(env: Environment, aws: Aws) -> dict[str, Any]:
    """The endpoint and the package behind its current config: endpoint -> config -> model -> package."""
    try:
        endpoint = aws.sagemaker.describe_endpoint(EndpointName=env.endpoint)
    except ClientError as error:
        if _is_missing(error):
            return {"endpoint": env.endpoint, "endpoint_status": None, "package": None}
        raise
    view: dict[str, Any] = {
        "endpoint": env.endpoint,
        "endpoint_status": endpoint.get("EndpointStatus"),
        "endpoint_config": endpoint.get("EndpointConfigName"),
        "failure_reason": endpoint.get("FailureReason"),
        "last_modified": _iso(endpoint.get("LastModifiedTime")),
        "instances": [
            {
                "variant": variant.get("VariantName"),
                "current": variant.get("CurrentInstanceCount"),
                "desired": variant.get("DesiredInstanceCount"),
            }
            for variant in endpoint.get("ProductionVariants") or []
        ],
        "rolling_out_config": (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName"),
        "package": None,
    }
    if not view["endpoint_config"]:
        return view
    config = aws.sagemaker.describe_endpoint_config(EndpointConfigName=view["endpoint_config"])
    model_name = config["ProductionVariants"][0]["ModelName"]
    model = aws.sagemaker.describe_model(ModelName=model_name)
    containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
    package_arn = containers[0].get("ModelPackageName")
    view["model"] = model_name
    if package_arn:
        package = aws.sagemaker.describe_model_package(ModelPackageName=package_arn)
        metadata = package.get("CustomerMetadataProperties") or {}
        view["package"] = {
            "version": package.get("ModelPackageVersion"),
            "arn": package_arn,
            "auc": _float(metadata.get("auc")),
        }
    return view


def provenance(aws: Aws, package: Mapping[str, Any]) -> dict[str, Any]:
    """Where the model and its data came from: the registering pipeline execution and its parameters."""
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
    view: dict[str, Any] = {"model_data": containers[0].get("ModelDataUrl")}
    execution_arn = (package.get("MetadataProperties") or {}).get("GeneratedBy")
    if not execution_arn or not _EXECUTION_ARN.match(execution_arn):
        view["note"] = "the package does not name the pipeline execution that registered it"
        return view
    view["pipeline_execution"] = execution_arn
    try:
        execution = aws.sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
        parameters = aws.sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution_arn)
    except ClientError as error:
        view["note"] = f"cannot read the pipeline execution: {error.response.get('Error', {}).get('Code')}"
        return view
    view.update(
        # The trigger writes the uploaded object's URI and version into the execution's description.
        upload=execution.get("PipelineExecutionDescription"),
        execution_status=execution.get("PipelineExecutionStatus"),
        execution_started=_iso(execution.get("CreationTime")),
        parameters={item["Name"]: item["Value"] for item in parameters.get("PipelineParameters", [])},
    )
    return view


def deployments(env: Environment, aws: Aws) -> dict[str, Any]:
    """The deploy workflow's running executions and the outcome of the last finished one."""
    identity = aws.sts.get_caller_identity()
    partition = identity["Arn"].split(":")[1]
    account = identity["Account"]
    machine = f"arn:{partition}:states:{env.region}:{account}:stateMachine:{env.deploy_state_machine}"
    try:
        # Newest first (ListExecutions: "Results are sorted by time, with the most recent execution first").
        executions = aws.stepfunctions.list_executions(stateMachineArn=machine, maxResults=20)["executions"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "StateMachineDoesNotExist":
            return {"state_machine": machine, "exists": False, "running": [], "last": None}
        raise
    running = [
        {"execution": item["executionArn"], "started": _iso(item.get("startDate"))}
        for item in executions
        if item["status"] == "RUNNING"
    ]
    finished = [item for item in executions if item["status"] != "RUNNING"]
    last = None
    if finished:
        described = aws.stepfunctions.describe_execution(executionArn=finished[0]["executionArn"])
        output = _json_or_empty(described.get("output"))
        last = {
            "execution": described["executionArn"],
            "status": described["status"],
            "started": _iso(described.get("startDate")),
            "stopped": _iso(described.get("stopDate")),
            "outcome": output.get("outcome") or described.get("error"),
            "reason": output.get("reason") or described.get("cause"),
            "version": output.get("package_version") or _event_version(described.get("input")),
        }
    return {"state_machine": machine, "exists": True, "running": running, "last": last}


def _json_or_empty(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _event_version(event_text: str | None) -> Any:
    return (_json_or_empty(event_text).get("detail") or {}).get("ModelPackageVersion")


# ---------------------------------------------------------------------------------------------------------------
# Commands: each returns a JSON-serialisable dict; render_* turns it into text
# ---------------------------------------------------------------------------------------------------------------


def pending(env: Environment, aws: Aws, now: datetime) -> dict[str, Any]:
    require_group(env, aws)
    serving = serving_model(env, aws)
    serving_auc = (serving.get("package") or {}).get("auc")
    waiting = []
    for summary in _package_summaries(env, aws, PENDING):
        package = aws.sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        evaluation, problem = read_evaluation(aws, package)
        view = package_view(package, now)
        view.update(
            auc_interval_95=auc_interval(evaluation),
            auc_vs_serving=None if view["auc"] is None or serving_auc is None else view["auc"] - serving_auc,
            champion_comparison=champion_comparison(evaluation),
            report_link=report_link(aws, package),
            evaluation_problem=problem,
        )
        waiting.append(view)
    return {
        "environment": env.name,
        "model_package_group": env.model_package_group,
        "auc_threshold": env.auc_threshold,
        "serving": serving.get("package"),
        "pending": waiting,
    }


def show(env: Environment, aws: Aws, version: int, now: datetime) -> dict[str, Any]:
    package = find_package(env, aws, version)
    evaluation, problem = read_evaluation(aws, package)
    view = package_view(package, now)
    serving = serving_model(env, aws).get("package")
    scores = (evaluation or {}).get("binary_classification_metrics") or {}
    details = (evaluation or {}).get("evaluation_details") or {}
    return {
        "environment": env.name,
        "model_package_group": env.model_package_group,
        "auc_threshold": env.auc_threshold,
        "package": view,
        "metrics": {
            name: (scores.get(name) or {}).get("value")
            for name in ("auc", "pr_auc", "log_loss", "brier_score", "precision", "recall", "f1", "accuracy")
        },
        "auc_interval_95": auc_interval(evaluation),
        "test_rows": details.get("test_rows"),
        "test_positive_rate": details.get("test_positive_rate"),
        "best_f1_threshold": details.get("best_f1_threshold"),
        "serving": serving,
        "auc_vs_serving": (
            None if view["auc"] is None or not serving or serving["auc"] is None else view["auc"] - serving["auc"]
        ),
        "champion_comparison": champion_comparison(evaluation),
        "threshold_verdicts": threshold_verdicts(evaluation),
        "more_from_evaluation": _other_evaluation_fields(evaluation),
        "evaluation_problem": problem,
        "provenance": provenance(aws, package),
        "report_link": report_link(aws, package),
        "report_link_seconds": REPORT_LINK_SECONDS,
    }


def decide(env: Environment, aws: Aws, version: int, status: str, note: str, now: datetime) -> dict[str, Any]:
    """Approve or reject a version waiting for approval; the note becomes its ApprovalDescription."""
    note = note.strip()
    if not note:
        raise ApproverError("--note must say why (it is kept as the package's approval description)")
    if len(note) > NOTE_LIMIT:
        raise ApproverError(f"--note is {len(note)} characters; the approval description takes at most {NOTE_LIMIT}")
    package = find_package(env, aws, version)
    current = package.get("ModelApprovalStatus")
    if current != PENDING:
        said = f' ("{package["ApprovalDescription"]}")' if package.get("ApprovalDescription") else ""
        raise ApproverError(
            f"version {version} of {env.model_package_group} is already {current}{said}; nothing changed"
        )
    aws.sagemaker.update_model_package(
        ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus=status, ApprovalDescription=note
    )
    updated = aws.sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    return {
        "environment": env.name,
        "model_package_group": env.model_package_group,
        "endpoint": env.endpoint,
        "deploy_state_machine": env.deploy_state_machine,
        "package": package_view(updated, now),
    }


def status(env: Environment, aws: Aws) -> dict[str, Any]:
    require_group(env, aws)
    waiting = sum(1 for _ in _package_summaries(env, aws, PENDING))
    return {
        "environment": env.name,
        "serving": serving_model(env, aws),
        "deployments": deployments(env, aws),
        "pending_approvals": waiting,
    }


def _other_evaluation_fields(evaluation: Mapping[str, Any] | None) -> dict[str, Any]:
    """evaluation.json's fields beyond what `show` lays out (e.g. provenance, training details), flattened."""
    if not evaluation:
        return {}
    others = {key: value for key, value in evaluation.items() if key not in LAID_OUT_SECTIONS}
    details = evaluation.get("evaluation_details") or {}
    others.update({f"evaluation_details.{k}": v for k, v in details.items() if k not in KNOWN_DETAILS})
    return dict(_flatten(others))


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and len(value) > 6:
        yield prefix, f"[{len(value)} values]"
    else:
        yield prefix, value


# ---------------------------------------------------------------------------------------------------------------
# Text rendering
# ---------------------------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _interval(interval: Sequence[float] | None) -> str:
    return "-" if not interval else f"[{interval[0]:.4f}, {interval[1]:.4f}]"


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} d"


def _when(iso: str | None) -> str:
    """An ISO timestamp as `2026-11-27 05:46 UTC`."""
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _serving_text(serving: Mapping[str, Any] | None) -> str:
    if not serving:
        return "nothing from this group serves yet"
    return f"version {serving['version']} serves, ROC-AUC {_num(serving['auc'])}"


def _champion_lines(comparison: Mapping[str, Any] | None) -> list[str]:
    if not comparison:
        return []
    gate = {True: "passes", False: "fails", None: "not configured"}[comparison["gate_passes"]]
    return [
        f"  on the same test rows as the model serving at training time ({_num(comparison['champion_auc'])}): "
        f"{_signed(comparison['auc_difference'])}, paired 95% interval "
        f"{_interval(comparison['auc_difference_interval_95'])}; champion gate {gate}"
    ]


def _verdicts_text(verdicts: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(
        f"{item['environment']} {item['threshold']} {'passes' if item['passes'] else 'BELOW'}" for item in verdicts
    )


def render_pending(result: Mapping[str, Any]) -> str:
    waiting = result["pending"]
    lines = [
        f"{result['model_package_group']}: {len(waiting)} version(s) waiting for approval; "
        f"threshold ROC-AUC {result['auc_threshold']}; {_serving_text(result['serving'])}"
    ]
    if waiting:
        lines.append("(vs serving: the difference of each model's ROC-AUC on its own run's test split)")
        lines.append(f"{'version':>7}  {'ROC-AUC':>7}  {'95% interval':<16}  {'vs serving':>10}  {'age':>6}")
    for item in waiting:
        lines.append(
            f"{item['version']:>7}  {_num(item['auc']):>7}  {_interval(item['auc_interval_95']):<16}  "
            f"{_signed(item['auc_vs_serving']):>10}  {_age(item['age_seconds']):>6}"
        )
        lines.extend(f"       {line}" for line in _champion_lines(item["champion_comparison"]))
        if item["evaluation_problem"]:
            lines.append(f"         evaluation: {item['evaluation_problem']}")
        lines.append(f"         report: {item['report_link'] or 'the package names no report'}")
    return "\n".join(lines)


def render_show(result: Mapping[str, Any]) -> str:
    package = result["package"]
    metrics = result["metrics"]
    threshold = result["auc_threshold"]
    auc = package["auc"]
    verdict = "-" if auc is None else ("passes" if auc >= threshold else "below it")
    lines = [
        f"{result['model_package_group']} version {package['version']}: {package['status']}, registered "
        f"{_when(package['registered'])} ({_age(package['age_seconds'])} ago)",
        f"  package: {package['arn']}",
    ]
    if package["approval_description"]:
        lines.append(f"  approval note: {package['approval_description']}")
    lines.append("Metrics (test split" + (f", {result['test_rows']} rows" if result["test_rows"] else "") + ")")
    lines.append(
        f"  ROC-AUC       {_num(auc)}  95% interval {_interval(result['auc_interval_95'])}  "
        f"threshold {threshold} ({result['environment']}): {verdict}"
    )
    for label, name in (("PR-AUC", "pr_auc"), ("log loss", "log_loss"), ("Brier score", "brier_score")):
        lines.append(f"  {label:<13} {_num(metrics[name])}")
    lines.append(
        "  at 0.5        "
        + "  ".join(f"{name} {_num(metrics[name])}" for name in ("precision", "recall", "f1", "accuracy"))
    )
    if result["threshold_verdicts"]:
        lines.append("  thresholds    " + _verdicts_text(result["threshold_verdicts"]))
    if result["evaluation_problem"]:
        lines.append(f"  evaluation: {result['evaluation_problem']}")
    lines.append("Compared with the serving model")
    serving = result["serving"]
    if serving:
        lines.append(
            f"  {_serving_text(serving)}; this version {_signed(result['auc_vs_serving'])} "
            "(each on its own run's test split)"
            + (" (it is the serving version)" if serving["version"] == package["version"] else "")
        )
    else:
        lines.append(f"  {_serving_text(serving)}")
    lines.extend(_champion_lines(result["champion_comparison"]))
    origin = result["provenance"]
    lines.append("Where the data came from")
    started = _when(origin["execution_started"]) if origin.get("execution_started") else None
    for label, value in (
        ("upload", origin.get("upload")),
        ("pipeline execution", origin.get("pipeline_execution")),
        ("execution status", origin.get("execution_status")),
        ("started", started),
        ("model artifact", origin.get("model_data")),
        ("note", origin.get("note")),
    ):
        if value:
            lines.append(f"  {label}: {value}")
    for name, value in (origin.get("parameters") or {}).items():
        lines.append(f"  parameter {name}: {value}")
    if result["more_from_evaluation"]:
        lines.append("More from evaluation.json")
        lines.extend(f"  {key}: {value}" for key, value in result["more_from_evaluation"].items())
    minutes = result["report_link_seconds"] // 60
    lines.append(f"Report (link valid {minutes} min): {result['report_link'] or 'the package names no report'}")
    return "\n".join(lines)


def render_decision(result: Mapping[str, Any]) -> str:
    package = result["package"]
    head = f"{package['status']} {result['model_package_group']} version {package['version']}: {package['approval_description']}"
    if package["status"] == APPROVED:
        return (
            f"{head}\nThe deploy workflow {result['deploy_state_machine']} now rolls it out to the endpoint "
            f'{result["endpoint"]}; follow it with: make approver ARGS="status {result["environment"]}"'
        )
    return f"{head}\nNothing is deployed or undeployed by a rejection."


def render_status(result: Mapping[str, Any]) -> str:
    serving = result["serving"]
    lines = [f"environment {result['environment']}"]
    if serving["endpoint_status"] is None:
        lines.append(f"  endpoint {serving['endpoint']}: does not exist (no version deployed yet)")
    else:
        instances = ", ".join(
            f"{item['variant']} {item['current']}/{item['desired']} instances" for item in serving["instances"]
        )
        lines.append(f"  endpoint {serving['endpoint']}: {serving['endpoint_status']} ({instances})")
        lines.append(f"  serving: {_serving_text(serving['package'])}, config {serving['endpoint_config']}")
        if serving["rolling_out_config"]:
            lines.append(f"  rolling out: {serving['rolling_out_config']}")
        if serving["failure_reason"]:
            lines.append(f"  failure reason: {serving['failure_reason']}")
    deploys = result["deployments"]
    if not deploys["exists"]:
        lines.append(f"  deploy workflow: {deploys['state_machine']} does not exist")
    else:
        last = deploys["last"]
        if last:
            version = f"version {last['version']}" if last["version"] is not None else "unknown version"
            lines.append(
                f"  last deployment: {version}, {last['outcome'] or last['status']} at {_when(last['stopped'])}"
                + (f": {last['reason']}" if last["reason"] else "")
            )
        else:
            lines.append("  last deployment: none finished yet")
        lines.append(f"  deployments running: {len(deploys['running'])}")
        lines.extend(f"    {item['execution']} since {_when(item['started'])}" for item in deploys["running"])
    lines.append(
        f'  waiting for approval: {result["pending_approvals"]} (make approver ARGS="pending {result["environment"]}")'
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------


ENV_HELP = "an environment of cdk.json, e.g. dev"
VERSION_HELP = 'the model package version (make approver ARGS="pending ENV" lists them)'
OPTIONS_USAGE = "[--json] [--profile NAME]"


def _usage(arguments: str) -> str:
    return f'make approver ARGS="{arguments} {OPTIONS_USAGE}"'


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make approver",
        usage=_usage("COMMAND ENV [VERSION]"),
        description="Review, approve or reject the models of an environment.",
        epilog='e.g. make approver ARGS="pending dev", ARGS="show dev 7", ARGS="approve dev 7 --note \'...\'"',
    )
    # Accepted before or after the command (`--json pending dev`, `pending dev --json`); SUPPRESS keeps the
    # command's parser from resetting what was given before it.
    common = argparse.ArgumentParser(add_help=False)
    for options in (parser, common):
        default = {} if options is parser else {"default": argparse.SUPPRESS}
        options.add_argument("--json", action="store_true", help="print JSON for scripts instead of text", **default)
        options.add_argument(
            "--profile", metavar="NAME", help="AWS profile (default: boto3's chain, e.g. AWS_PROFILE)", **default
        )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, arguments: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, parents=[common], help=help_text, prog="make approver", usage=_usage(f"{name} {arguments}")
        )
        sub.add_argument("env", metavar="ENV", help=ENV_HELP)
        return sub

    command("pending", "versions waiting for approval", "ENV")
    command("show", "one version: metrics, comparison, data origin, report link", "ENV VERSION").add_argument(
        "version", metavar="VERSION", type=int, help=VERSION_HELP
    )
    for name in ("approve", "reject"):
        decision = command(name, f"{name} a version waiting for approval", "ENV VERSION --note TEXT")
        decision.add_argument("version", metavar="VERSION", type=int, help=VERSION_HELP)
        decision.add_argument("--note", required=True, help="why; kept as the package's approval description")
    command("status", "what serves, the last deployment, deployments running", "ENV")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, aws_factory: Callable[[str, str | None], Aws], now: datetime) -> tuple[dict, str]:
    env = load_environment(args.env)
    aws = aws_factory(env.region, args.profile)
    if env.account is not None:
        account = aws.sts.get_caller_identity()["Account"]
        if account != env.account:
            raise ApproverError(
                f"environment '{env.name}' lives in account {env.account}; these credentials are for {account}"
            )
    if args.command == "pending":
        result = pending(env, aws, now)
        return result, render_pending(result)
    if args.command == "show":
        result = show(env, aws, args.version, now)
        return result, render_show(result)
    if args.command in ("approve", "reject"):
        decision = APPROVED if args.command == "approve" else REJECTED
        result = decide(env, aws, args.version, decision, args.note, now)
        return result, render_decision(result)
    result = status(env, aws)
    return result, render_status(result)


def describe_aws_error(error: Exception) -> str:
    """One line for an error from boto3: credentials, permissions, or what AWS said."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return "no AWS credentials found: set AWS_PROFILE (or pass --profile) or run `aws sso login`"
    if isinstance(error, ProfileNotFound):
        return f"{error}: check --profile / AWS_PROFILE against `aws configure list-profiles`"
    if isinstance(
        error, CredentialRetrievalError | SSOTokenLoadError | TokenRetrievalError | UnauthorizedSSOTokenError
    ):
        return f"cannot get AWS credentials ({error}): run `aws sso login` or refresh them, then try again"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in _CREDENTIAL_ERROR_CODES:
            return f"AWS refused the credentials ({code}): refresh them (e.g. `aws sso login`) and try again"
        if "AccessDenied" in code:
            return f"access denied for {error.operation_name}: {message}"
        return f"{error.operation_name} failed: {code}: {message}"
    return f"AWS: {error}"


def main(
    argv: Sequence[str] | None = None,
    aws_factory: Callable[[str, str | None], Aws] = aws_clients,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result, text = run(args, aws_factory, datetime.now(timezone.utc))
    except ApproverError as error:
        print(f"error: {error}", file=err)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"error: {describe_aws_error(error)}", file=err)
        return 1
    print(json.dumps(result, indent=2, default=str) if args.json else text, file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
