"""The approvers' commands (tools/approver/): pending, show, approve/reject and status against moto, through the
command line as an approver types it (tests/infra/support/approver_registry.py holds the world they run in)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from settings import resource_names
from tests.infra.support.approver_registry import (
    ACCOUNT,
    BUCKET,
    ENV,
    GROUP,
    MACHINE_ARN,
    UPLOAD,
    Registry,
    registry_in_moto,
    run,
    run_json,
)
from tools.approver import queries


@pytest.fixture
def registry() -> Iterator[Registry]:
    yield from registry_in_moto()


# --- pending ---------------------------------------------------------------------------------------------------


def test_pending_lists_only_versions_waiting_with_auc_interval_and_the_serving_models_auc(registry) -> None:
    served = registry.register(0.921, status=queries.APPROVED)
    registry.serve(served, 1)
    registry.register(0.915, status=queries.REJECTED)
    registry.register(0.931)
    registry.register(0.925)

    result = run_json(registry, "pending", ENV)

    assert [item["version"] for item in result["pending"]] == [4, 3]  # newest first
    newest = result["pending"][0]
    assert newest["auc"] == 0.925
    assert newest["auc_interval_95"] == pytest.approx([0.918, 0.931])
    assert newest["auc_vs_serving"] == pytest.approx(0.925 - 0.921)
    assert result["serving"]["version"] == 1 and result["auc_threshold"] == 0.85


def test_pending_report_link_is_a_sigv4_presigned_get_of_the_report(registry) -> None:
    registry.register(0.931)
    (item,) = run_json(registry, "pending", ENV)["pending"]
    link = urlparse(item["report_link"])
    query = parse_qs(link.query)
    assert link.scheme == "https" and link.path.endswith("/evaluate/report.html")
    assert link.hostname == f"{BUCKET}.s3.{registry.region}.amazonaws.com"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(queries.REPORT_LINK_SECONDS)]


def test_pending_text_has_one_row_per_version_and_says_nothing_serves(registry) -> None:
    registry.register(0.931)
    code, out, _ = run(registry, "pending", ENV)
    lines = out.splitlines()
    assert code == 0
    assert "1 version(s) waiting" in lines[0] and "nothing from this group serves yet" in lines[0]
    assert lines[3].split()[:3] == ["1", "0.9310", "[0.9240,"]
    assert lines[4].strip().startswith("report: https://")


# --- show ------------------------------------------------------------------------------------------------------


def test_show_gives_metrics_comparison_and_where_the_data_came_from(registry) -> None:
    registry.serve(registry.register(0.921, status=queries.APPROVED), 1)
    registry.register(0.931)

    result = run_json(registry, "show", ENV, "2")

    assert result["metrics"]["auc"] == 0.931 and result["metrics"]["pr_auc"] == 0.81
    assert result["auc_vs_serving"] == pytest.approx(0.01)
    origin = result["provenance"]
    assert origin["upload"] == UPLOAD
    assert origin["parameters"]["InputDataUri"] == "s3://artifacts/pipeline-inputs/abc123/features.csv"
    assert origin["model_data"] == f"s3://{BUCKET}/train/model.tar.gz"
    assert result["report_link"].startswith("https://")


def test_show_lists_evaluation_fields_it_does_not_lay_out(registry) -> None:
    registry.register(0.931, provenance={"code_bundle_hash": "9bd88f2a", "input_data_version": "3HL4kq"})
    code, out, _ = run(registry, "show", ENV, "1")
    assert code == 0
    assert "provenance.code_bundle_hash: 9bd88f2a" in out and "provenance.input_data_version: 3HL4kq" in out


# evaluation.json's champion comparison and threshold verdicts, as evaluate writes them when the run had a champion.
CHAMPION = {
    "champion_comparison": {
        "champion": {
            "model_package_arn": f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/{GROUP}/1",
            "auc": {"value": 0.928, "confidence_interval_95": [0.921, 0.934]},
        },
        "auc_difference": {"value": 0.003, "confidence_interval_95": [-0.001, 0.007], "bootstrap_samples": 1000},
        "gate": {"margin": 0.01, "minimum_auc": 0.918, "passes": True},
    },
    "thresholds": {
        "environments": [
            {"environment": "dev", "threshold": 0.85, "passes": True, "this_run": True},
            {"environment": "prod", "threshold": 0.94, "passes": False, "this_run": False},
        ]
    },
}


def test_show_lays_out_the_runs_champion_comparison_and_every_threshold(registry) -> None:
    registry.register(0.931, **CHAMPION)
    result = run_json(registry, "show", ENV, "1")
    assert result["champion_comparison"] == {
        "champion_model_package_arn": f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/{GROUP}/1",
        "champion_auc": 0.928,
        "auc_difference": 0.003,
        "auc_difference_interval_95": [-0.001, 0.007],
        "gate_passes": True,
    }
    _, out, _ = run(registry, "show", ENV, "1")
    assert "+0.0030, paired 95% interval [-0.0010, 0.0070]; champion gate passes" in out
    assert "thresholds    dev 0.85 passes, prod 0.94 BELOW" in out
    assert "champion_comparison." not in out  # laid out above, not repeated among the other fields


def test_pending_shows_the_paired_difference_when_the_run_had_a_champion(registry) -> None:
    registry.register(0.931, **CHAMPION)
    registry.register(0.925)
    first, second = run_json(registry, "pending", ENV)["pending"]
    assert first["champion_comparison"] is None
    assert second["champion_comparison"]["auc_difference_interval_95"] == [-0.001, 0.007]


def test_show_text_sections(registry) -> None:
    registry.register(0.931)
    code, out, _ = run(registry, "show", ENV, "1")
    assert code == 0
    assert "threshold 0.85 (dev): passes" in out
    assert f"upload: {UPLOAD}" in out
    assert "parameter AucThreshold: 0.85" in out
    assert "Report (link valid 60 min): https://" in out


def test_show_says_when_evaluation_json_cannot_be_read(registry) -> None:
    arn = registry.register(0.931)
    uri = registry.status_of(arn)["CustomerMetadataProperties"]["evaluation_uri"]
    registry.s3.delete_object(Bucket=BUCKET, Key=uri.split(f"s3://{BUCKET}/", 1)[1])
    result = run_json(registry, "show", ENV, "1")
    assert result["evaluation_problem"] == f"cannot read {uri}: NoSuchKey"
    assert result["package"]["auc"] == 0.931  # still from the package's metadata


# --- approve / reject ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "status"), [("approve", queries.APPROVED), ("reject", queries.REJECTED)])
def test_decision_sets_status_and_the_note_as_approval_description(registry, command, status) -> None:
    arn = registry.register(0.931)
    code, out, err = run(registry, command, ENV, "1", "--note", "  report read by Ana; AUC fine  ")
    package = registry.status_of(arn)
    assert (code, err) == (0, "")
    assert package["ModelApprovalStatus"] == status
    assert package["ApprovalDescription"] == "report read by Ana; AUC fine"
    assert out.startswith(f"{status} {GROUP} version 1: report read by Ana; AUC fine")


def test_approve_says_how_to_follow_the_deployment(registry) -> None:
    registry.register(0.931)
    _, out, _ = run(registry, "approve", ENV, "1", "--note", "ok")
    assert resource_names.deploy_state_machine_name(ENV) in out and 'make approver ARGS="status dev"' in out


@pytest.mark.parametrize("decided", [queries.APPROVED, queries.REJECTED])
def test_a_decided_version_is_refused_in_one_line_and_left_unchanged(registry, decided) -> None:
    arn = registry.register(0.931, status=decided)
    before = registry.status_of(arn)
    code, out, err = run(registry, "approve", ENV, "1", "--note", "again")
    assert (code, out) == (1, "")
    assert err == f"error: version 1 of {GROUP} is already {decided}; nothing changed\n"
    after = registry.status_of(arn)
    assert (after["ModelApprovalStatus"], after.get("ApprovalDescription")) == (
        decided,
        before.get("ApprovalDescription"),
    )


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("   ", "error: --note must say why (it is kept as the package's approval description)\n"),
        ("x" * 1025, "error: --note is 1025 characters; the approval description takes at most 1024\n"),
    ],
)
def test_an_empty_or_too_long_note_is_refused_before_anything_changes(registry, note, message) -> None:
    arn = registry.register(0.931)
    assert run(registry, "approve", ENV, "1", "--note", note) == (1, "", message)
    assert registry.status_of(arn)["ModelApprovalStatus"] == queries.PENDING


def test_an_unknown_version_names_the_versions_there_are(registry) -> None:
    registry.register(0.931)
    registry.register(0.932)
    assert run(registry, "show", ENV, "9") == (1, "", f"error: {GROUP} has no version 9 (versions 1 to 2)\n")


def test_an_undeployed_environment_says_so(registry) -> None:
    code, _, err = run(registry, "pending", "stg")  # the registry holds only dev's group
    assert code == 1
    assert err.startswith(
        f"error: model package group {resource_names.model_package_group_name('stg')} does not exist in"
    )
    assert err.count("\n") == 1


def test_an_unknown_environment_names_the_known_ones(registry) -> None:
    assert run(registry, "status", "qa") == (
        1,
        "",
        "error: unknown environment 'qa': cdk.json defines dev, prod, stg\n",
    )


# --- status ----------------------------------------------------------------------------------------------------


def execution(name: str, status: str, started: datetime) -> dict[str, Any]:
    entry = {
        "executionArn": f"{MACHINE_ARN.replace(':stateMachine:', ':execution:')}:{name}",
        "stateMachineArn": MACHINE_ARN,
        "name": name,
        "status": status,
        "startDate": started,
    }
    if status != "RUNNING":
        entry["stopDate"] = started + timedelta(minutes=20)
    return entry


def test_status_shows_serving_version_last_outcome_and_running_deployments(registry) -> None:
    registry.serve(registry.register(0.921, status=queries.APPROVED), 1)
    registry.register(0.931)
    start = datetime(2026, 11, 27, 5, 0, tzinfo=timezone.utc)
    running = execution("run-3", "RUNNING", start + timedelta(hours=2))
    rolled_back = execution("run-2", "FAILED", start)
    # Docs (ListExecutions): "Results are sorted by time, with the most recent execution first."
    registry.stub.add_response(
        "list_executions", {"executions": [running, rolled_back]}, {"stateMachineArn": MACHINE_ARN, "maxResults": 20}
    )
    registry.stub.add_response(
        "describe_execution",
        {
            **rolled_back,
            "input": json.dumps({"detail": {"ModelPackageVersion": 2}}),
            "error": "RolledBack",
            "cause": "SageMaker rolled the endpoint back to mlops-dev-v1-0123abcd",
        },
        {"executionArn": rolled_back["executionArn"]},
    )

    result = run_json(registry, "status", ENV)

    assert result["serving"]["endpoint_status"] == "InService"
    assert result["serving"]["package"]["version"] == 1
    last = result["deployments"]["last"]
    assert (last["version"], last["outcome"], last["reason"]) == (
        2,
        "RolledBack",
        "SageMaker rolled the endpoint back to mlops-dev-v1-0123abcd",
    )
    assert [item["execution"] for item in result["deployments"]["running"]] == [running["executionArn"]]
    assert result["pending_approvals"] == 1


def test_status_reads_the_outcome_of_a_succeeded_deployment_from_its_output(registry) -> None:
    registry.serve(registry.register(0.921, status=queries.APPROVED), 1)
    done = execution("run-1", "SUCCEEDED", datetime(2026, 11, 27, 5, 0, tzinfo=timezone.utc))
    registry.stub.add_response(
        "list_executions", {"executions": [done]}, {"stateMachineArn": MACHINE_ARN, "maxResults": 20}
    )
    output = {"outcome": "deployed", "reason": "endpoint is InService on mlops-dev-v1-0123abcd", "package_version": 1}
    registry.stub.add_response(
        "describe_execution", {**done, "output": json.dumps(output)}, {"executionArn": done["executionArn"]}
    )
    code, out, _ = run(registry, "status", ENV)
    assert code == 0
    assert "serving: version 1 serves, ROC-AUC 0.9210, config mlops-dev-v1-0123abcd" in out
    assert "last deployment: version 1, deployed at 2026-11-27 05:20 UTC: endpoint is InService" in out
    assert "deployments running: 0" in out


def test_status_before_the_first_deployment(registry) -> None:
    registry.stub.add_client_error(
        "list_executions", service_error_code="StateMachineDoesNotExist", expected_params=None
    )
    result = run_json(registry, "status", ENV)
    assert result["serving"]["endpoint_status"] is None
    assert result["deployments"] == {"state_machine": MACHINE_ARN, "exists": False, "running": [], "last": None}
