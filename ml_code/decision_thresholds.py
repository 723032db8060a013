"""What a run's figures mean for the numbers a team sets: the label cut-off beside other reference thresholds (each
in precision and recall), the overfitting verdict from the split AUCs, and the ROC-AUC thresholds a run supports.

Standard library and numpy only: evaluate puts these in evaluation.json and the report, local_run prints them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# A train ROC-AUC this far above the test ROC-AUC is overfitting; half of it is worth a look. XGBoost's train AUC
# sits a little above test on any real data (0.94 vs 0.93 on the sample), so a small gap is normal.
OVERFITTING_GAP = 0.05
WATCH_GAP = 0.02
# The reference thresholds that hold recall (or precision) at least at this level.
TARGET_RATE = 0.8


def _counts(y: np.ndarray, probability: np.ndarray, threshold: float) -> tuple[int, int, int]:
    predicted = probability >= threshold
    tp = int(np.sum(predicted & (y == 1)))
    return tp, int(np.sum(predicted)) - tp, int(np.sum(y == 1)) - tp


def at_threshold(y: np.ndarray, probability: np.ndarray, threshold: float, positive: str) -> dict[str, Any]:
    """Precision, recall and the share labelled positive at one threshold, and what that means in words."""
    tp, fp, fn = _counts(y, probability, threshold)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    labelled = (tp + fp) / len(y) if len(y) else 0.0
    meaning = (
        f"labels {labelled:.1%} of rows '{positive}'; {precision:.0%} of those are (precision), "
        f"and they are {recall:.0%} of all '{positive}' rows (recall)"
    )
    return {"threshold": threshold, "precision": precision, "recall": recall, "labelled_positive": labelled,
            "meaning": meaning}  # fmt: skip


def _highest_with_recall(y: np.ndarray, probability: np.ndarray, rate: float) -> float | None:
    """The highest threshold (fewest rows labelled) that still finds `rate` of the positives."""
    positives = np.sort(probability[y == 1])[::-1]
    if not len(positives):
        return None
    return float(positives[max(math.ceil(rate * len(positives)) - 1, 0)])


def _lowest_with_precision(y: np.ndarray, probability: np.ndarray, rate: float) -> float | None:
    """The lowest threshold (most positives found) whose labelled rows are at least `rate` positive."""
    order = np.argsort(-probability, kind="stable")
    scores, hits = probability[order], np.cumsum(y[order] == 1)
    precision = hits / np.arange(1, len(order) + 1)
    # Only where the score changes is a threshold: ties are labelled together.
    last_of_tie = np.append(scores[1:] != scores[:-1], True)
    good = np.flatnonzero(last_of_tie & (precision >= rate))
    return float(scores[good[-1]]) if len(good) else None


def reference_thresholds(
    y: np.ndarray, probability: np.ndarray, label_threshold: float, best_f1: float, positive: str
) -> list[dict[str, Any]]:
    """The label cut-off first, then the thresholds a team compares it with, each in precision and recall."""
    candidates: list[tuple[str, float | None]] = [
        ("label cut-off (the endpoint labels with this)", label_threshold),
        ("0.5", 0.5),
        ("best F1", best_f1),
        (f"recall at least {TARGET_RATE:.0%}", _highest_with_recall(y, probability, TARGET_RATE)),
        (f"precision at least {TARGET_RATE:.0%}", _lowest_with_precision(y, probability, TARGET_RATE)),
    ]
    rows, seen = [], set()
    for name, threshold in candidates:
        if threshold is None or (name == "0.5" and threshold in seen):
            continue
        seen.add(threshold)
        rows.append({"name": name, **at_threshold(y, probability, threshold, positive)})
    return rows


def overfitting(split_auc: dict[str, float | None]) -> dict[str, Any]:
    """The verdict from the figures: how far the train ROC-AUC is above the test ROC-AUC."""
    train, test = split_auc.get("train"), split_auc.get("test")
    if train is None or test is None:
        return {"train_test_gap": None, "verdict": "unknown", "text": "no train ROC-AUC: overfitting not assessed"}
    gap = train - test
    figures = f"train ROC-AUC {train:.3f}, test {test:.3f}: a gap of {gap:+.3f}"
    if gap >= OVERFITTING_GAP:
        verdict, text = (
            "overfitting",
            (
                f"overfitting: {figures} (at least {OVERFITTING_GAP}); the model learnt its training rows more than the "
                "pattern: more data, fewer or shallower trees (max_depth, num_round) or ignored columns that identify rows"
            ),
        )
    elif gap >= WATCH_GAP:
        verdict, text = "watch", f"some overfitting: {figures} (at least {WATCH_GAP}); acceptable, worth watching"
    else:
        verdict, text = "none", f"no sign of overfitting: {figures}"
    return {"train_test_gap": gap, "verdict": verdict, "text": text}


def supported_auc_threshold(interval_95: list[float]) -> float:
    """The highest two-decimal ROC-AUC threshold at or below the run's 95% interval: a retrain of the same quality
    passes it about 39 times out of 40; a threshold inside the interval fails such a model often."""
    return math.floor(interval_95[0] * 100) / 100


def threshold_advice(document: dict[str, Any]) -> str:
    """What a run on new data says about the environments' ROC-AUC thresholds, and where to set them."""
    low, high = document["evaluation_details"]["auc_confidence_interval_95"]
    supported = supported_auc_threshold([low, high])
    failing = [v for v in document["thresholds"]["environments"] if not v["passes"]]
    line = (
        f"thresholds: this run's test ROC-AUC 95% interval is [{low:.3f}, {high:.3f}]; a training.auc_threshold up to "
        f"{supported:.2f} passes a model like this one"
    )
    if failing:
        names = ", ".join(f"{v['environment']} {v['threshold']:.2f}" for v in failing)
        line += (
            f" ({names} would fail it): if this quality is what your data allows, set auc_threshold per environment "
            "in cdk.json (context.environments.<env>.training), usually rising from dev to prod"
        )
    return line
