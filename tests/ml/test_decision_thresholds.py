"""The label cut-off beside reference thresholds, the overfitting verdict and the thresholds a run supports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ml_helpers import TrainedRun
from sklearn import metrics

import decision_thresholds
import evaluate

RNG = np.random.default_rng(3)
labels = (RNG.random(2000) < 0.3).astype(np.int8)
scores = np.clip(0.3 * labels + RNG.random(2000) * 0.7, 0, 1).astype(np.float32)


def test_each_reference_threshold_has_sklearns_precision_and_recall_and_says_what_they_mean() -> None:
    rows = decision_thresholds.reference_thresholds(labels, scores, 0.4, 0.45, "churned")
    for row in rows:
        predicted = (scores >= row["threshold"]).astype(np.int8)
        assert row["precision"] == pytest.approx(metrics.precision_score(labels, predicted))
        assert row["recall"] == pytest.approx(metrics.recall_score(labels, predicted))
        assert f"{row['precision']:.0%} of those are (precision)" in row["meaning"]
        assert f"{row['recall']:.0%} of all 'churned' rows (recall)" in row["meaning"]
    assert [row["name"] for row in rows][:3] == ["label cut-off (the endpoint labels with this)", "0.5", "best F1"]


def test_the_recall_and_precision_references_are_the_extreme_thresholds_that_keep_them() -> None:
    rows = {row["name"]: row for row in decision_thresholds.reference_thresholds(labels, scores, 0.5, 0.5, "y")}
    recall_row, precision_row = rows["recall at least 80%"], rows["precision at least 80%"]
    assert recall_row["recall"] >= 0.8
    higher = scores[scores > recall_row["threshold"]].min()
    assert metrics.recall_score(labels, scores >= higher) < 0.8  # the next threshold up loses it
    assert precision_row["precision"] >= 0.8
    lower = scores[scores < precision_row["threshold"]].max()
    assert metrics.precision_score(labels, scores >= lower) < 0.8


def test_a_cut_off_of_one_half_is_listed_once() -> None:
    names = [row["name"] for row in decision_thresholds.reference_thresholds(labels, scores, 0.5, 0.4, "y")]
    assert "0.5" not in names and names[0].startswith("label cut-off")


@pytest.mark.parametrize(
    ("train", "test", "verdict", "text"),
    [
        (0.990, 0.703, "overfitting", "overfitting: train ROC-AUC 0.990, test 0.703: a gap of +0.287"),
        (0.960, 0.930, "watch", "some overfitting: train ROC-AUC 0.960, test 0.930: a gap of +0.030"),
        (0.940, 0.931, "none", "no sign of overfitting: train ROC-AUC 0.940, test 0.931: a gap of +0.009"),
    ],
)
def test_the_overfitting_verdict_comes_from_the_figures(train: float, test: float, verdict: str, text: str) -> None:
    result = decision_thresholds.overfitting({"train": train, "validation": test, "test": test})
    assert result["verdict"] == verdict
    assert result["text"].startswith(text)


def test_without_a_train_auc_overfitting_is_not_assessed() -> None:
    assert decision_thresholds.overfitting({"train": None, "validation": None, "test": 0.8})["verdict"] == "unknown"


def _document(interval: list[float], verdicts: list[tuple[str, float, bool]]) -> dict:
    return {
        "evaluation_details": {"auc_confidence_interval_95": interval},
        "thresholds": {"environments": [{"environment": n, "threshold": t, "passes": p} for n, t, p in verdicts]},
    }


def test_a_run_that_fails_an_environment_says_which_threshold_it_supports_and_where_to_set_it() -> None:
    advice = decision_thresholds.threshold_advice(
        _document([0.689, 0.716], [("dev", 0.85, False), ("stg", 0.9, False), ("prod", 0.92, False)])
    )
    assert advice == (
        "thresholds: this run's test ROC-AUC 95% interval is [0.689, 0.716]; a training.auc_threshold up to 0.68 "
        "passes a model like this one (dev 0.85, stg 0.90, prod 0.92 would fail it): if this quality is what your "
        "data allows, set auc_threshold per environment in cdk.json (context.environments.<env>.training), usually "
        "rising from dev to prod"
    )


def test_a_run_that_passes_everywhere_only_states_what_it_supports() -> None:
    advice = decision_thresholds.threshold_advice(_document([0.924, 0.937], [("dev", 0.85, True)]))
    assert advice.endswith("a training.auc_threshold up to 0.92 passes a model like this one")


def test_evaluation_and_report_show_the_label_cut_off_and_a_computed_overfitting_verdict(
    small_run: TrainedRun, tmp_path: Path
) -> None:
    output = tmp_path / "evaluation"
    evaluate.run(["--model-dir", str(small_run.model), "--test-dir", str(small_run.splits / "test"),
                  "--train-dir", str(small_run.splits / "train"), "--output-dir", str(output),
                  "--bootstrap-samples", "20", "--label-threshold", "0.3"])  # fmt: skip
    document = json.loads((output / "evaluation.json").read_text())
    report = (output / "report.html").read_text()

    assert document["label_threshold"] == 0.3
    assert document["reference_thresholds"][0]["threshold"] == 0.3
    expected = decision_thresholds.overfitting(document["split_auc"])
    assert document["overfitting"] == expected
    assert expected["text"] in report
    assert "label cut-off (the endpoint labels with this)</td><td>0.3000" in report
