"""The bootstrap: each resample scored as sklearn scores its rows, paired differences, and the edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

import bootstrap_resampling as bootstrap
import evaluation_metrics


def sklearn_on_each_resample(y: np.ndarray, probability: np.ndarray, samples: int, seed: int) -> dict[str, list]:
    """The bootstrap as its definition reads: draw the rows, skip a one-class draw, score the drawn rows."""
    rng = np.random.default_rng(seed)
    values: dict[str, list] = {}
    for _ in range(samples):
        rows = rng.integers(0, len(y), len(y))
        if y[rows].min() == y[rows].max():
            continue
        drawn_y, drawn = y[rows], probability[rows].astype(np.float64)
        predicted = (drawn >= 0.5).astype(int)
        (tn, fp), (fn, tp) = metrics.confusion_matrix(drawn_y, predicted, labels=[0, 1])
        for name, value in {
            "auc": metrics.roc_auc_score(drawn_y, drawn),
            "pr_auc": metrics.average_precision_score(drawn_y, drawn),
            "log_loss": metrics.log_loss(drawn_y, np.clip(drawn, 1e-15, 1 - 1e-15)),
            "brier_score": metrics.brier_score_loss(drawn_y, drawn),
            "precision": metrics.precision_score(drawn_y, predicted, zero_division=0),
            "recall": metrics.recall_score(drawn_y, predicted),
            "f1": metrics.f1_score(drawn_y, predicted, zero_division=0),
            "accuracy": metrics.accuracy_score(drawn_y, predicted),
            "f0_5": metrics.fbeta_score(drawn_y, predicted, beta=0.5, zero_division=0),
            "f2": metrics.fbeta_score(drawn_y, predicted, beta=2, zero_division=0),
            "true_positive_rate": tp / (tp + fn),
            "true_negative_rate": tn / (tn + fp),
            "false_positive_rate": fp / (fp + tn),
            "false_negative_rate": fn / (fn + tp),
        }.items():
            values.setdefault(name, []).append(value)
    return values


@pytest.mark.parametrize(
    ("rows", "positives", "decimals"),
    [(2000, 500, 6), (300, 90, 2), (12, 1, 1)],
    ids=["distinct scores", "tied scores", "one-class draws skipped"],
)
def test_the_bootstrap_scores_each_resample_as_sklearn_does_on_its_rows(
    rows: int, positives: int, decimals: int
) -> None:
    rng = np.random.default_rng(rows)
    y = np.zeros(rows, dtype=np.float32)
    y[rng.choice(rows, positives, replace=False)] = 1
    # float32 as xgboost predicts, with exact 0 and 1 among them: ties, both ends and the 0.5 threshold.
    probability = np.round(np.clip(0.4 * y + rng.random(rows) * 0.8 - 0.1, 0, 1), decimals).astype(np.float32)
    probability[:3] = [0.0, 1.0, 0.5]

    resampled = bootstrap.bootstrap(y, probability, 40, seed=7)
    expected = sklearn_on_each_resample(y, probability, 40, seed=7)

    assert len(expected) == len(resampled) == 14
    assert 0 < len(expected["auc"]) == len(resampled["auc"]) <= 40
    assert positives > 1 or len(expected["auc"]) < 40  # one positive in 12 rows: some draws miss it
    for name, values in expected.items():
        np.testing.assert_allclose(resampled[name], values, rtol=1e-12, atol=1e-12, err_msg=name)


def test_a_bootstrap_whose_draws_all_have_one_class_is_empty_not_an_error() -> None:
    # Three rows, one positive: seed 4's only draw misses it. A large split with a rare class does the same
    # to a whole block of resamples.
    y = np.array([0, 1, 0], dtype=np.float32)
    probability = np.array([0.2, 0.7, 0.4], dtype=np.float32)
    assert bootstrap.bootstrap(y, probability, 1, seed=4) == {}
    assert len(bootstrap.paired_auc_differences(y, probability, probability[::-1].copy(), 1, seed=4)) == 0


def test_a_probability_that_is_not_a_number_is_refused() -> None:
    y = np.array([0, 1, 0, 1], dtype=np.float32)
    with pytest.raises(ValueError, match="not a finite number"):
        bootstrap.bootstrap(y, np.array([0.2, np.nan, 0.4, 0.9], dtype=np.float32), 10, seed=0)


def test_paired_differences_are_sklearns_on_the_same_rows() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random(500) < 0.3).astype(np.float32)
    challenger = np.round(0.5 * y + 0.5 * rng.random(500), 3).astype(np.float32)
    champion = np.round(0.3 * y + 0.7 * rng.random(500), 2).astype(np.float32)
    draws = np.random.default_rng(11)
    expected = []
    for _ in range(100):
        rows = draws.integers(0, 500, 500)
        expected.append(
            metrics.roc_auc_score(y[rows], challenger[rows]) - metrics.roc_auc_score(y[rows], champion[rows])
        )

    differences = bootstrap.paired_auc_differences(y, challenger, champion, 100, seed=11)

    np.testing.assert_allclose(differences, expected, rtol=0, atol=1e-12)


def test_a_probability_of_exactly_one_keeps_the_log_loss_finite() -> None:
    y = np.array([1, 0, 1, 0], dtype=np.float32)
    probability = np.array([1.0, 0.0, 0.7, 0.2], dtype=np.float32)  # xgboost's float32 sigmoid reaches 1
    assert np.isclose(evaluation_metrics.scalar_metrics(y, probability)["log_loss"], metrics.log_loss(y, probability))
    assert np.isfinite(bootstrap.bootstrap(y, probability, 20, seed=0)["log_loss"]).all()
