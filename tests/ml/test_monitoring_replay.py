"""The monitoring job on replayed traffic: evaluate's baseline, the test split sent through the endpoint's handlers
and written as data capture, once as is and once with a feature shifted (the issue's "Done when"), on the shipped
sample and on scikit-learn's bundled breast-cancer data (Wisconsin diagnostic, offline in the sklearn wheel)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from botocore.stub import Stubber
from ml_helpers import TrainedRun, preprocess_and_train

import artifacts
import evaluate
import local_endpoint
import monitor
import monitor_replay
import monitoring_baseline

# The drift alarm's threshold as cdk.json sets it for every environment (monitoring.alarms.feature_psi).
CDK_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
THRESHOLD = CDK_CONTEXT["environment_defaults"]["monitoring"]["alarms"]["feature_psi"]


def evaluated(run: TrainedRun, work: Path) -> Path:
    """evaluate's output folder (evaluation.json and monitoring_baseline.json) for a trained run."""
    context = evaluate.RunContext(train_dir=run.splits / artifacts.TRAIN)
    evaluate.evaluate(run.model, run.splits / artifacts.TEST, work / "evaluation", 200, 7, context)
    return work / "evaluation"


def replayed(run: TrainedRun, evaluation: Path, work: Path, shift: str | None, *extra: str) -> dict:
    test = artifacts.read_split(run.splits / artifacts.TEST).to_pandas()
    outcomes = test.pop(run.manifest.target_column).to_numpy()
    frame = monitor_replay.shifted(test, shift, 1.0) if shift else test
    model = local_endpoint.load(run.model).model
    monitor_replay.replay(frame, outcomes, model, work / "capture", work / "labels")
    args = monitor.parse_args(
        ["--baseline", str(evaluation), "--capture", str(work / "capture"), "--labels", str(work / "labels"),
         "--window-end", "2026-01-02T00:00:00Z", "--output-dir", str(work / "report"), *extra]
    )  # fmt: skip
    return monitor.monitor(args)


def psi(report: dict, name: str) -> float:
    (feature,) = [feature for feature in report["features"] if feature["name"] == name]
    return feature["psi"]


@pytest.fixture(scope="module")
def adult_monitoring(adult_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("adult-monitoring")
    evaluation = evaluated(adult_run, work)
    return {
        "evaluation": json.loads((evaluation / artifacts.EVALUATION_FILE).read_text()),
        "baseline": monitoring_baseline.load_baseline(evaluation / monitoring_baseline.BASELINE_FILE),
        "as_is": replayed(adult_run, evaluation, work / "as-is", None),
        "shifted": replayed(adult_run, evaluation, work / "shifted", "age"),
    }


def test_the_baseline_holds_every_feature_and_the_approved_auc(adult_monitoring: dict, adult_run: TrainedRun) -> None:
    baseline = adult_monitoring["baseline"]
    assert [feature["name"] for feature in baseline["features"]] == adult_run.manifest.feature_names
    assert all(sum(f["counts"]) + f["missing"] == baseline["training_rows"] for f in baseline["features"])
    auc = adult_monitoring["evaluation"]["binary_classification_metrics"]["auc"]["value"]
    assert baseline["approved_quality"]["auc"] == auc
    assert baseline["score"]["rows"] == adult_run.manifest.rows[artifacts.TEST]


def test_the_sample_replayed_as_is_does_not_drift(adult_monitoring: dict) -> None:
    report = adult_monitoring["as_is"]
    assert report["verdict"] == "no drift"
    assert report["max_feature_psi"] < THRESHOLD
    assert report["score"]["psi"] < 0.01
    assert report["window"]["problems"] == {}


def test_the_sample_with_age_shifted_drifts_on_age_alone(adult_monitoring: dict) -> None:
    report = adult_monitoring["shifted"]
    assert psi(report, "age") > THRESHOLD > psi(adult_monitoring["as_is"], "age")
    assert report["drifted_features"] == ["age"]
    assert report["verdict"].startswith("drift: age")


def test_realized_auc_on_the_replayed_labels_is_within_the_evaluations_interval(adult_monitoring: dict) -> None:
    quality = adult_monitoring["as_is"]["realized_quality"]
    low, high = adult_monitoring["evaluation"]["evaluation_details"]["auc_confidence_interval_95"]
    assert quality["labelled_rows"] == adult_monitoring["as_is"]["window"]["rows"]
    assert low <= quality["auc"] <= high
    assert quality["status"].startswith("ok:")
    assert quality["labels_without_a_captured_request"] == 0


def test_the_figures_go_to_cloudwatch_under_endpoint_and_model_version(adult_monitoring: dict) -> None:
    import boto3

    report = adult_monitoring["shifted"]
    client = boto3.client("cloudwatch", region_name="eu-west-1")
    data = monitor.metric_data(report, "mlops-dev-endpoint", "7")
    with Stubber(client) as stubber:
        for start in range(0, len(data), monitor.METRICS_PER_CALL):
            chunk = data[start : start + monitor.METRICS_PER_CALL]
            stubber.add_response("put_metric_data", {}, {"Namespace": "MLOps/Monitoring", "MetricData": chunk})
        assert monitor.publish(report, "MLOps/Monitoring", "mlops-dev-endpoint", "7", client) == len(data)
        stubber.assert_no_pending_responses()
    alarmed = {(d["MetricName"], len(d["Dimensions"])): d["Value"] for d in data}
    assert alarmed[("MaxFeaturePSI", 1)] == report["max_feature_psi"]
    assert alarmed[("MaxFeaturePSI", 2)] == report["max_feature_psi"]
    assert alarmed[("RealizedAUCDrop", 1)] == report["realized_quality"]["auc_drop"]
    calibration = report["realized_quality"]["calibration"]["expected_calibration_error"]
    assert alarmed[("CalibrationError", 2)] == calibration
    age = [
        d for d in data if d["MetricName"] == "FeaturePSI" and {"Name": "Feature", "Value": "age"} in d["Dimensions"]
    ]
    assert age[0]["Value"] == psi(report, "age")


def test_a_window_without_traffic_publishes_counts_and_no_statistics(tmp_path: Path, adult_monitoring: dict) -> None:
    baseline = tmp_path / monitoring_baseline.BASELINE_FILE
    baseline.write_text(json.dumps(adult_monitoring["baseline"]))
    (tmp_path / "capture").mkdir()
    report = monitor.monitor(
        monitor.parse_args(
            ["--baseline", str(baseline), "--capture", str(tmp_path / "capture"), "--output-dir", str(tmp_path)]
        )
    )
    names = {d["MetricName"] for d in monitor.metric_data(report, "e", "1")}
    assert names == {"CapturedRows", "UnusableCaptureRecords"}
    assert report["verdict"].startswith("no traffic")


def test_a_missing_baseline_fails_the_job_with_a_sentence(tmp_path: Path) -> None:
    from job_output import JobFailure

    with pytest.raises(JobFailure, match="no monitoring baseline at"):
        monitor.run(["--baseline", str(tmp_path / "nothing"), "--capture", str(tmp_path)])


@pytest.fixture(scope="module")
def breast_cancer_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainedRun, Path]:
    """scikit-learn's bundled Wisconsin diagnostic breast-cancer data (569 rows, 30 numeric features)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame: pd.DataFrame = data.frame.copy()
    frame["diagnosis"] = np.where(frame.pop("target") == 0, "malignant", "benign")
    work = tmp_path_factory.mktemp("breast-cancer")
    (work / "input").mkdir()
    frame.to_csv(work / "input" / "breast_cancer.csv", index=False)
    # A test split of 30%: 171 rows, above the monitor's default minimum of 100 rows for a verdict.
    run = preprocess_and_train(
        work / "input", work,
        ["--target-column", "diagnosis", "--positive-label", "malignant", "--test-ratio", "0.3"],
        ["--num-round", "30"],
    )  # fmt: skip
    return run, evaluated(run, work)


def test_breast_cancer_shifted_mean_radius_drifts_and_unshifted_does_not(
    breast_cancer_run: tuple[TrainedRun, Path], tmp_path: Path
) -> None:
    run, evaluation = breast_cancer_run
    as_is = replayed(run, evaluation, tmp_path / "as-is", None)
    shifted = replayed(run, evaluation, tmp_path / "shifted", "mean radius")
    assert as_is["window"]["rows"] == run.manifest.rows[artifacts.TEST] >= 100
    assert psi(shifted, "mean radius") > THRESHOLD > psi(as_is, "mean radius")
    assert "mean radius" in shifted["drifted_features"]
    assert "mean radius" not in as_is["drifted_features"]
