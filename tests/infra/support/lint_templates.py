"""python tests/infra/support/lint_templates.py CDK_OUT: cfn-lint on every template in CDK_OUT's assemblies, as one
run (the ignored checks: .cfnlintrc.yaml in the working folder). A missing CDK_OUT is synthesized first with the
CDK CLI, as `make synth` does. Prints `linting <template>` for each, then cfn-lint's findings; exits with
cfn-lint's code.

tests/infra/test_cfn_lint.py runs it as an early process (tests/infra/support/early_process.py) on the CLI synth's
output, beside the rest of the suite: 5 s of CPU that the suite's own process no longer spends waiting.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def main(cdk_out: Path) -> int:
    if not cdk_out.is_dir():
        synth = subprocess.run(["cdk", "synth", "--quiet", "--output", str(cdk_out)], capture_output=True, text=True)
        if synth.returncode != 0:
            print(f"cdk synth failed:\n{synth.stdout}{synth.stderr}", file=sys.stderr)
            return synth.returncode
    templates = sorted(cdk_out.glob("assembly-*/*.template.json"))
    for template in templates:
        print(f"linting {template.relative_to(cdk_out)}", flush=True)
    return subprocess.run([str(CFN_LINT), "--format", "parseable", *map(str, templates)], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
