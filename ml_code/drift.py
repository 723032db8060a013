"""Drift statistics: how far a window of served traffic has moved from the training data, and realized ROC-AUC.

The drift statistic is the population stability index (PSI) over the baseline's bins,

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

with e_i the share of the baseline (training rows) in bin i and a_i the share of the window's rows. It is the
symmetrised Kullback-Leibler divergence (Jeffreys divergence) of the two binned distributions; its statistical
properties and the usual reading (< 0.1 no significant shift, 0.1-0.25 moderate, > 0.25 significant) are set
out in B. Yurdakul, "Statistical Properties of Population Stability Index", PhD dissertation, Western Michigan
University, 2018 (scholarworks.wmich.edu/dissertations/3208), after N. Siddiqi, "Credit Risk Scorecards",
Wiley, 2006. It reads the same way for every feature kind (numeric bins, category levels, a missing bin), needs
no labels, and a bin empty on one side is handled by a floor on the shares (PSI_SHARE_FLOOR) instead of dividing
by zero. Numpy only: the monitoring job runs it in the XGBoost image.
"""

from __future__ import annotations

import numpy as np

# A bin with no rows on one side would make ln(a/e) infinite; shares below this floor count as the floor
# (a common convention; with it one empty bin among ten adds at most about 0.1 * ln(0.1 / 1e-4) = 0.69).
PSI_SHARE_FLOOR = 1e-4


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts per bin as shares of their total (all zero for no rows)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of `actual` shares against `expected` shares over the same bins (each summing to 1)."""
    expected = np.maximum(np.asarray(expected, dtype=np.float64), PSI_SHARE_FLOOR)
    actual = np.maximum(np.asarray(actual, dtype=np.float64), PSI_SHARE_FLOOR)
    if expected.shape != actual.shape:
        raise ValueError(f"bins differ: {expected.shape} vs {actual.shape}")
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def numeric_bin_edges(values: np.ndarray, bins: int) -> list[float]:
    """Inner cut points at the quantiles of `values` (NaN ignored), without repeats: up to `bins` bins.

    A value v falls in bin searchsorted(edges, v, side="right"), so bin 0 is (-inf, edges[0]) and the last one
    [edges[-1], inf): a window's values beyond the training range still land in the outer bins."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return []
    cuts = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
    # Quantiles of a column with few distinct values repeat (e.g. capital-gain is mostly 0): keep each once.
    return [float(cut) for cut in np.unique(cuts)]


def numeric_bin_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts of the non-missing values per bin of `edges` (len(edges) + 1 bins)."""
    present = values[~np.isnan(values)]
    positions = np.searchsorted(np.asarray(edges, dtype=np.float64), present, side="right")
    return np.bincount(positions, minlength=len(edges) + 1)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC-AUC as the Mann-Whitney statistic (ties count one half); None without both classes."""
    labels = np.asarray(labels, dtype=bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = np.asarray(scores)[order]
    # Average ranks over ties: each run of equal scores gets the mean of its positions (1-based).
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    rank_sum = ranks[labels].sum()
    return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


def bootstrap_auc_interval(labels: np.ndarray, scores: np.ndarray, samples: int, seed: int) -> list[float] | None:
    """The 2.5 and 97.5 percentiles of ROC-AUC over bootstrap resamples of the rows (resamples with one class
    skipped); None when fewer than half of the resamples have both classes."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        rows = rng.integers(0, len(labels), len(labels))
        auc = roc_auc(labels[rows], scores[rows])
        if auc is not None:
            values.append(auc)
    if len(values) < samples / 2:
        return None
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def calibration(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> dict:
    """Mean score against the observed positive rate, overall and per equal-width score bin, and the expected
    calibration error (the rows-weighted mean of |observed - predicted| over the bins)."""
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    positions = np.minimum((scores * bins).astype(int), bins - 1)
    table, error = [], 0.0
    for position in range(bins):
        selected = positions == position
        rows = int(selected.sum())
        if rows == 0:
            continue
        predicted, observed = float(scores[selected].mean()), float(labels[selected].mean())
        error += rows / len(scores) * abs(observed - predicted)
        table.append(
            {
                "low": position / bins,
                "high": (position + 1) / bins,
                "rows": rows,
                "predicted": predicted,
                "observed": observed,
            }
        )
    return {
        "mean_predicted": float(scores.mean()),
        "observed_positive_rate": float(labels.mean()),
        "expected_calibration_error": error,
        "bins": table,
    }
