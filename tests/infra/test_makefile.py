"""The Makefile's own promises: `make help` describes every target, `make clean` removes what it says."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.infra.support.synthesis import REPO_ROOT

MAKEFILE = REPO_ROOT / "Makefile"


def phony_targets() -> list[str]:
    lines = [line for line in MAKEFILE.read_text().splitlines() if line.startswith(".PHONY:")]
    return [target for line in lines for target in line.removeprefix(".PHONY:").split()]


def test_help_describes_every_target() -> None:
    result = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    described = {}
    for line in result.stdout.splitlines():
        found = re.fullmatch(r"  (\S+) +(\S.*)", line)
        assert found, f"not a 'target  description' line: {line!r}"
        described[found[1]] = found[2]
    assert sorted(described) == sorted(phony_targets())


def test_every_script_a_target_runs_exists() -> None:
    scripts = re.findall(r"\b((?:ml_code|tools|benchmarks)/[\w/]+\.py)\b", MAKEFILE.read_text())
    assert "ml_code/local/local_run.py" in scripts
    assert [script for script in scripts if not (REPO_ROOT / script).is_file()] == []


GENERATED = ["cdk.out/manifest.json", "build/ml_code/sourcedir.tar.gz"]
KEPT_BY_CLEAN = [
    "runs/20261127-053000-ab12/model/model.tar.gz",
    ".venv/bin/python",
    ".venv-ml/bin/python",
    "node_modules/.bin/cdk",
]


def _checkout_with_outputs(folder: Path) -> None:
    shutil.copy(MAKEFILE, folder / "Makefile")
    for relative in GENERATED + KEPT_BY_CLEAN:
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text("")
    (folder / "app.py").write_text("")


def test_clean_removes_generated_folders_and_keeps_runs_and_environments(tmp_path: Path) -> None:
    _checkout_with_outputs(tmp_path)
    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        ["Makefile", "app.py", "runs", ".venv", ".venv-ml", "node_modules"]
    )
    assert all((tmp_path / relative).exists() for relative in KEPT_BY_CLEAN)


def test_clean_all_also_removes_local_runs_and_the_installed_environments(tmp_path: Path) -> None:
    _checkout_with_outputs(tmp_path)
    subprocess.run(["make", "clean-all"], cwd=tmp_path, check=True, capture_output=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["Makefile", "app.py"]
