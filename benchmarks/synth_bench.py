"""Wall time of synthesizing every environment, beside a one-bucket reference app, in one run.

Each synth runs as its own process with the context the CDK CLI would pass, as `cdk synth` does; the two
apps alternate so that machine noise hits both alike. Prints JSON; reports, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
APPS = {"project": REPO_ROOT / "app.py", "reference": REPO_ROOT / "benchmarks" / "reference_app.py"}


def time_synth(app: Path, context: dict[str, object]) -> float:
    with tempfile.TemporaryDirectory() as outdir:
        environment = {**os.environ, "CDK_OUTDIR": outdir, "CDK_CONTEXT_JSON": json.dumps(context)}
        started = time.perf_counter()
        subprocess.run([sys.executable, str(app)], cwd=REPO_ROOT, env=environment, check=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    seconds: dict[str, list[float]] = {name: [] for name in APPS}
    for _ in range(rounds):
        for name, app in APPS.items():
            seconds[name].append(time_synth(app, context))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    result = {
        "rounds": rounds,
        "environments": list(context["environments"]),
        "median_seconds": {name: round(value, 2) for name, value in medians.items()},
        "ratio_project_to_reference": round(medians["project"] / medians["reference"], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
