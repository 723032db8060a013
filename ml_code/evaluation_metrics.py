"""The test split's metrics: the confusion matrix and the rates read from it, the single-number scores, calibration,
and evaluation.json's metric sections in SageMaker's model-quality shape."""

from __future__ import annotations

import numpy as np
from sklearn import metrics

DEFAULT_THRESHOLD = 0.5


CALIBRATION_BINS = 10


# Curves in evaluation.json are thinned to this many points; the plots use every point.
CURVE_POINTS = 101


def confusion(y: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    tp = int(np.sum((predicted == 1) & (y == 1)))
    fp = int(np.sum((predicted == 1) & (y == 0)))
    fn = int(np.sum((predicted == 0) & (y == 1)))
    tn = int(np.sum((predicted == 0) & (y == 0)))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _f_beta(precision: float, recall: float, beta: float) -> float:
    return _ratio((1 + beta**2) * precision * recall, beta**2 * precision + recall)


def rates(tp: float, fp: float, fn: float, tn: float) -> dict[str, float]:
    """The threshold metrics from a confusion matrix's four counts."""
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "precision": precision,
        "recall": recall,
        "f0_5": _f_beta(precision, recall, 0.5),
        "f1": _f_beta(precision, recall, 1.0),
        "f2": _f_beta(precision, recall, 2.0),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
        "true_positive_rate": recall,
        "true_negative_rate": _ratio(tn, tn + fp),
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, fn + tp),
    }


def threshold_metrics(y: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, float]:
    return rates(**confusion(y, (probability >= threshold).astype(np.int8)))


def scalar_metrics(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Every single-number metric at the default threshold (resampled_metrics computes the same per resample)."""
    # In float64: float32 (xgboost's output) rounds 1 - 1e-15 to 1, and a probability of 1 made the loss NaN.
    exact = probability.astype(np.float64)
    clipped = np.clip(exact, 1e-15, 1 - 1e-15)
    return {
        "auc": float(metrics.roc_auc_score(y, probability)),
        "pr_auc": float(metrics.average_precision_score(y, probability)),
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
        "brier_score": float(np.mean((exact - y) ** 2)),
        **threshold_metrics(y, probability, DEFAULT_THRESHOLD),
    }


def interval_95(values: np.ndarray) -> list[float]:
    return [float(np.percentile(values, q)) for q in (2.5, 97.5)]


def best_f1_threshold(y: np.ndarray, probability: np.ndarray) -> float:
    precision, recall, thresholds = metrics.precision_recall_curve(y, probability)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    # The last precision/recall pair has no threshold.
    return float(thresholds[int(np.argmax(f1[:-1]))])


def calibration_table(y: np.ndarray, probability: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Per equal-width probability bin: rows, mean predicted probability, observed positive rate."""
    index = np.minimum((probability * bins).astype(int), bins - 1)
    table = []
    for position in range(bins):
        members = index == position
        count = int(members.sum())
        table.append(
            {
                "bin_lower": position / bins,
                "bin_upper": (position + 1) / bins,
                "count": count,
                "mean_predicted": float(probability[members].mean()) if count else None,
                "observed_rate": float(y[members].mean()) if count else None,
            }
        )
    return table


def _thinned(values: np.ndarray, points: int = CURVE_POINTS) -> list[float]:
    picks = np.unique(np.linspace(0, len(values) - 1, min(points, len(values))).astype(int))
    return [float(value) for value in values[picks]]


def evaluation_document(
    y: np.ndarray,
    probability: np.ndarray,
    samples: dict[str, np.ndarray],
    best_threshold: float,
    label_threshold: float = DEFAULT_THRESHOLD,
) -> dict:
    """evaluation.json: SageMaker's binary_classification_metrics (at 0.5), plus details for the report, among them
    the confusion matrix at the label cut-off the endpoint labels with (cdk.json training.label_threshold)."""
    point = scalar_metrics(y, probability)

    def shaped(name: str) -> dict[str, float]:
        spread = samples.get(name)
        deviation = float(np.std(spread, ddof=1)) if spread is not None and len(spread) > 1 else 0.0
        return {"value": point[name], "standard_deviation": deviation}

    counts = confusion(y, (probability >= DEFAULT_THRESHOLD).astype(np.int8))
    fpr, tpr, _ = metrics.roc_curve(y, probability)
    precisions, recalls, _ = metrics.precision_recall_curve(y, probability)
    prevalence = float(y.mean())
    # "Best constant classifier": always predicting the majority class, SageMaker's baseline.
    constant = threshold_metrics(y, np.full_like(probability, 1.0 if prevalence >= 0.5 else 0.0), DEFAULT_THRESHOLD)
    auc_samples = samples.get("auc", np.array([point["auc"]]))
    return {
        "binary_classification_metrics": {
            **{name: shaped(name) for name in point},
            "confusion_matrix": {
                "0": {"0": counts["tn"], "1": counts["fp"]},
                "1": {"0": counts["fn"], "1": counts["tp"]},
            },
            "recall_best_constant_classifier": {"value": constant["recall"], "standard_deviation": 0.0},
            "precision_best_constant_classifier": {"value": constant["precision"], "standard_deviation": 0.0},
            "accuracy_best_constant_classifier": {"value": constant["accuracy"], "standard_deviation": 0.0},
            "f1_best_constant_classifier": {"value": constant["f1"], "standard_deviation": 0.0},
            "receiver_operating_characteristic_curve": {
                "false_positive_rates": _thinned(fpr),
                "true_positive_rates": _thinned(tpr),
            },
            "precision_recall_curve": {"precisions": _thinned(precisions), "recalls": _thinned(recalls)},
        },
        "evaluation_details": {
            "test_rows": len(y),
            "test_positive_rate": prevalence,
            "auc_confidence_interval_95": interval_95(auc_samples),
            "bootstrap_samples": len(auc_samples),
            "at_threshold_0_5": threshold_metrics(y, probability, DEFAULT_THRESHOLD),
            "best_f1_threshold": best_threshold,
            "at_best_f1_threshold": threshold_metrics(y, probability, best_threshold),
            "confusion_matrix_at_best_f1_threshold": confusion(y, (probability >= best_threshold).astype(np.int8)),
            "confusion_matrix_at_label_threshold": confusion(y, (probability >= label_threshold).astype(np.int8)),
            "calibration": calibration_table(y, probability),
        },
    }
