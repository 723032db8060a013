"""Least privilege, proven both ways, for every environment (docs/security.md, "Least privilege, proven both ways").

Runs after every other test of the session (conftest.py orders it last): it judges the AWS calls that the handler
tests made, recorded by tests/infra/support/iam_calls.py, against the policies of the synthesized templates.
"""

from __future__ import annotations

import pytest

from tests.infra.support.iam_calls import CallRecorder
from tests.infra.support.iam_check import least_privilege_findings
from tests.infra.support.iam_templates import Environment
from tests.infra.support.synthesis import Synthesized


@pytest.mark.after_handler_tests
def test_every_call_is_allowed_and_every_grant_is_used(synthesized: Synthesized, recorded_calls: CallRecorder) -> None:
    environments = [
        Environment(name, templates, synthesized.stages[name].region)
        for name, templates in synthesized.templates.items()
    ]
    findings = least_privilege_findings(environments, recorded_calls.calls)
    assert not findings, f"{len(findings)} least-privilege findings:\n" + "\n".join(findings)
