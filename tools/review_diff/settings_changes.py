"""What a change does to the environments' settings in cdk.json, in plain words, for `make diff` to lead with.

Every changed setting is listed per environment; a change that weakens a guard (a lower quality gate, a looser
champion gate, a shorter bake, looser or slower alarms, less data capture, fewer instances in prod, a prod that
deletes its data on teardown) also gets a warning, and the warnings come first. Settings are compared as cdk.json
holds them, defaults resolved (the base commit's file may predate a setting), so nothing here depends on
settings/loading.py's checks.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from settings.loading import ENVIRONMENTS_CONTEXT_KEY as ENVIRONMENTS_KEY
from settings.loading import environment_settings
from tools.review_diff.git_and_cdk import REPO_ROOT

PRODUCTION = "prod"
# Plain words for settings a reviewer weighs; any other setting is shown by its path.
NAMES = {
    "training.auc_threshold": "quality gate (minimum test ROC-AUC)",
    "training.champion_auc_margin": "champion gate (how far below the serving model a new one may score)",
    "training.label_threshold": "label cut-off of the endpoint",
    "training.encrypt_inter_container_traffic": "encryption between training hosts",
    "deployment.traffic_wait_seconds": "bake time after traffic shifts (seconds)",
    "deployment.termination_wait_seconds": "wait before the old fleet is removed (seconds)",
    "deployment.endpoint.instance_count": "endpoint instances",
    "deployment.endpoint.autoscaling.min_instances": "autoscaling minimum instances",
    "deployment.endpoint.data_capture_percent": "data capture (% of requests)",
    "deployment.alarms.invocation_5xx_error_rate_percent": "rollback alarm: 5XX rate (%)",
    "deployment.alarms.model_error_rate_percent": "rollback alarm: model error rate (%)",
    "deployment.alarms.model_latency_microseconds": "rollback alarm: latency (microseconds)",
    "deployment.alarms.evaluation_periods": "rollback alarms: periods before they fire",
    "deployment.alarms.period_seconds": "rollback alarms: period (seconds)",
    "removal_policy": "what teardown does to data",
}
# path -> (the direction that weakens the guard, what the warning says), "lower": a smaller value weakens it.
WEAKENING: Mapping[str, tuple[str, str]] = {
    "training.auc_threshold": ("lower", "models of lower quality can be registered"),
    "training.champion_auc_margin": ("higher", "a new model may score further below the serving one"),
    "training.encrypt_inter_container_traffic": ("lower", "traffic between training hosts is no longer encrypted"),
    "deployment.traffic_wait_seconds": ("lower", "a shorter bake gives the rollback alarms less time"),
    "deployment.termination_wait_seconds": ("lower", "the old fleet is gone sooner, so a late rollback is slower"),
    "deployment.endpoint.data_capture_percent": ("lower", "fewer requests are recorded for later checks"),
    "deployment.alarms.invocation_5xx_error_rate_percent": ("higher", "more server errors before a rollback"),
    "deployment.alarms.model_error_rate_percent": ("higher", "more model errors before a rollback"),
    "deployment.alarms.model_latency_microseconds": ("higher", "slower answers before a rollback"),
    "deployment.alarms.evaluation_periods": ("higher", "the alarms fire later"),
    "deployment.alarms.period_seconds": ("higher", "the alarms fire later"),
}
# Weaken a guard in production only: capacity there is what absorbs a failed instance.
WEAKENING_IN_PRODUCTION: Mapping[str, tuple[str, str]] = {
    "deployment.endpoint.instance_count": ("lower", "fewer instances serve production"),
    "deployment.endpoint.autoscaling.min_instances": ("lower", "production may scale down to fewer instances"),
}
_MISSING = object()


@dataclasses.dataclass(frozen=True)
class SettingChange:
    environment: str
    path: str
    before: Any
    after: Any
    warning: str | None

    def describe(self) -> str:
        name = NAMES.get(self.path)
        label = f"{name} ({self.path})" if name else self.path
        if self.before is _MISSING:
            return f"{label} added: {_shown(self.after)}"
        if self.after is _MISSING:
            return f"{label} removed (was {_shown(self.before)})"
        verb = _verb(self.before, self.after)
        return f"{label} {verb} {_shown(self.before)} to {_shown(self.after)}"


def _shown(value: Any) -> str:
    if value is None:
        return "none (off)"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value) if isinstance(value, (int, float, str)) else repr(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, (int, float)) else None


def _verb(before: Any, after: Any) -> str:
    old, new = _number(before), _number(after)
    if old is not None and new is not None and not isinstance(before, bool):
        return "goes up from" if new > old else "goes down from"
    return "changes from"


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _leaves(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _weakens(path: str, environment: str, before: Any, after: Any) -> str | None:
    rule = WEAKENING.get(path) or (WEAKENING_IN_PRODUCTION.get(path) if environment == PRODUCTION else None)
    if path == "removal_policy" and before == "retain" and after == "destroy":
        return "tearing the stacks down now deletes the buckets and schedules the key for deletion"
    if path == "training.champion_auc_margin" and before is not None and after in (None, _MISSING):
        return "the champion gate is off: a new model is no longer compared with the serving one"
    if rule is None:
        return None
    direction, consequence = rule
    old = _number(before) if before is not _MISSING else None
    new = _number(after) if after is not _MISSING else None
    if old is None or new is None or old == new:
        return None
    return consequence if (new < old) == (direction == "lower") else None


def _environments(context: Mapping[str, Any]) -> dict[str, Any]:
    """Each environment's settings with the shared defaults resolved, so a setting moved between
    `environment_defaults` and an environment shows only if its value changed."""
    return environment_settings(context) if context.get(ENVIRONMENTS_KEY) else {}


def setting_changes(old_context: Mapping[str, Any], new_context: Mapping[str, Any]) -> list[SettingChange]:
    """Every changed setting of every environment, in the new file's order (removed environments last)."""
    old_environments, new_environments = _environments(old_context), _environments(new_context)
    changes = []
    for environment in dict.fromkeys([*new_environments, *old_environments]):
        old = dict(_leaves(old_environments.get(environment, {})))
        new = dict(_leaves(new_environments.get(environment, {})))
        for path in dict.fromkeys([*new, *old]):
            before, after = old.get(path, _MISSING), new.get(path, _MISSING)
            if before != after:
                changes.append(
                    SettingChange(environment, path, before, after, _weakens(path, environment, before, after))
                )
    return changes


def summary_lines(changes: list[SettingChange]) -> list[str]:
    """Warnings first, then every change per environment, in plain words."""
    if not changes:
        return ["Settings (cdk.json): no environment setting changes."]
    lines = [
        f"WARNING: {change.environment}: {change.describe()}: {change.warning}" for change in changes if change.warning
    ]
    lines.append("Settings (cdk.json) that change:")
    for environment in dict.fromkeys(change.environment for change in changes):
        lines.append(f"  {environment}:")
        lines += [f"    {change.describe()}" for change in changes if change.environment == environment]
    return lines


def settings_summary(base_source: Path, working_tree: Path = REPO_ROOT) -> list[str]:
    """The plain-words summary of the cdk.json settings that differ between two checkouts."""
    contexts = [json.loads((root / "cdk.json").read_text()).get("context", {}) for root in (base_source, working_tree)]
    return summary_lines(setting_changes(*contexts))
