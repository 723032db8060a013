"""The commands: pending, show, approve/reject (decide) and status, each returning a JSON-serialisable dict that
rendering.py turns into text."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from tools.approver.environment import ApproverError, Aws, Environment
from tools.approver.queries import (
    KNOWN_DETAILS,
    LAID_OUT_SECTIONS,
    PENDING,
    REPORT_LINK_SECONDS,
    auc_interval,
    champion_comparison,
    deployments,
    find_package,
    package_summaries,
    package_view,
    provenance,
    read_evaluation,
    report_link,
    require_group,
    serving_model,
    threshold_verdicts,
)

# UpdateModelPackage's ApprovalDescription: at most 1024 characters (botocore's service model).
NOTE_LIMIT = 1024


def pending(env: Environment, aws: Aws, now: datetime) -> dict[str, Any]:
    require_group(env, aws)
    serving = serving_model(env, aws)
    serving_auc = (serving.get("package") or {}).get("auc")
    waiting = []
    for summary in package_summaries(env, aws, PENDING):
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
    waiting = sum(1 for _ in package_summaries(env, aws, PENDING))
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
