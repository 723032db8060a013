"""The quality gate's verdict and the sentence that says which rule failed and by how much."""

from __future__ import annotations

import numpy as np
import pytest

import decision_stability
import quality_gate


def gate(auc: float, threshold: float | None, champion_auc: float | None, margin: float | None) -> dict:
    """quality_gate on a champion_comparison as evaluate writes it, reduced to what the gate reads."""
    passes = None if margin is None else champion_auc is None or auc >= champion_auc - margin
    comparison = {
        "champion": None if champion_auc is None else {"auc": {"value": champion_auc}},
        "gate": {"margin": margin, "passes": passes},
    }
    return quality_gate.quality_gate(auc, threshold, comparison)


def test_the_gate_reason_names_the_threshold_and_by_how_much() -> None:
    assert gate(0.81, 0.85, None, None) == {
        "passes": False,
        "failed_rules": ["threshold"],
        "auc_threshold": 0.85,
        "champion_auc_margin": None,
        "reason": "ROC-AUC 0.8100 is 0.0400 below the threshold 0.85",
    }


def test_the_gate_reason_names_the_serving_models_auc_and_the_margin() -> None:
    verdict = gate(0.90, 0.85, 0.93, 0.02)
    assert (verdict["passes"], verdict["failed_rules"]) == (False, ["champion"])
    assert verdict["reason"] == (
        "ROC-AUC 0.9000 is 0.0300 below the serving model's ROC-AUC 0.9300, more than the margin 0.02"
    )


def test_the_gate_reason_names_both_rules_when_both_fail() -> None:
    verdict = gate(0.80, 0.85, 0.93, 0.02)
    assert verdict["failed_rules"] == ["threshold", "champion"]
    assert verdict["reason"] == (
        "ROC-AUC 0.8000 is 0.0500 below the threshold 0.85, and is 0.1300 below the serving model's ROC-AUC 0.9300,"
        " more than the margin 0.02"
    )


def test_a_passing_gate_says_what_it_cleared() -> None:
    assert gate(0.93, 0.85, 0.925, 0.01)["reason"] == (
        "ROC-AUC 0.9300 clears the threshold 0.85, and is within the margin 0.01 of the serving model's ROC-AUC 0.9250"
    )
    assert gate(0.93, 0.85, None, 0.01)["reason"] == (
        "ROC-AUC 0.9300 clears the threshold 0.85, and has no serving model to compare with"
    )
    assert gate(0.93, 0.85, None, 0.01)["passes"] is True


def test_a_shortfall_smaller_than_the_shown_decimals_still_shows() -> None:
    # 0.84999 at four decimals would read "ROC-AUC 0.8500 is 0.0000 below the threshold 0.85".
    assert gate(0.84999, 0.85, None, None)["reason"] == "ROC-AUC 0.84999 is 0.00001 below the threshold 0.85"


def test_decision_stability_by_hand() -> None:
    challenger = np.array([0.1, 0.6, 0.4, 0.9, 0.5], dtype=np.float32)
    champion = np.array([0.2, 0.4, 0.6, 0.9, 0.49], dtype=np.float32)
    result = decision_stability.decision_stability(challenger, champion, 0.5)
    # At the cut-off 0.5: rows 1 and 4 become positive, row 2 negative: 3 of 5 flip.
    assert (result["flip_rate"], result["flipped_to_positive"], result["flipped_to_negative"]) == (0.6, 2, 1)
    assert result["mean_absolute_score_shift"] == pytest.approx((0.1 + 0.2 + 0.2 + 0.0 + 0.01) / 5, abs=1e-6)
    assert [shift["test_row"] for shift in result["largest_score_shifts"]] == [1, 2, 0, 4, 3]
    assert decision_stability.flip_gate(result, 0.5)["passes"] is False
    assert decision_stability.flip_gate(result, 0.5)["margin"] == pytest.approx(-0.1)
    assert decision_stability.flip_gate(None, 0.5) == {"max_flip_rate": 0.5, "margin": 0.0, "passes": True}
    assert decision_stability.flip_gate(result, None)["passes"] is None


def test_the_gate_reason_names_the_flip_rate_beyond_its_limit() -> None:
    stability = {"flip_rate": 0.125}
    comparison = {
        "champion": {"auc": {"value": 0.90}},
        "gate": {"margin": 0.02, "passes": True},
        "decision_stability": stability,
        "flip_gate": decision_stability.flip_gate(stability, 0.05),
    }
    verdict = quality_gate.quality_gate(0.91, None, comparison)
    assert (verdict["passes"], verdict["failed_rules"]) == (False, ["flip_rate"])
    assert verdict["reason"] == "ROC-AUC 0.9100 would flip 12.50% of the test rows' labels, more than 5.00%"
