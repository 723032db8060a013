"""The quality gate's verdict, as the pipeline's condition step decides it, with one sentence for people; and how the
model fares against every environment's threshold."""

from __future__ import annotations

from typing import Any


def threshold_verdicts(auc: float, thresholds: tuple[tuple[str, float], ...], current: str) -> list[dict[str, Any]]:
    return [
        {"environment": name, "threshold": threshold, "passes": auc >= threshold, "this_run": name == current}
        for name, threshold in thresholds
    ]


def _places(*gaps: float) -> int:
    """Decimal places (4 at least) at which every non-zero gap still shows as non-zero."""
    places = 4
    while places < 12 and any(0 < abs(gap) < 0.5 * 10**-places for gap in gaps):
        places += 1
    return places


def quality_gate(auc: float, threshold: float | None, comparison: dict[str, Any]) -> dict[str, Any]:
    """The gate's verdict and one sentence for people: which rule failed and by how much, or what passed.

    The pipeline's single condition step checks the same two rules on the same numbers (ROC-AUC at least the
    AucThreshold parameter, which this run receives too, and at least champion_comparison.gate.minimum_auc),
    and its Fail step's message is `reason`.
    """
    gate, champion = comparison["gate"], comparison["champion"]
    failed: list[str] = []
    reasons: list[str] = []
    passed: list[str] = []
    champion_auc = champion["auc"]["value"] if champion is not None else None
    places = _places(auc - (threshold or 0.0), auc - (champion_auc or 0.0) + (gate["margin"] or 0.0))
    if threshold is not None:
        if auc >= threshold:
            passed.append(f"clears the threshold {threshold:g}")
        else:
            failed.append("threshold")
            reasons.append(f"is {threshold - auc:.{places}f} below the threshold {threshold:g}")
    if gate["margin"] is not None:
        margin = gate["margin"]
        if champion_auc is None:
            passed.append("has no serving model to compare with")
        elif gate["passes"]:
            passed.append(f"is within the margin {margin:g} of the serving model's ROC-AUC {champion_auc:.{places}f}")
        else:
            failed.append("champion")
            reasons.append(
                f"is {champion_auc - auc:.{places}f} below the serving model's ROC-AUC {champion_auc:.{places}f},"
                f" more than the margin {margin:g}"
            )
    flips = comparison.get("flip_gate", {})
    if flips.get("passes") is False:
        failed.append("flip_rate")
        rate = comparison["decision_stability"]["flip_rate"]
        reasons.append(f"would flip {rate:.2%} of the test rows' labels, more than {flips['max_flip_rate']:.2%}")
    sentence = ", and ".join(reasons) if failed else ", and ".join(passed) or "is not gated (no threshold given)"
    return {
        "passes": not failed,
        "failed_rules": failed,
        "auc_threshold": threshold,
        "champion_auc_margin": gate["margin"],
        "reason": f"ROC-AUC {auc:.{places}f} {sentence}",
    }
