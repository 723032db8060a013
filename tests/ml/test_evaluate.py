from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from ml_helpers import ML_CODE, TrainedRun
from sklearn import metrics

import artifacts
import evaluate
import local_run
import model_io
from job_output import PROCESSING_MESSAGE_FILE, run_job

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

    document = json.loads((out / evaluate.EVALUATION_FILE).read_text())
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
    assert len(calibration) == evaluate.CALIBRATION_BINS and sum(row["count"] for row in calibration) == len(y)

    for plot in (evaluate.ROC_PLOT_FILE, evaluate.PR_PLOT_FILE):
        assert (out / plot).read_bytes().startswith(PNG_SIGNATURE)
    report = (out / evaluate.REPORT_FILE).read_text()
    assert len(re.findall(r'src="data:image/png;base64,', report)) == 2
    assert not re.search(r'(src|href)="(http|//|/)', report)  # self-contained
    assert "tenure" in report and "Feature importance" in report and "Calibration" in report


def test_evaluation_accepts_an_extracted_model_dir_and_is_reproducible(small_run: TrainedRun, tmp_path: Path) -> None:
    documents = [
        evaluate.evaluate(small_run.model, small_run.splits / artifacts.TEST, tmp_path / name, 100, 1)
        for name in ("a", "b")
    ]
    assert documents[0] == documents[1]


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
    assert not (tmp_path / evaluate.EVALUATION_FILE).exists()
