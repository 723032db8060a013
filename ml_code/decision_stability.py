"""Stable decisions across retrains: how many test rows would get another label at the endpoint's cut-off if the
challenger replaced the serving model, and which scores move most. Evaluate reports it beside the champion
comparison; an optional gate (cdk.json training.max_flip_rate, off by default) fails a run that flips too many.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LARGEST_SHIFTS_SHOWN = 5


def decision_stability(challenger: np.ndarray, champion: np.ndarray, label_threshold: float) -> dict[str, Any]:
    """Both models' probabilities on the same test rows, compared at the cut-off (p >= cut-off is positive)."""
    new, old = challenger >= label_threshold, champion >= label_threshold
    shift = challenger.astype(np.float64) - champion.astype(np.float64)
    largest = np.argsort(-np.abs(shift), kind="stable")[:LARGEST_SHIFTS_SHOWN]
    return {
        "label_threshold": label_threshold,
        "rows": int(shift.size),
        "flip_rate": float(np.mean(new != old)),
        "flipped_to_positive": int(np.sum(new & ~old)),
        "flipped_to_negative": int(np.sum(~new & old)),
        "mean_absolute_score_shift": float(np.mean(np.abs(shift))),
        # Test-split row numbers and scores only: no feature values.
        "largest_score_shifts": [
            {"test_row": int(row), "serving": float(champion[row]), "challenger": float(challenger[row])}
            for row in largest
        ],
    }


def flip_gate(stability: dict[str, Any] | None, max_flip_rate: float | None) -> dict[str, Any]:
    """The gate's numbers; `margin` (max - flip rate, the pipeline's condition reads margin >= 0) is always a number:
    with no gate or no serving model to compare with there is nothing to fail."""
    if max_flip_rate is None or stability is None:
        return {"max_flip_rate": max_flip_rate, "margin": 0.0, "passes": None if max_flip_rate is None else True}
    margin = max_flip_rate - stability["flip_rate"]
    return {"max_flip_rate": max_flip_rate, "margin": margin, "passes": margin >= 0}


def sentence(comparison: dict[str, Any]) -> str:
    """The report's line on stability, from evaluation.json's champion_comparison."""
    stability, gate = comparison["decision_stability"], comparison["flip_gate"]
    text = (
        f"At the cut-off {stability['label_threshold']:g}, {stability['flip_rate']:.2%} of the test rows would get "
        f"another label than the serving model gives them ({stability['flipped_to_positive']} to positive, "
        f"{stability['flipped_to_negative']} to negative); mean absolute score shift "
        f"{stability['mean_absolute_score_shift']:.4f}"
    )
    if gate["max_flip_rate"] is None:
        return text + "; no flip-rate gate configured."
    return text + f"; flip-rate gate at most {gate['max_flip_rate']:.2%}: {'passes' if gate['passes'] else 'fails'}."
