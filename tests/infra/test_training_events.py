"""The EventBridge rules of the training stack against AWS's documented sample events."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.infra.support.eventbridge import matches
from tests.infra.support.sample_events import (
    MODEL_PACKAGE_STATE_CHANGE,
    OBJECT_CREATED,
    PIPELINE_ARN,
    PIPELINE_STATUS_CHANGE,
)
from tests.infra.support.synthesis import Synthesized
from tools.pipeline_rendering import render


def with_detail(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = changed["detail"]
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return changed


def resolved_pattern(synthesized: Synthesized, logical_id_prefix: str) -> dict[str, Any]:
    resources = synthesized.templates["dev"]["Training"]["Resources"]
    (rule,) = [
        r for name, r in resources.items() if name.startswith(logical_id_prefix) and r["Type"] == "AWS::Events::Rule"
    ]
    return _resolve(rule["Properties"]["EventPattern"])


def _resolve(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
        return render(value)
    if isinstance(value, dict):
        return {key: _resolve(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item) for item in value]
    return value


@pytest.fixture(scope="module")
def upload_rule(synthesized: Synthesized) -> dict[str, Any]:
    return resolved_pattern(synthesized, "TriggerUploadRule")


def test_upload_under_incoming_matches(upload_rule: dict[str, Any]) -> None:
    assert matches(upload_rule, OBJECT_CREATED)


@pytest.mark.parametrize(
    "event",
    [
        with_detail(OBJECT_CREATED, object__key="outgoing/features.csv"),
        with_detail(OBJECT_CREATED, object__key="features.csv"),
        with_detail(OBJECT_CREATED, bucket__name="someone-elses-bucket"),
        {**OBJECT_CREATED, "detail-type": "Object Deleted"},
    ],
    ids=["other prefix", "bucket root", "other bucket", "delete"],
)
def test_other_uploads_do_not_match(upload_rule: dict[str, Any], event: dict[str, Any]) -> None:
    assert not matches(upload_rule, event)


def test_failed_run_of_this_pipeline_matches(synthesized: Synthesized) -> None:
    pattern = resolved_pattern(synthesized, "NotifierPipelineFailedRule")
    assert matches(pattern, PIPELINE_STATUS_CHANGE)
    assert not matches(pattern, with_detail(PIPELINE_STATUS_CHANGE, currentPipelineExecutionStatus="Succeeded"))
    assert not matches(pattern, with_detail(PIPELINE_STATUS_CHANGE, pipelineArn=PIPELINE_ARN + "-other"))


def test_registration_in_this_group_matches(synthesized: Synthesized) -> None:
    pattern = resolved_pattern(synthesized, "NotifierModelRegisteredRule")
    assert matches(pattern, MODEL_PACKAGE_STATE_CHANGE)
    assert not matches(pattern, with_detail(MODEL_PACKAGE_STATE_CHANGE, ModelApprovalStatus="Approved"))
    assert not matches(pattern, with_detail(MODEL_PACKAGE_STATE_CHANGE, ModelPackageGroupName="mlops-prod"))
