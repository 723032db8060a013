"""The developer tools (ml_code/local/) start as `make` starts them and import the container modules they drive."""

from __future__ import annotations

import subprocess
import sys

from ml_helpers import ML_CODE, ML_TOOLS

import bundle_contents

TOOLS = ("local_run.py", "local_endpoint.py", "draft_contract.py", "monitor_replay.py")


def test_each_tool_starts_from_the_repository_root_as_make_runs_it() -> None:
    # -E: no PYTHONPATH from the test run; each tool must find ml_code's modules by itself. local_run.py is
    # started this way by every test in test_local_run.py; the others, side by side, here.
    started = {
        tool: subprocess.Popen(
            [sys.executable, "-E", "-s", f"ml_code/local/{tool}", "--help"],
            cwd=ML_CODE.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tool in ("local_endpoint.py", "draft_contract.py", "monitor_replay.py")
    }
    for tool, process in started.items():
        stdout, stderr = process.communicate()
        assert process.returncode == 0, f"{tool}: {stderr}"
        assert stdout.startswith("usage:"), tool


def test_the_tools_live_apart_from_what_the_containers_run() -> None:
    assert all((ML_TOOLS / tool).is_file() for tool in TOOLS)
    assert not set(TOOLS) & set(bundle_contents.BUNDLE_FILES)
