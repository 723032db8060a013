from __future__ import annotations

import html
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from botocore.response import StreamingBody
from botocore.stub import Stubber
from ml_helpers import ML_CODE, TrainedRun
from sklearn import metrics

import artifacts
import evaluate
import evaluation_metrics
import job_output
import local_run
import model_io
import train
from job_output import PROCESSING_MESSAGE_FILE, JobFailure, run_job

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def independent_predictions(run: TrainedRun) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probabilities) on the test split through pandas categoricals, not artifacts.encode_features."""
    frame = artifacts.read_split(run.splits / artifacts.TEST).to_pandas()
    y = frame.pop(run.manifest.target_column).to_numpy()
    for feature in run.manifest.features:
        if feature.levels is not None:
            frame[feature.name] = pd.Categorical(frame[feature.name], categories=list(feature.levels))
    booster = model_io.load_booster(run.model)
    return y, booster.predict(xgb.DMatrix(frame[run.manifest.feature_names], enable_categorical=True))


def test_evaluation_from_model_tar_gz_matches_independent_metrics(small_run: TrainedRun, tmp_path: Path) -> None:
    local_run.pack_model(small_run.model, tmp_path / "model" / model_io.MODEL_ARCHIVE_NAME)
    out = tmp_path / "evaluation"
    result = subprocess.run(
        [sys.executable, str(ML_CODE / "evaluate.py"), "--model-dir", str(tmp_path / "model"),
         "--test-dir", str(small_run.splits / artifacts.TEST), "--output-dir", str(out),
         "--bootstrap-samples", "200", "--seed", "3"],
        capture_output=True, text=True, check=False, env={"SM_OUTPUT_DIR": str(tmp_path / "sm"), "PATH": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    document = json.loads((out / artifacts.EVALUATION_FILE).read_text())
    scores = document["binary_classification_metrics"]
    y, probability = independent_predictions(small_run)
    assert scores["auc"]["value"] == metrics.roc_auc_score(y, probability)
    assert 0 < scores["auc"]["standard_deviation"] < 0.1
    assert scores["pr_auc"]["value"] == metrics.average_precision_score(y, probability)
    assert np.isclose(scores["log_loss"]["value"], metrics.log_loss(y, probability))
    assert np.isclose(scores["brier_score"]["value"], metrics.brier_score_loss(y, probability))
    predicted = (probability >= 0.5).astype(int)
    assert np.isclose(scores["precision"]["value"], metrics.precision_score(y, predicted))
    assert np.isclose(scores["recall"]["value"], metrics.recall_score(y, predicted))
    assert np.isclose(scores["f1"]["value"], metrics.f1_score(y, predicted))
    (tn, fp), (fn, tp) = metrics.confusion_matrix(y, predicted)
    assert scores["confusion_matrix"] == {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}
    for name in ("auc", "precision", "recall", "f1", "accuracy", "true_positive_rate", "false_positive_rate"):
        assert set(scores[name]) == {"value", "standard_deviation"}

    details = document["evaluation_details"]
    low, high = details["auc_confidence_interval_95"]
    assert low < scores["auc"]["value"] < high
    best = details["best_f1_threshold"]
    assert details["at_best_f1_threshold"]["f1"] >= scores["f1"]["value"]
    assert np.isclose(details["at_best_f1_threshold"]["f1"], metrics.f1_score(y, probability >= best))
    calibration = details["calibration"]
    assert len(calibration) == evaluation_metrics.CALIBRATION_BINS and sum(row["count"] for row in calibration) == len(
        y
    )

    for plot in (evaluate.ROC_PLOT_FILE, evaluate.PR_PLOT_FILE):
        assert (out / plot).read_bytes().startswith(PNG_SIGNATURE)
    report = (out / artifacts.REPORT_FILE).read_text()
    assert len(re.findall(r'src="data:image/png;base64,', report)) == 2
    assert not re.search(r'(src|href)="(http|//|/)', report)  # self-contained
    assert "tenure" in report and "Feature importance" in report and "Calibration" in report


def test_evaluation_accepts_an_extracted_model_dir_and_is_reproducible(small_run: TrainedRun, tmp_path: Path) -> None:
    documents = [
        evaluate.evaluate(small_run.model, small_run.splits / artifacts.TEST, tmp_path / name, 100, 1)
        for name in ("a", "b")
    ]
    assert documents[0] == documents[1]


@pytest.mark.parametrize("samples", ["0", "-5", "many"])
def test_a_bootstrap_without_resamples_is_refused_with_the_argument_named(samples: str) -> None:
    with pytest.raises(JobFailure, match=r"invalid arguments: argument --bootstrap-samples: .*"):
        evaluate.parse_args(["--bootstrap-samples", samples])


def test_adult_model_clears_the_quality_bar(adult_run: TrainedRun, tmp_path: Path) -> None:
    document = evaluate.evaluate(adult_run.model, adult_run.splits / artifacts.TEST, tmp_path, 200, 0)
    assert document["binary_classification_metrics"]["auc"]["value"] >= 0.92


def test_missing_model_fails_with_a_message(small_run: TrainedRun, tmp_path: Path, sm_output_dir: Path) -> None:
    args = ["--model-dir", str(tmp_path), "--test-dir", str(small_run.splits / artifacts.TEST)]
    assert run_job("evaluate", lambda: evaluate.run([*args, "--output-dir", str(tmp_path / "o")]),
                   PROCESSING_MESSAGE_FILE) == 1  # fmt: skip
    message = (sm_output_dir / PROCESSING_MESSAGE_FILE).read_text()
    assert message == f"evaluate failed: no model.tar.gz or xgboost-model.json in {tmp_path}"
    assert not (tmp_path / "o").exists()


def test_missing_test_split_fails_with_a_message(small_run: TrainedRun, tmp_path: Path, sm_output_dir: Path) -> None:
    (tmp_path / "empty").mkdir()
    args = ["--model-dir", str(small_run.model), "--test-dir", str(tmp_path / "empty"), "--output-dir", str(tmp_path)]
    assert run_job("evaluate", lambda: evaluate.run(args), PROCESSING_MESSAGE_FILE) == 1
    message = (sm_output_dir / PROCESSING_MESSAGE_FILE).read_text()
    assert message == f"evaluate failed: no .parquet file in {tmp_path / 'empty'}: is it preprocess's output?"
    assert not (tmp_path / artifacts.EVALUATION_FILE).exists()


@pytest.fixture(scope="module")
def weak_model(small_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A worse model of the same data: two shallow rounds."""
    folder = tmp_path_factory.mktemp("weak") / "model"
    booster, manifest = train.train_booster(
        train.Paths(small_run.splits / artifacts.TRAIN, small_run.splits / artifacts.VALIDATION, folder),
        train.parse_hyperparameters(["--num-round", "2", "--max-depth", "1", "--early-stopping-rounds", "2"]),
    )
    model_io.save_model(booster, manifest, folder)
    return folder


def context_for(run: TrainedRun, **overrides: object) -> evaluate.RunContext:
    return evaluate.RunContext(
        train_dir=run.splits / artifacts.TRAIN,
        validation_dir=run.splits / artifacts.VALIDATION,
        environment="stg",
        auc_thresholds=(("dev", 0.5), ("stg", 0.99), ("prod", 0.995)),
        **overrides,  # type: ignore[arg-type]
    )


def test_without_a_champion_only_the_threshold_gates(small_run: TrainedRun, tmp_path: Path) -> None:
    document = evaluate.evaluate(
        small_run.model,
        small_run.splits / artifacts.TEST,
        tmp_path,
        50,
        0,
        context_for(small_run, champion_auc_margin=0.01),
    )
    assert document["champion_comparison"] == {
        "champion": None,
        "auc_difference": None,
        "gate": {"margin": 0.01, "minimum_auc": 0.0, "passes": True},
        "decision_stability": None,
        "flip_gate": {"max_flip_rate": None, "margin": 0.0, "passes": None},
    }
    assert "No model serves in this environment yet" in (tmp_path / artifacts.REPORT_FILE).read_text()


def test_a_better_champion_fails_the_gate_with_a_paired_interval(
    small_run: TrainedRun, weak_model: Path, tmp_path: Path
) -> None:
    local_run.pack_model(small_run.model, tmp_path / "champion" / model_io.MODEL_ARCHIVE_NAME)
    champion_uri = str(tmp_path / "champion" / model_io.MODEL_ARCHIVE_NAME)
    context = context_for(small_run, champion_model_uri=champion_uri, champion_auc_margin=0.01)

    document = evaluate.evaluate(weak_model, small_run.splits / artifacts.TEST, tmp_path / "out", 200, 0, context)

    y, strong = independent_predictions(small_run)
    challenger_auc = document["binary_classification_metrics"]["auc"]["value"]
    comparison = document["champion_comparison"]
    assert comparison["champion"]["model_uri"] == champion_uri
    assert comparison["champion"]["auc"]["value"] == metrics.roc_auc_score(y, strong)
    difference = comparison["auc_difference"]
    assert difference["value"] == challenger_auc - metrics.roc_auc_score(y, strong) < 0
    low, high = difference["confidence_interval_95"]
    assert low < difference["value"] < high
    # Paired resampling: the interval of the difference is narrower than the two AUC intervals side by side.
    unpaired = document["evaluation_details"]["auc_confidence_interval_95"]
    assert high - low < (unpaired[1] - unpaired[0]) + np.subtract(
        *comparison["champion"]["auc"]["confidence_interval_95"][::-1]
    )
    assert comparison["gate"] == {
        "margin": 0.01,
        "minimum_auc": comparison["champion"]["auc"]["value"] - 0.01,
        "passes": False,
    }
    assert comparison["gate"]["minimum_auc"] > challenger_auc  # what the pipeline's champion condition compares


def test_the_same_model_as_champion_differs_by_zero(small_run: TrainedRun, tmp_path: Path) -> None:
    context = context_for(small_run, champion_model_uri=str(small_run.model), champion_auc_margin=0.0)
    document = evaluate.evaluate(small_run.model, small_run.splits / artifacts.TEST, tmp_path, 50, 0, context)
    assert document["champion_comparison"]["auc_difference"]["value"] == 0.0
    assert document["champion_comparison"]["auc_difference"]["confidence_interval_95"] == [0.0, 0.0]
    assert document["champion_comparison"]["gate"]["passes"] is True


def test_champion_is_downloaded_from_s3(small_run: TrainedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = local_run.pack_model(small_run.model, tmp_path / "upload" / model_io.MODEL_ARCHIVE_NAME)
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    uri = "s3://mlops-artifacts/pipelines/mlops-stg-training/train/job/output/model.tar.gz"
    with Stubber(s3) as stubber:
        # GetObject (Amazon S3 API Reference): the whole object in Body.
        body = archive.read_bytes()
        stubber.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentLength": len(body)},
            expected_params={"Bucket": "mlops-artifacts", "Key": uri.split("/", 3)[3]},
        )
        monkeypatch.setattr(boto3, "client", lambda service: s3 if service == "s3" else None)
        context = context_for(small_run, champion_model_uri=uri, champion_model_package_arn="arn:pkg/3")
        document = evaluate.evaluate(
            small_run.model, small_run.splits / artifacts.TEST, tmp_path / "out", 20, 0, context
        )
        stubber.assert_no_pending_responses()
    assert document["champion_comparison"]["champion"]["model_package_arn"] == "arn:pkg/3"
    assert document["champion_comparison"]["auc_difference"]["value"] == 0.0


def test_a_champion_that_is_no_model_fails_with_a_message(
    small_run: TrainedRun, tmp_path: Path, sm_output_dir: Path
) -> None:
    (tmp_path / "empty").mkdir()
    args = ["--model-dir", str(small_run.model), "--test-dir", str(small_run.splits / artifacts.TEST),
            "--output-dir", str(tmp_path / "out"), "--champion-model-uri", str(tmp_path / "empty")]  # fmt: skip
    assert run_job("evaluate", lambda: evaluate.run(args), PROCESSING_MESSAGE_FILE) == 1
    message = (sm_output_dir / PROCESSING_MESSAGE_FILE).read_text()
    assert message == (
        f"evaluate failed: no model.tar.gz or xgboost-model.json in the champion model {tmp_path / 'empty'}"
    )
    assert not (tmp_path / "out").exists()


def test_evaluation_carries_thresholds_provenance_training_and_split_aucs(
    small_run: TrainedRun, tmp_path: Path
) -> None:
    context = context_for(
        small_run,
        input_data_uri="s3://artifacts/pipeline-inputs/abc/",
        input_data_version="v7",
        execution_id="exec-1",
        code_bundle_uri="s3://assets/" + "a" * 64 + ".gz",
    )
    document = evaluate.evaluate(small_run.model, small_run.splits / artifacts.TEST, tmp_path, 50, 0, context)

    auc = document["binary_classification_metrics"]["auc"]["value"]
    assert document["thresholds"] == {
        "this_environment": "stg",
        "environments": [
            {"environment": "dev", "threshold": 0.5, "passes": True, "this_run": False},
            {"environment": "stg", "threshold": 0.99, "passes": auc >= 0.99, "this_run": True},
            {"environment": "prod", "threshold": 0.995, "passes": auc >= 0.995, "this_run": False},
        ],
    }
    assert document["provenance"] == {
        "input_data_uri": "s3://artifacts/pipeline-inputs/abc/",
        "input_data_version": "v7",
        "pipeline_execution_id": "exec-1",
        "code_bundle_uri": "s3://assets/" + "a" * 64 + ".gz",
        "code_bundle_hash": "a" * 64,
    }
    training = document["training"]
    assert training["hyperparameters"]["num_round"] == 50
    booster = model_io.load_booster(small_run.model)
    assert training["best_iteration"] == booster.num_boosted_rounds() - 1 == training["boosting_rounds"] - 1
    assert 0.5 < training["best_validation_auc"] <= 1.0
    split_auc = document["split_auc"]
    assert list(split_auc) == ["train", "validation", "test"]
    assert split_auc["test"] == auc
    assert split_auc["validation"] == pytest.approx(training["best_validation_auc"], abs=1e-6)
    shares = [row["share"] for row in document["feature_importance"]]
    assert sum(shares) == pytest.approx(1.0) and shares == sorted(shares, reverse=True)


def test_the_reports_confusion_matrix_is_at_the_label_cut_off_the_endpoint_uses(
    small_run: TrainedRun, tmp_path: Path
) -> None:
    context = context_for(small_run, label_threshold=0.3)
    document = evaluate.evaluate(small_run.model, small_run.splits / artifacts.TEST, tmp_path, 20, 0, context)

    y, probability = independent_predictions(small_run)
    (tn, fp), (fn, tp) = metrics.confusion_matrix(y, (probability >= 0.3).astype(int))
    assert document["evaluation_details"]["confusion_matrix_at_label_threshold"] == {
        "tp": tp, "fp": fp, "fn": fn, "tn": tn
    }  # fmt: skip
    (tn_half, fp_half), _ = metrics.confusion_matrix(y, (probability >= 0.5).astype(int))
    assert (tn, fp) != (tn_half, fp_half)  # not vacuous: this cut-off labels differently from 0.5

    report = (tmp_path / artifacts.REPORT_FILE).read_text()
    heading = "<h2>Confusion matrix at the label cut-off 0.3 (what the endpoint labels)</h2>"
    assert heading in report and "Confusion matrix at 0.5" not in report
    table = report.split(heading, 1)[1].split("</table>", 1)[0]
    negative, positive = (
        html.escape(label) for label in (small_run.manifest.negative_label, small_run.manifest.positive_label)
    )
    assert f"<td>actual {negative}</td><td>{tn}</td><td>{fp}</td>" in table
    assert f"<td>actual {positive}</td><td>{fn}</td><td>{tp}</td>" in table


def test_every_table_in_the_report_has_a_heading(small_run: TrainedRun, tmp_path: Path) -> None:
    context = context_for(small_run, champion_model_uri=str(small_run.model), execution_id="exec-1")
    evaluate.evaluate(small_run.model, small_run.splits / artifacts.TEST, tmp_path, 20, 0, context)
    report = (tmp_path / artifacts.REPORT_FILE).read_text()
    tables = report.count("<table>")
    assert tables >= 12
    assert report.count("</h2><table>") == tables
    for heading in ("Thresholds of every environment", "Challenger vs serving model", "ROC-AUC per split",
                    "Feature importance (total gain, normalised)", "Where the data and code came from",
                    "Hyperparameters"):  # fmt: skip
        assert f"<h2>{heading}" in report


def test_the_approver_line_names_every_environment_and_the_serving_model() -> None:
    document = {
        "binary_classification_metrics": {"auc": {"value": 0.9312}},
        "evaluation_details": {"auc_confidence_interval_95": [0.9241, 0.9374]},
        "thresholds": {"environments": [
            {"environment": "dev", "threshold": 0.85, "passes": True},
            {"environment": "stg", "threshold": 0.9, "passes": True},
            {"environment": "prod", "threshold": 0.935, "passes": False},
        ]},
        "champion_comparison": {
            "champion": {"auc": {"value": 0.925}},
            "auc_difference": {"value": 0.0062, "confidence_interval_95": [-0.0021, 0.0143]},
            "gate": {"margin": 0.01, "passes": True},
        },
    }  # fmt: skip
    assert artifacts.approver_line(document) == (
        "test ROC-AUC 0.931 [0.924, 0.937]: passes dev 0.85, stg 0.90; fails prod 0.94;"
        " serving model 0.925, difference +0.006 [-0.002, +0.014] (within the margin 0.010)"
    )


def test_the_gate_uses_the_runs_threshold_else_its_environments() -> None:
    thresholds = (("dev", 0.85), ("stg", 0.9))
    assert evaluate.gate_threshold(evaluate.RunContext(environment="stg", auc_thresholds=thresholds)) == 0.9
    overridden = evaluate.RunContext(environment="stg", auc_thresholds=thresholds, auc_threshold=0.95)
    assert evaluate.gate_threshold(overridden) == 0.95
    assert evaluate.gate_threshold(evaluate.RunContext()) is None
    assert evaluate.parse_args(["--auc-threshold", "0.91"]).auc_threshold == 0.91
    assert evaluate.parse_args(["--auc-threshold", ""]).auc_threshold is None


def test_evaluation_json_carries_the_gate_verdict(small_run: TrainedRun, tmp_path: Path) -> None:
    document = evaluate.evaluate(
        small_run.model, small_run.splits / artifacts.TEST, tmp_path, 20, 0, context_for(small_run, auc_threshold=0.5)
    )
    auc = document["binary_classification_metrics"]["auc"]["value"]
    assert document["quality_gate"] == {
        "passes": True,
        "failed_rules": [],
        "auc_threshold": 0.5,
        "champion_auc_margin": None,
        "reason": f"ROC-AUC {auc:.4f} clears the threshold 0.5",
    }
    assert f"Quality gate of this run: passes: ROC-AUC {auc:.4f} clears the threshold 0.5." in (
        (tmp_path / artifacts.REPORT_FILE).read_text()
    )


def test_a_challenger_flipping_too_many_labels_fails_the_gate(
    small_run: TrainedRun, weak_model: Path, tmp_path: Path
) -> None:
    context = context_for(small_run, champion_model_uri=str(small_run.model), max_flip_rate=0.0)
    document = evaluate.evaluate(weak_model, small_run.splits / artifacts.TEST, tmp_path, 50, 0, context)
    stability = document["champion_comparison"]["decision_stability"]
    assert stability["flip_rate"] > 0
    assert document["champion_comparison"]["flip_gate"]["passes"] is False
    assert "flip_rate" in document["quality_gate"]["failed_rules"]
    assert f"would flip {stability['flip_rate']:.2%} of the test rows' labels" in document["quality_gate"]["reason"]
    report = (tmp_path / artifacts.REPORT_FILE).read_text()
    assert f"{stability['flip_rate']:.2%} of the test rows would get another label" in report
    assert "flip-rate gate at most 0.00%: fails" in report


def test_the_same_model_flips_nothing(small_run: TrainedRun, tmp_path: Path) -> None:
    context = context_for(small_run, champion_model_uri=str(small_run.model), max_flip_rate=0.0)
    document = evaluate.evaluate(small_run.model, small_run.splits / artifacts.TEST, tmp_path, 50, 0, context)
    assert document["champion_comparison"]["decision_stability"]["flip_rate"] == 0.0
    assert document["champion_comparison"]["flip_gate"] == {"max_flip_rate": 0.0, "margin": 0.0, "passes": True}


def test_the_container_paths_follow_sagemaker_base_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The local twin runs the job in a folder laid out like /opt/ml and points SAGEMAKER_BASE_DIR at it.
    monkeypatch.delenv("SM_OUTPUT_DIR", raising=False)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    args = evaluate.parse_args([])
    assert args.model_dir == tmp_path / "processing" / "input" / "model"
    assert args.output_dir == tmp_path / "processing" / "output" / "evaluation"
    assert job_output.output_dir() == tmp_path / "output"


def test_without_sagemaker_base_dir_the_paths_are_the_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SM_OUTPUT_DIR", raising=False)
    monkeypatch.delenv("SAGEMAKER_BASE_DIR", raising=False)
    assert evaluate.parse_args([]).test_dir == Path("/opt/ml/processing/input/test")
    assert job_output.output_dir() == Path("/opt/ml/output")
