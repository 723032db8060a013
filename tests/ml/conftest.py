"""Shared fixtures for ml_code's tests. ml_code's modules are flat siblings, as in the containers."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

# OpenMP threads that spin while they wait steal the cores a shared CI machine (or the other test suite,
# which runs beside this one) needs: on a 2-core machine at load 13, test_quality.py took 392 s, not 27 s.
# Set before xgboost loads libgomp here, and inherited by the scripts the tests start.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

# ml_code's scripts import each other as siblings, as do its developer tools (ml_code/local); the helpers live
# in support/ beside this file.
ML_CODE_DIR = Path(__file__).resolve().parents[2] / "ml_code"
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


# Files whose tests mostly wait (hosts that start late, guards that run out) or run whole local pipelines:
# first in the order, so that `make test-ml`'s two xdist workers (whole files each, in this order) start
# them at once and fill the waits with the other files instead of ending on them.
LONGEST_FIRST = ("test_train_host_failures.py", "test_train_distributed.py", "test_local_run.py")


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
