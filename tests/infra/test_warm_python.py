"""The twin's `python3` (twin/warm_python.py): a script forked from the warm server behaves as under the real
interpreter: same argv, folder, environment, sys.path[0], output, exit code and signals. The server here preloads
one small module (colorsys, which no interpreter imports at start) to show which runs were forks."""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from twin.job_runner import common_environment
from twin.warm_python import REAL_PYTHON, WarmPython

# A process still running after this has hung: the test fails. Generous, as tests/infra/support/early_process.py's:
# on a loaded shared machine a signal's way through the stand-in, the server and the fork once outlasted 60 s.
HANG_GUARD_SECONDS = 600

SCRIPT = """
import json, os, sys
import sibling
print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "job": os.environ.get("JOB_SETTING"),
                  "path0": sys.path[0], "name": __name__, "file": __file__, "sibling": sibling.VALUE}))
print("to stderr", file=sys.stderr)
if sys.argv[1] == "raise":
    raise ValueError("the job failed")
sys.exit(int(sys.argv[1]))
"""
WAITS = """
import os, sys, time
print(os.getpid(), "colorsys" in sys.modules, flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmPython]:
    with WarmPython(tmp_path_factory.mktemp("warm"), common_environment(), preloaded=("colorsys",)) as warm:
        yield warm


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "job.py").write_text(textwrap.dedent(SCRIPT))
    (folder / "sibling.py").write_text("VALUE = 'from the script folder'\n")
    (folder / "waits.py").write_text(textwrap.dedent(WAITS))
    (folder / "is_fork.py").write_text("import sys\nprint('colorsys' in sys.modules)\n")
    (folder / "interleaves.py").write_text(
        "import sys\nprint('out 1')\nprint('err', file=sys.stderr)\nprint('out 2')\n"
    )
    (folder / "starts_python.py").write_text(
        "import subprocess, sys\nprint(sys.executable)\nsubprocess.run([sys.executable, 'is_fork.py'], check=True)\n"
    )
    return folder


def run(python: Path, arguments: list[str], cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {**common_environment(), **environment}
    return subprocess.run([str(python), *arguments], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=HANG_GUARD_SECONDS, check=False)  # fmt: skip


@pytest.mark.parametrize("outcome", ["0", "3", "raise"])
def test_a_forked_script_runs_as_under_the_real_interpreter(
    python: WarmPython, scripts: Path, tmp_path: Path, outcome: str
) -> None:
    arguments = ["code/job.py", outcome, "--flag", "a value"]
    forked = run(python.bin / "python3", arguments, tmp_path, JOB_SETTING="set for this job")
    real = run(REAL_PYTHON, arguments, tmp_path, JOB_SETTING="set for this job")
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)
    assert run(python.bin / "python3", ["code/is_fork.py"], tmp_path).stdout == "True\n"


@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_output_is_buffered_as_under_the_real_interpreter(python: WarmPython, scripts: Path, unbuffered: str) -> None:
    outputs = []
    for interpreter in (python.bin / "python3", REAL_PYTHON):
        environment = {**common_environment(), "PYTHONUNBUFFERED": unbuffered}
        completed = subprocess.run([str(interpreter), "interleaves.py"], cwd=scripts, env=environment,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   timeout=HANG_GUARD_SECONDS, check=True)  # fmt: skip
        outputs.append(completed.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0] == ("out 1\nerr\nout 2\n" if unbuffered else "err\nout 1\nout 2\n")


def test_sys_executable_is_the_python_it_was_started_as(python: WarmPython, scripts: Path) -> None:
    lines = run(python.bin / "python3", ["starts_python.py"], scripts).stdout.splitlines()
    assert lines == [str(python.bin / "python3"), "True"]  # and what it starts with it is forked too


def test_an_environment_a_library_reads_when_it_loads_gets_a_fresh_interpreter(
    python: WarmPython, scripts: Path
) -> None:
    assert run(python.bin / "python3", ["is_fork.py"], scripts, OMP_NUM_THREADS="1").stdout == "False\n"
    assert run(python.bin / "python", ["-c", "print(1 + 1)"], scripts).stdout == "2\n"


def start_waiting(python: WarmPython, scripts: Path) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([str(python.bin / "python3"), "waits.py"], cwd=scripts, env=common_environment(),
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout is not None
    pid, forked = process.stdout.readline().split()
    assert forked == "True"
    return process, int(pid)


def wait_until_gone(pid: int) -> None:
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), f"process {pid} still runs"


def test_a_signal_to_the_process_reaches_the_fork_and_its_end_is_the_callers(python: WarmPython, scripts: Path) -> None:
    process, pid = start_waiting(python, scripts)
    process.terminate()
    assert process.wait(timeout=HANG_GUARD_SECONDS) == -signal.SIGTERM
    wait_until_gone(pid)


def test_a_killed_process_takes_its_fork_with_it(python: WarmPython, scripts: Path) -> None:
    process, pid = start_waiting(python, scripts)
    process.kill()
    process.wait(timeout=HANG_GUARD_SECONDS)
    wait_until_gone(pid)


def test_forks_still_running_end_with_the_server(tmp_path: Path, scripts: Path) -> None:
    with WarmPython(tmp_path / "warm", common_environment(), preloaded=("colorsys",)) as python:
        process, pid = start_waiting(python, scripts)
    assert process.wait(timeout=HANG_GUARD_SECONDS) == -signal.SIGKILL
    wait_until_gone(pid)
