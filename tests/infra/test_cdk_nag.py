"""cdk-nag's AwsSolutions pack runs on the whole app: zero unacknowledged findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import aws_s3 as s3

from stacks.application import build_app, new_app
from tests.infra.support.synthesis import Synthesized, cdk_json_context


def test_app_has_no_unacknowledged_findings(synthesized: Synthesized) -> None:
    # build_app registers the plugin; a finding would have failed the session's synth before this point.
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_a_finding_fails_synth(tmp_path: Path) -> None:
    # Proves the check above can fail: an unencrypted, unlogged bucket must stop synthesis.
    app = new_app(context={**cdk_json_context(), "env": "dev"}, outdir=str(tmp_path))
    (stage,) = build_app(app)
    s3.Bucket(stage.data, "NonCompliantBucket")
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {violation["ruleName"] for plugin in report["pluginReports"] for violation in plugin["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules
