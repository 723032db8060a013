"""cfn-lint on every synthesized template: zero errors and warnings (ignored checks: .cfnlintrc.yaml)."""

from __future__ import annotations

import sys

from tests.infra.support.early_process import EarlyProcess, Finished
from tests.infra.support.synthesis import REPO_ROOT
from tests.infra.test_snapshots import CLI_SYNTH

# Beside the suite, on the CLI synth's templates (test_snapshots.py shows them byte-identical to the session's, which
# every other test checks); run without that test, it synthesizes its own (tests/infra/support/lint_templates.py).
CFN_LINT = EarlyProcess(
    "cfn-lint",
    (sys.executable, str(REPO_ROOT / "tests" / "infra" / "support" / "lint_templates.py"), "{after}"),
    after=CLI_SYNTH,
    after_fallback="{folder}/cdk.out",
)


@CFN_LINT.mark()
def test_cfn_lint_passes_on_every_template(early_process: Finished) -> None:
    completed = early_process.completed
    templates = [line for line in completed.stdout.splitlines() if line.startswith("linting ")]
    assert len(templates) >= 3, completed.stdout + completed.stderr
    assert completed.returncode == 0, completed.stdout + completed.stderr
