"""What the model registry, S3, the endpoint and the deploy workflow hold: the approver's reads, one call chain each."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tools.approver.environment import ApproverError, Aws, Environment

# ModelApprovalStatus values of a model package (SageMaker API reference).
PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
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


def package_summaries(env: Environment, aws: Aws, status: str | None = None) -> Iterator[dict[str, Any]]:
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
    for summary in package_summaries(env, aws):
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
