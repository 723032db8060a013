"""The commands' results as text for a terminal (`--json` prints them as they are)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from tools.approver.queries import APPROVED


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
