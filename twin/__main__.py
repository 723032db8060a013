"""python -m twin [--env dev] [--data FILE] [--rows N] [--scenario NAME] [--cdk-out DIR] [--work-dir DIR]

Runs the system offline from cdk.out (synthesized first when missing: `make e2e` synthesizes it), one line per
stage, and ends with the endpoint's answer. Exit code 1 and the reason when a scenario does not go as expected.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twin import scenarios
from twin.job_runner import REPO_ROOT
from twin.system import Twin

STARTED = time.monotonic()
STAGES: list[list[str]] = []  # every line said, for --report


def say(stage: str, text: str) -> None:
    STAGES.append([stage, text])
    print(f"[{time.monotonic() - STARTED:6.1f}s] {stage:<10} {text}", flush=True)


def synthesize(cdk_out: Path, environment: str) -> None:
    environment_variables = {
        **os.environ,
        "PATH": f"{REPO_ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
    }
    command = ["cdk", "synth", "--quiet", "-o", str(cdk_out), "-c", f"env={environment}", f"{environment}/*"]
    completed = subprocess.run(command, cwd=REPO_ROOT, env=environment_variables, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"error: cdk synth failed:\n{completed.stdout}{completed.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twin", description=__doc__.split("\n\n")[1])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--data", type=Path, default=scenarios.SHIPPED_SAMPLE, help="default: the shipped sample")
    parser.add_argument("--rows", type=int, default=None, help="use only the first N rows")
    parser.add_argument("--scenario", choices=scenarios.SCENARIOS, default="happy")
    parser.add_argument("--cdk-out", type=Path, default=REPO_ROOT / "cdk.out")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a temporary folder, removed at the end")
    parser.add_argument("--report", type=Path, default=None, help="write what happened as JSON (with --scenario all)")
    args = parser.parse_args(argv)
    if not (args.cdk_out / f"assembly-{args.env}").is_dir():
        say("synth", f"cdk synth {args.env} into {args.cdk_out}")
        synthesize(args.cdk_out, args.env)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="twin-"))
    try:
        data = scenarios.sample(args.data.resolve(), args.rows, work_dir / "data")
        with Twin(args.cdk_out, args.env, work_dir, say) as twin:
            if args.scenario == "happy":
                answer = scenarios.happy_path(twin, data)
                say("answer", answer.strip())
            elif args.scenario == "bad-upload":
                notice = scenarios.bad_upload(twin, data, work_dir / "data")
                say("answer", f"rejected: {notice['subject']}")
            elif args.scenario == "below-threshold":
                say("answer", scenarios.below_threshold(twin, data, work_dir / "data"))
            elif args.scenario == "second-approval":
                first, second = scenarios.second_approval(twin, data)
                say("answer", f"blue/green from version {first} to version {second}")
            elif args.scenario == "alarm-rollback":
                deployment = scenarios.alarm_rollback(twin, data)
                say("answer", f"rolled back: {deployment.get('cause')}")
            else:
                report = scenarios.run_all(twin, data, work_dir / "data")
                report["stages"] = STAGES
                if args.report:
                    args.report.write_text(json.dumps(report, indent=2), encoding="utf-8")
                failed = [name for name, outcome in report["outcomes"].items() if not outcome["ok"]]
                for name in failed:
                    say("failed", f"{name}: {report['outcomes'][name]['error']}")
                say(
                    "answer",
                    f"{len(report['outcomes']) - len(failed)} of {len(report['outcomes'])} scenarios went as expected",
                )
                if failed:
                    return 1
    except scenarios.ScenarioFailed as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
