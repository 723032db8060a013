"""A window of captured traffic against the serving version's baseline: per feature PSI, missing and unknown-level
rates, the score distribution's PSI and, with labels, realized ROC-AUC and calibration. The report says what
drifted and by how much, in the style of evaluation.json; monitor.py writes it and publishes its figures.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import Counter
from typing import Any

import numpy as np

import drift
from capture import CaptureWindow

REPORT_FILE = "monitoring_report.json"
UNKNOWN_LEVEL = "(unknown level)"
MISSING = "(missing)"
# Realized ROC-AUC's bootstrap interval; a window's labelled rows are few, so this stays cheap.
REALIZED_AUC_RESAMPLES = 200


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Where the report calls a figure a problem; the alarms use the same numbers (cdk.json, monitoring)."""

    feature_psi: float = 0.25
    score_psi: float = 0.25
    auc_drop: float = 0.05  # realized ROC-AUC below the approved one by more than this
    min_rows: int = 100  # fewer rows in the window: too little traffic for a drift verdict
    min_labelled_rows: int = 100


def _is_missing(value: object, missing_values: set[str]) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in missing_values


def _numeric(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    number = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def feature_drift(feature: dict[str, Any], values: list[object], missing_values: set[str]) -> dict[str, Any]:
    """One feature of the window against its baseline: counts per bin (+ unknown level + missing), PSI over them."""
    rows = len(values)
    missing = sum(1 for value in values if _is_missing(value, missing_values))
    present = [value for value in values if not _is_missing(value, missing_values)]
    invalid = 0
    if feature["kind"] == "categorical":
        positions = {level: position for position, level in enumerate(feature["levels"])}
        counts = np.zeros(len(feature["levels"]) + 1, dtype=np.int64)  # the last bin: unknown levels
        for value in present:
            counts[positions.get(str(value).strip(), len(feature["levels"]))] += 1
        window_counts = [*counts.tolist(), missing]
        baseline_counts = [*feature["counts"], 0, feature["missing"]]
        unknown = int(counts[-1])
    else:
        numbers = []
        for value in present:
            try:
                numbers.append(_numeric(value))
            except (TypeError, ValueError):
                invalid += 1
        counts = drift.numeric_bin_counts(np.asarray(numbers, dtype=np.float64), feature["edges"])
        window_counts = [*counts.tolist(), missing]
        baseline_counts = [*feature["counts"], feature["missing"]]
        unknown = 0
    baseline_shares = drift.shares(np.asarray(baseline_counts))
    window_shares = drift.shares(np.asarray(window_counts))
    usable = rows - invalid
    return {
        "name": feature["name"],
        "kind": feature["kind"],
        "rows": rows,
        "psi": drift.population_stability_index(baseline_shares, window_shares) if usable else None,
        "missing_rate": missing / rows if rows else None,
        "baseline_missing_rate": float(baseline_shares[-1]),
        "unknown_level_rate": (unknown / rows if rows else None) if feature["kind"] == "categorical" else None,
        "invalid_values": invalid,
        "largest_shift": _largest_shift(feature, baseline_shares, window_shares),
    }


def _bin_names(feature: dict[str, Any]) -> list[str]:
    if feature["kind"] == "categorical":
        return [*feature["levels"], UNKNOWN_LEVEL, MISSING]
    edges = feature["edges"]
    bounds = [-math.inf, *edges, math.inf]
    return [f"[{low:g}, {high:g})" for low, high in itertools.pairwise(bounds)] + [MISSING]


def _largest_shift(feature: dict[str, Any], expected: np.ndarray, actual: np.ndarray) -> dict[str, Any]:
    """The bin whose share moved most: what an engineer looks at first."""
    position = int(np.argmax(np.abs(actual - expected)))
    return {
        "bin": _bin_names(feature)[position],
        "baseline_share": float(expected[position]),
        "window_share": float(actual[position]),
    }


def window_scores(window: CaptureWindow) -> np.ndarray:
    return np.asarray([score for request in window.requests if request.scores for score in request.scores])


def score_drift(baseline: dict[str, Any], scores: np.ndarray) -> dict[str, Any]:
    score = baseline["score"]
    expected = drift.shares(np.asarray(score["counts"]))
    actual = drift.shares(drift.numeric_bin_counts(scores, score["edges"]))
    return {
        "rows": int(scores.size),
        "psi": drift.population_stability_index(expected, actual) if scores.size else None,
        "mean": float(scores.mean()) if scores.size else None,
    }


def joined_labels(window: CaptureWindow, labels: dict[tuple[str, int], int]) -> tuple[np.ndarray, np.ndarray, int]:
    """(labels, scores) of the window's scored rows that have a label, and how many labels matched no row."""
    found_labels, found_scores, matched = [], [], set()
    for request in window.requests:
        if request.inference_id is None or request.scores is None:
            continue
        for row, score in enumerate(request.scores):
            key = (request.inference_id, row)
            if key in labels:
                matched.add(key)
                found_labels.append(labels[key])
                found_scores.append(score)
    return np.asarray(found_labels), np.asarray(found_scores), len(set(labels) - matched)


def realized_quality(
    window: CaptureWindow, labels: dict[tuple[str, int], int], approved: dict[str, Any], thresholds: Thresholds
) -> dict[str, Any]:
    y, scores, unmatched = joined_labels(window, labels)
    result: dict[str, Any] = {
        "labelled_rows": int(y.size),
        "labels_without_a_captured_request": unmatched,
        "approved_auc": approved["auc"],
        "approved_auc_confidence_interval_95": approved["auc_confidence_interval_95"],
        "auc": None,
        "auc_confidence_interval_95": None,
        "auc_drop": None,
        "calibration": None,
        "status": "no labels",
    }
    if y.size == 0:
        return result
    auc = drift.roc_auc(y, scores)
    if auc is None:
        result["status"] = f"only one class among the {y.size} labelled rows: ROC-AUC needs both"
        return result
    result.update(
        auc=auc,
        auc_confidence_interval_95=drift.bootstrap_auc_interval(y, scores, REALIZED_AUC_RESAMPLES, seed=42),
        auc_drop=approved["auc"] - auc,
        calibration=drift.calibration(y, scores),
    )
    low, high = approved["auc_confidence_interval_95"]
    if y.size < thresholds.min_labelled_rows:
        result["status"] = f"too few labelled rows ({y.size} < {thresholds.min_labelled_rows}) for a verdict"
    elif approved["auc"] - auc > thresholds.auc_drop:
        result["status"] = (
            f"degraded: ROC-AUC {auc:.4f} is {approved['auc'] - auc:.4f} below the approved {approved['auc']:.4f}"
        )
    else:
        inside = "within" if low <= auc <= high else "outside"
        result["status"] = f"ok: ROC-AUC {auc:.4f}, {inside} the evaluation's interval [{low:.4f}, {high:.4f}]"
    return result


def build_report(
    baseline: dict[str, Any],
    window: CaptureWindow,
    labels: dict[tuple[str, int], int] | None,
    label_problems: Counter | None,
    thresholds: Thresholds,
    context: dict[str, Any],
) -> dict[str, Any]:
    missing_values = set(baseline["missing_values"])
    features = [
        feature_drift(
            feature, [row.get(feature["name"]) for request in window.requests for row in request.rows], missing_values
        )
        for feature in baseline["features"]
    ]
    rows = window.rows
    scores = score_drift(baseline, window_scores(window))
    enough = rows >= thresholds.min_rows
    drifted = [f["name"] for f in features if enough and f["psi"] is not None and f["psi"] > thresholds.feature_psi]
    score_drifted = enough and scores["psi"] is not None and scores["psi"] > thresholds.score_psi
    quality = realized_quality(window, labels or {}, baseline["approved_quality"], thresholds)
    problems = dict(sorted(window.problems.items()))
    if rows == 0:
        verdict = "no traffic: the window holds no usable captured request"
    elif not enough:
        verdict = f"too little traffic for a verdict: {rows} rows < {thresholds.min_rows}"
    elif drifted or score_drifted:
        parts = [f"{', '.join(drifted)} (PSI above {thresholds.feature_psi:g})"] if drifted else []
        parts += [f"the score (PSI above {thresholds.score_psi:g})"] if score_drifted else []
        verdict = f"drift: {'; '.join(parts)}"
    else:
        verdict = "no drift"
    return {
        "verdict": verdict,
        "drifted_features": drifted,
        "score_drifted": score_drifted,
        "window": {
            **context,
            "files": window.files,
            "records": window.records,
            "requests": len(window.requests),
            "rows": rows,
            "rows_with_scores": scores["rows"],
            "problems": problems,
        },
        "thresholds": dataclasses.asdict(thresholds),
        "max_feature_psi": max((f["psi"] for f in features if f["psi"] is not None), default=None),
        "features": sorted(features, key=lambda f: -(f["psi"] or 0.0)),
        "score": scores,
        "realized_quality": {**quality, "label_problems": dict(sorted((label_problems or Counter()).items()))},
    }
