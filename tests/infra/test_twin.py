"""The whole system in the local twin (dev): one twin runs every scenario once, in a fixed order, on the first rows
of the shipped sample (`python -m twin --scenario all`); each test reads its part of the report.

Order: the happy path (version 1 serves), a bad upload, a run below the threshold, a second approval (blue/green
to version 2), a third (version 2's model registered again, without a fourth pipeline run) under a rollback alarm
(rolled back to version 2). A mismatch between two parts (a parameter the trigger passes that the pipeline does
not declare, metadata the register step writes under another name than the deploy workflow reads) fails the
scenario that crosses it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from constructs.model_monitoring_lambda.model_monitoring import launcher
from tests.infra.support.early_process import EarlyProcess, Finished
from tests.infra.support.synthesis import Synthesized
from tests.infra.test_snapshots import CLI_SYNTH
from twin.cloudformation import Assembly
from twin.local_aws import LocalAws

ROWS = 1500  # enough for the dev threshold (0.85) on the sample; the run stays a few seconds per pipeline
NESTED_CONDITIONS = {
    "Version": "2020-12-01",
    "Parameters": [],
    "Steps": [
        {
            "Name": "Outer",
            "Type": "Condition",
            "Arguments": {
                "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}],
                "IfSteps": [
                    {
                        "Name": "Inner",
                        "Type": "Condition",
                        "Arguments": {"Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}]},
                    }
                ],
                "ElseSteps": [],
            },
        }
    ],
}


# The twin runs in its own process from the start of the session (its pipeline jobs take seconds of CPU each), on
# the other core while the suite goes on. It reads the cdk.out that test_snapshots' CLI synth writes (the same
# `cdk synth` as `make synth`; its assembly-dev is byte-identical to a `-c env=dev` synth's, but for stack traces
# in the metadata): one synth fewer, about 5 s of CPU. Run without that test, or if that synth fails, the twin
# synthesizes dev with the CDK CLI into its own folder, as `make e2e` does.
# OMP_WAIT_POLICY=PASSIVE and OMP_NUM_THREADS=1, as tests/ml/conftest.py sets them for the same reason: training's
# OpenMP threads that spin while they wait took the cores the suites beside it need (the twin's jobs: 11.5-15 s of
# CPU instead of 6.1-6.3 at load 5), and a second thread per job (OpenMP's, and so OpenBLAS's and Arrow's pool) only
# adds switching when both cores are busy.
TWIN_RUN = EarlyProcess(
    "twin",
    (sys.executable, "-m", "twin", "--scenario", "all", "--rows", str(ROWS), "--cdk-out", "{after}",
     "--work-dir", "{folder}/work", "--report", "{folder}/report.json"),
    env={"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"},
    after=CLI_SYNTH,
    after_fallback="{folder}/cdk.out",
)  # fmt: skip


@pytest.fixture
def report(early_process: Finished) -> dict[str, Any]:
    path = early_process.folder / "report.json"
    assert path.exists(), (
        f"the twin wrote no report:\n{early_process.completed.stdout[-3000:]}{early_process.completed.stderr[-3000:]}"
    )
    return json.loads(path.read_text(encoding="utf-8"))


def _succeeded(report: dict[str, Any], scenario: str) -> Any:
    outcome = report["outcomes"][scenario]
    if not outcome["ok"]:
        pytest.fail(f"{scenario}: {outcome['error']}")
    return outcome["value"]


def _notices(report: dict[str, Any], subject_part: str) -> list[dict[str, str]]:
    return [notice for notice in report["notices"] if subject_part in notice["subject"]]


# ------------------------------------------------------------------------------------------ the happy path


@TWIN_RUN.mark()
def test_an_upload_ends_as_a_model_answering_requests(report: dict[str, Any]) -> None:
    answer = json.loads(_succeeded(report, "happy"))
    assert len(answer["predictions"]) == 3
    assert all(0 <= prediction["probability"] <= 1 for prediction in answer["predictions"])
    assert {prediction["label"] for prediction in answer["predictions"]} <= {"<=50K", ">50K"}


@TWIN_RUN.mark()
def test_every_stage_is_reported_as_it_happens(report: dict[str, Any]) -> None:
    _succeeded(report, "happy")
    seen = [stage for stage, _ in report["stages"]]
    expected = [
        "seeded",
        "upload",
        "event",
        "lambda",
        "pipeline",
        "registered",
        "approver",
        "deploy",
        "endpoint",
        "invoke",
    ]
    # Each stage happens after the one before it (a stage may also happen earlier: the deploy rule takes every
    # status change of the group, so the registration itself starts a deploy execution that ends `ignored`).
    position = -1
    for stage in expected:
        later = [index for index, name in enumerate(seen) if name == stage and index > position]
        assert later, f"no {stage!r} stage after {seen[position] if position >= 0 else 'the start'}"
        position = later[0]


@TWIN_RUN.mark()
def test_the_pipeline_runs_its_steps_in_dependency_order(report: dict[str, Any]) -> None:
    _succeeded(report, "happy")
    steps = [text.split(" ", 1)[0] for stage, text in report["stages"] if stage == "pipeline" and " (" in text]
    assert steps[:5] == ["Preprocess", "Train", "Evaluate", "CheckQualityGate", "Register-RegisterModel"]


@TWIN_RUN.mark()
def test_the_registered_package_keeps_its_metadata_through_the_approval(report: dict[str, Any]) -> None:
    _succeeded(report, "happy")
    package = report["packages"]["1"]
    assert package["ModelApprovalStatus"] == "Approved"
    assert set(package["CustomerMetadataProperties"]) >= {"auc", "evaluation_uri", "report_uri"}


@TWIN_RUN.mark()
def test_the_registered_package_names_the_baseline_the_monitoring_launcher_reads(report: dict[str, Any]) -> None:
    # The register step writes the drift-check baseline, the monitoring launcher reads it back from the package.
    _succeeded(report, "happy")
    package = report["packages"]["1"]
    evaluation_folder = package["CustomerMetadataProperties"]["evaluation_uri"].rsplit("/", 1)[0]
    assert launcher.baseline_uri(package) == f"{evaluation_folder}/monitoring_baseline.json"


@TWIN_RUN.mark()
def test_the_deployed_notice_names_the_registered_roc_auc(report: dict[str, Any]) -> None:
    # The register step writes the metadata, the deploy workflow reads it: a rename on either side shows here.
    _succeeded(report, "happy")
    (deployed,) = _notices(report, "model v1: deployed")
    auc = json.loads(deployed["message"])["auc"]
    assert auc is not None, "the deploy workflow found no auc in the package's CustomerMetadataProperties"
    assert auc == report["packages"]["1"]["CustomerMetadataProperties"].get("auc")
    assert 0.85 <= float(auc) <= 1


@TWIN_RUN.mark()
def test_the_trigger_receives_the_s3_event_as_aws_documents_it(report: dict[str, Any]) -> None:
    uploads = [d["event"] for d in report["deliveries"] if d["event"]["detail-type"] == "Object Created"]
    assert len(uploads) == 4  # happy, bad, no signal, second (the rollback's version 3 is version 2 registered again)
    assert all("etag" in event["detail"]["object"] and "eTag" not in event["detail"]["object"] for event in uploads)


# ------------------------------------------------------------------------------------------ refusals and failures


@TWIN_RUN.mark()
def test_a_bad_upload_is_rejected_with_its_notice(report: dict[str, Any]) -> None:
    notice = _succeeded(report, "bad-upload")
    assert notice["subject"] == "[dev] Upload rejected: incoming/bad.csv"
    assert "unexpected-column" in notice["message"]


@TWIN_RUN.mark()
def test_a_run_below_the_threshold_fails_with_its_message(report: dict[str, Any]) -> None:
    reason = _succeeded(report, "below-threshold")
    assert reason.startswith("Quality gate failed: ROC-AUC ")
    assert reason.endswith("below the threshold 0.85")
    assert _notices(report, "[dev] Training run failed at QualityGateFailed")


# ------------------------------------------------------------------------------------------ rollouts


@TWIN_RUN.mark()
def test_a_second_approval_rolls_blue_green_to_the_new_version(report: dict[str, Any]) -> None:
    assert _succeeded(report, "second-approval") == 2
    assert _notices(report, "model v2: deployed")


@TWIN_RUN.mark()
def test_an_alarm_during_the_bake_rolls_back_and_is_reported(report: dict[str, Any]) -> None:
    deployment = _succeeded(report, "alarm-rollback")
    assert deployment["error"] == "RolledBack"
    assert report["serving_version"] == 2
    assert _notices(report, "model v3: rolled_back")


# ------------------------------------------------------------------------------------------ reading the templates


def test_the_trigger_environment_names_the_pipeline_and_topic_the_templates_create(synthesized: Synthesized) -> None:
    assembly = Assembly(synthesized.outdir, "dev")
    (trigger,) = [f for f in assembly.resources("AWS::Lambda::Function") if f.logical_id.startswith("TriggerFunction")]
    variables = trigger.resolved("Environment")["Variables"]
    (pipeline,) = assembly.resources("AWS::SageMaker::Pipeline")
    (topic,) = assembly.resources("AWS::SNS::Topic")
    assert variables["PIPELINE_NAME"] == pipeline.name
    assert variables["TOPIC_ARN"] == f"arn:aws:sns:{assembly.region}:123456789012:{topic.name}"


def test_an_intrinsic_the_twin_cannot_resolve_is_named(synthesized: Synthesized, tmp_path: Path) -> None:
    assembly = Assembly(synthesized.outdir, "dev")
    with pytest.raises(NotImplementedError, match="Fn::Transform"):
        assembly.resolve({"Fn::Transform": {}}, assembly.stacks[0])


def test_the_local_aws_refuses_a_definition_sagemaker_refuses() -> None:
    with LocalAws("eu-west-1") as aws:
        sagemaker = aws.client("sagemaker")
        with pytest.raises(sagemaker.exceptions.ClientError, match="nested-condition"):
            sagemaker.create_pipeline(
                PipelineName="nested",
                PipelineDefinition=json.dumps(NESTED_CONDITIONS),
                RoleArn="arn:aws:iam::123456789012:role/pipeline",
            )
