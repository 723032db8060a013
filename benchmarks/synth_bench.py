"""Wall time of synthesizing every environment, beside a one-bucket reference app, in one run.

Measured two ways: through the CDK CLI exactly as `make synth` runs it, and as the app process alone (what
the CLI spends on top is its own start-up and reading the assembly). Beside them, variants of the project's
app that show what its parts cost: CDK's built-in CloudFormation validation switched back on, and cdk-nag
switched off. Every variant runs as its own process with the context the CLI would pass; the variants
alternate round by round so machine noise hits all alike. Prints JSON and a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_APP = REPO_ROOT / "benchmarks" / "reference_app.py"
# Variants of the project's app this script builds in a child process (see `synth_variant`).
APP_VARIANTS = ("project: built-in CloudFormation validation on", "project: without cdk-nag")


def cli_command(app: str, outdir: str) -> list[str]:
    return ["cdk", "synth", "--quiet", "--app", app, "--output", outdir, "**"]


def commands(outdir: str) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "reference via CLI": cli_command(f"{python} {REFERENCE_APP}", outdir),
        "project via CLI": cli_command(f"{python} app.py", outdir),
        "reference app alone": [python, str(REFERENCE_APP)],
        "project app alone": [python, "app.py"],
        **{variant: [python, __file__, "--variant", variant] for variant in APP_VARIANTS},
    }


def time_command(command: list[str], context: dict[str, object]) -> float:
    with tempfile.TemporaryDirectory() as outdir:
        environment = {**os.environ, "CDK_OUTDIR": outdir, "CDK_CONTEXT_JSON": json.dumps(context)}
        command = [outdir if part == "{outdir}" else part for part in command]
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO_ROOT, env=environment, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started


def synth_variant(variant: str) -> None:
    """Builds and synthesizes one variant of the project's app (in this child process)."""
    sys.path.insert(0, str(REPO_ROOT))
    import aws_cdk as cdk

    from stacks import application

    if variant == APP_VARIANTS[0]:
        app = cdk.App()  # CDK's default: built-in validation on
    else:
        app = application.new_app()

        class _NoPlugins:  # the app exactly as built, minus the cdk-nag plugin build_app registers
            @staticmethod
            def of(_scope: object) -> object:
                return _NoPlugins()

            def add_plugins(self, *_plugins: object) -> None:
                pass

        application.Validations = _NoPlugins  # type: ignore[assignment,misc]
    application.build_app(app)
    app.synth()


def markdown(result: dict[str, object]) -> str:
    medians: dict[str, float] = result["median_seconds"]  # type: ignore[assignment]
    rows = [f"| {name} | {seconds:.2f} |" for name, seconds in medians.items()]
    ratios = [f"| {name} | {ratio:.2f} |" for name, ratio in result["ratios"].items()]  # type: ignore[union-attr]
    return "\n".join(
        [
            f"Synth of {', '.join(result['environments'])} ({result['rounds']} rounds, medians; {result['machine']})",  # type: ignore[arg-type]
            "",
            "| variant | seconds |",
            "| --- | --- |",
            *rows,
            "",
            "| ratio | value |",
            "| --- | --- |",
            *ratios,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", choices=APP_VARIANTS, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.variant:
        synth_variant(arguments.variant)
        return
    if shutil.which("cdk") is None:
        sys.exit("the CDK CLI is not on PATH: run this through `make bench-synth`")
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    seconds: dict[str, list[float]] = {}
    for _ in range(arguments.rounds):
        for name, command in commands("{outdir}").items():
            seconds.setdefault(name, []).append(time_command(command, context))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    result = {
        "rounds": arguments.rounds,
        "environments": list(context["environments"]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "median_seconds": {name: round(value, 2) for name, value in medians.items()},
        "ratios": {
            "project / reference, via CLI": round(medians["project via CLI"] / medians["reference via CLI"], 2),
            "project / reference, app alone": round(medians["project app alone"] / medians["reference app alone"], 2),
        },
    }
    print(json.dumps(result, indent=2))
    print()
    print(markdown(result))


if __name__ == "__main__":
    main()
