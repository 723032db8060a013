"""Reading a synthesized pipeline definition: its steps by name (branches included), the quality gate's
conditions and Evaluate's arguments."""

from __future__ import annotations

from typing import Any


def steps_by_name(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step by name, also those inside condition branches."""
    flat: dict[str, dict[str, Any]] = {}
    pending = list(definition["Steps"])
    while pending:
        step = pending.pop(0)
        flat[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            pending.extend(step.get("Arguments", {}).get(branch, []))
    return flat


def gate_conditions(definition: dict[str, Any]) -> list[dict[str, Any]]:
    return steps_by_name(definition)["CheckQualityGate"]["Arguments"]["Conditions"]


def evaluate_arguments(definition: dict[str, Any]) -> dict[str, Any]:
    """Evaluate's container arguments as option -> value."""
    script, *arguments = steps_by_name(definition)["Evaluate"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert script == "evaluate.py"
    return dict(zip(arguments[::2], arguments[1::2], strict=True))
