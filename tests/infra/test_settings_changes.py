"""`make diff` leads with the cdk.json settings that change, in plain words, warnings first (its settings_changes.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.support.synthesis import cdk_json_context
from tools.review_diff.comparison import StackReview
from tools.review_diff.rendering import render_markdown, render_text
from tools.review_diff.settings_changes import setting_changes, settings_summary, summary_lines


def changed(changes: dict[str, Any]) -> dict[str, Any]:
    """cdk.json's context with `changes` applied: "env:dotted.path" -> value."""
    context = copy.deepcopy(cdk_json_context())
    for where, value in changes.items():
        environment, dotted = where.split(":")
        *parents, leaf = dotted.split(".")
        node = context["environments"][environment]
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return context


def summary(changes: dict[str, Any]) -> list[str]:
    return summary_lines(setting_changes(cdk_json_context(), changed(changes)))


def test_a_setting_moved_into_the_shared_defaults_is_no_change() -> None:
    new = copy.deepcopy(cdk_json_context())
    old = copy.deepcopy(new)
    for settings in old["environments"].values():
        settings["training"]["label_threshold"] = old["environment_defaults"]["training"]["label_threshold"]
    del old["environment_defaults"]["training"]["label_threshold"]
    assert setting_changes(old, new) == []


def test_a_changed_shared_default_is_listed_for_every_environment() -> None:
    new = copy.deepcopy(cdk_json_context())
    new["environment_defaults"]["training"]["training_instance_count"] = 0
    changes = setting_changes(cdk_json_context(), new)
    assert [change.environment for change in changes] == ["dev", "stg", "prod"]
    assert [change.path for change in changes] == ["training.training_instance_count"] * 3
    assert all(change.warning is None for change in changes)  # not a guard


def test_a_lowered_prod_gate_is_a_warning_before_the_list_of_changes() -> None:
    assert summary({"prod:training.auc_threshold": 0.9}) == [
        "WARNING: prod: quality gate (minimum test ROC-AUC) (training.auc_threshold) goes down from 0.92 to 0.9: "
        "models of lower quality can be registered",
        "Settings (cdk.json) that change:",
        "  prod:",
        "    quality gate (minimum test ROC-AUC) (training.auc_threshold) goes down from 0.92 to 0.9",
    ]


def test_a_raised_gate_is_listed_without_a_warning() -> None:
    lines = summary({"dev:training.auc_threshold": 0.88})
    assert not any(line.startswith("WARNING") for line in lines)
    assert "    quality gate (minimum test ROC-AUC) (training.auc_threshold) goes up from 0.85 to 0.88" in lines


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        ({"stg:deployment.traffic_wait_seconds": 60}, "stg: bake time after traffic shifts (seconds)"),
        ({"prod:deployment.alarms.model_error_rate_percent": 20}, "more model errors before a rollback"),
        ({"prod:deployment.alarms.evaluation_periods": 5}, "the alarms fire later"),
        ({"prod:deployment.endpoint.data_capture_percent": 0}, "fewer requests are recorded"),
        ({"prod:deployment.endpoint.instance_count": 1}, "fewer instances serve production"),
        ({"stg:training.champion_auc_margin": None}, "the champion gate is off"),
        ({"prod:removal_policy": "destroy"}, "deletes the buckets"),
    ],
)
def test_each_weakened_guard_gets_a_warning(change: dict[str, Any], warning: str) -> None:
    (first, *_) = summary(change)
    assert first.startswith("WARNING: ") and warning in first


def test_fewer_instances_outside_production_is_no_warning() -> None:
    lines = summary({"dev:deployment.endpoint.instance_count": 0})
    assert lines == [
        "Settings (cdk.json) that change:",
        "  dev:",
        "    endpoint instances (deployment.endpoint.instance_count) goes down from 1 to 0",
    ]


def test_unchanged_settings_say_so() -> None:
    assert summary({}) == ["Settings (cdk.json): no environment setting changes."]


def test_a_setting_the_base_did_not_have_is_listed_as_added() -> None:
    old = changed({})
    del old["environment_defaults"]["training"]["label_threshold"]
    lines = summary_lines(setting_changes(old, cdk_json_context()))
    assert "    label cut-off of the endpoint (training.label_threshold) added: 0.5" in lines


def test_the_printed_report_leads_with_the_warning_then_the_stacks(tmp_path: Path) -> None:
    (tmp_path / "cdk.json").write_text(json.dumps({"context": changed({})}))
    (tmp_path / "new").mkdir()
    lowered = changed({"prod:training.auc_threshold": 0.9})
    (tmp_path / "new" / "cdk.json").write_text(json.dumps({"context": lowered}))
    settings = settings_summary(tmp_path, tmp_path / "new")
    reviews = [StackReview("prod/Training", "changed", (), "Resources\n[~] something")]

    text = render_text("Base x.", reviews, settings).splitlines()
    markdown = render_markdown("Base x.", reviews, settings=settings)

    assert text[0] == "Base x."
    assert text[1].startswith("WARNING: prod: quality gate (minimum test ROC-AUC) (training.auc_threshold) goes down")
    assert text.index("--- prod/Training: Changed: template metadata only") > 1
    assert markdown.index("WARNING: prod") < markdown.index("| `prod/Training`")
