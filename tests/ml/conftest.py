"""Shared fixtures for ml_code's tests. ml_code's modules are flat siblings, as in the containers."""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

# OpenMP threads that spin while they wait steal the cores a shared CI machine (or the other test suite,
# which runs beside this one) needs: on a 2-core machine at load 13, test_quality.py took 392 s, not 27 s.
# Set before xgboost loads libgomp here, and inherited by the scripts the tests start.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# One thread for OpenMP (xgboost), and so for OpenBLAS and Arrow's CPU pool too, in every test and script it starts:
# the workers and the other suite already fill both cores, and a second thread per training only added switching
# (`make test`: about 3.5 s of CPU less in all, mostly system time). test_train.py checks training on two threads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

# ml_code's scripts import each other as siblings, as do its developer tools (ml_code/local); the helpers live
# in support/ beside this file.
REPO_ROOT = Path(__file__).resolve().parents[2]
ML_CODE_DIR = REPO_ROOT / "ml_code"
sys.path[:0] = [str(ML_CODE_DIR), str(ML_CODE_DIR / "local"), str(Path(__file__).resolve().parent / "support")]

from job_output import OUTPUT_DIR_ENV  # noqa: E402

# pandas and the scripts (xgboost, sklearn) load where a fixture needs them: xdist's controller imports this
# file too, needs none of them, and starts the workers only after (1 s of `make test`'s wall time).
if TYPE_CHECKING:
    import pandas as pd
    from ml_helpers import TrainedRun


@pytest.fixture(autouse=True)
def sm_output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Failure and message files go to a temp folder, never /opt/ml/output."""
    folder = tmp_path / "sm-output"
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(folder))
    return folder


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write a frame (or raw text/bytes) as a CSV into a fresh input folder; returns the file."""

    def write(content: pd.DataFrame | str | bytes, name: str = "data.csv", folder: str = "input") -> Path:
        path = tmp_path / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            content.to_csv(path, index=False)
        return path

    return write


@pytest.fixture(scope="session")
def adult_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """The shipped sample preprocessed and trained once with default settings, shared by many tests."""
    from ml_helpers import SAMPLE_DATA, preprocess_and_train

    work = tmp_path_factory.mktemp("adult")
    input_dir = work / "input"
    input_dir.mkdir()
    (input_dir / SAMPLE_DATA.name).symlink_to(SAMPLE_DATA)
    return preprocess_and_train(input_dir, work, [])


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """A generated frame preprocessed (target overridden, features inferred) and trained."""
    from ml_helpers import SMALL_POSITIVE, SMALL_TARGET, preprocess_and_train, small_frame

    work = tmp_path_factory.mktemp("small")
    input_dir = work / "input"
    input_dir.mkdir()
    small_frame(800).to_csv(input_dir / "small.csv", index=False)
    return preprocess_and_train(
        input_dir, work, ["--target-column", SMALL_TARGET, "--positive-label", SMALL_POSITIVE], ["--num-round", "50"]
    )


@pytest.fixture(scope="session")
def container_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A `python3` for the scripts tests start as commands (local_run.py, and its steps through sys.executable):
    the local twin's (twin/warm_python.py), each run forked from one interpreter that imported xgboost,
    scikit-learn, pyarrow and matplotlib once, and otherwise `python3 script.py ...` as the interpreter runs it
    (argv, folder, environment, output, exit code; tests/infra/test_warm_python.py compares them). A fresh
    interpreter per run spent most of test_local_run.py's CPU on those imports."""
    # By its path: the repository root is not on this suite's sys.path (ml_code's modules are, as in the image).
    spec = importlib.util.spec_from_file_location("warm_python", REPO_ROOT / "twin" / "warm_python.py")
    assert spec is not None and spec.loader is not None
    warm_python = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(warm_python)
    with warm_python.WarmPython(tmp_path_factory.mktemp("python"), os.environ) as python:
        yield python.bin / "python3"


# Files whose tests mostly wait (hosts that start late, guards that run out), run whole local pipelines or train
# five times (the quality bar): first in the order, so that `make test-ml`'s two xdist workers (whole files each, in
# this order) start them early and fill the waits with the other files instead of ending on them (the quality bar
# last made one worker run 8 s alone at the end).
LONGEST_FIRST = ("test_train_host_failures.py", "test_train_distributed.py", "test_local_run.py", "test_quality.py")


def pytest_configure(config: pytest.Config) -> None:
    # The cyclic garbage collector rescanned pandas', xgboost's and sklearn's long-lived objects every 700
    # allocations: 3 s of this suite's CPU (tests/infra/conftest.py measured it for its suite).
    gc.set_threshold(50_000, 20, 20)


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.freeze()  # what the imports made stays: the collector stops scanning it


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file keeps its own order
