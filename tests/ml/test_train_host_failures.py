"""Multi-host training when a host fails, dies, leaves or never starts (tests/ml/support/distributed_job.py runs the
hosts): every host ends, with its reason, and none waits forever; and the group watch that ends a host whose
XGBoost collective thread stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed_job import (
    HANG_GUARD_SECONDS,
    Job,
    assert_failed_with,
    host_names,
)
from ml_helpers import TrainedRun
from xgboost import collective
from xgboost.tracker import RabitTracker

import model_io
import training_group


@pytest.mark.parametrize("failing_host", ["algo-1", "algo-2"])
def test_a_host_failing_mid_training_ends_every_host(small_run: TrainedRun, tmp_path: Path, failing_host: str) -> None:
    job = Job(small_run, tmp_path, host_names(3))

    runs = job.run({failing_host: {"raise_at_round": 5}})

    failed = runs.pop(failing_host)
    assert_failed_with(failed, "train failed: this host was made to fail at round 5")
    assert failed.failure_file.read_text() == "train failed: this host was made to fail at round 5"
    for run in runs.values():
        assert_failed_with(run, "train failed: training stopped on host algo-")
    assert not (job.work / "algo-1" / "model").exists()


def test_a_host_killed_mid_training_ends_every_host(small_run: TrainedRun, tmp_path: Path) -> None:
    # Now and then xgboost misses the break on a survivor, whose collective thread then stops: the group
    # watch ends that host ("the training group broke"); the tests of GroupWatch below cover it every time.
    job = Job(small_run, tmp_path, host_names(3))

    runs = job.run({"algo-2": {"exit_at_round": 5}})

    assert runs.pop("algo-2").returncode != 0
    for run in runs.values():
        assert_failed_with(run, "train failed: training stopped on host algo-")


def test_a_host_lost_after_training_costs_the_first_host_a_bound_not_the_model(
    small_run: TrainedRun, tmp_path: Path
) -> None:
    # Hosts wait 10 s for each other: the first host waits that long for algo-2 to leave the group.
    job = Job(small_run, tmp_path, host_names(2), max_runtime_seconds=80)

    runs = job.run({"algo-2": {"exit_after_training": True}})

    assert runs["algo-2"].returncode != 0
    assert_failed_with(runs["algo-1"], "train failed: not every host left the training group within 10 s")
    assert model_io.load_booster(runs["algo-1"].model_dir).num_boosted_rounds() >= 1


@pytest.mark.parametrize("started_host", ["algo-1", "algo-2"])
def test_a_host_that_never_starts_ends_the_others(small_run: TrainedRun, tmp_path: Path, started_host: str) -> None:
    # Hosts wait 2 s for each other; only one of the two starts.
    job = Job(small_run, tmp_path, host_names(2), max_runtime_seconds=16)
    job.hosts_started = [started_host]

    (run,) = job.run().values()

    assert_failed_with(
        run, f"train failed: host {started_host} could not join the training group of 2 hosts within 2 s"
    )


@pytest.fixture
def one_host_group() -> Iterator[None]:
    """This process as the only member of a real XGBoost group (tracker and collective)."""
    tracker = RabitTracker(n_workers=1, host_ip="127.0.0.1", port=0, sortby="task", timeout=60)
    tracker.start()
    collective.init(**tracker.worker_args())
    yield
    if training_group.collective_thread_running():
        collective.finalize()
    tracker.wait_for(timeout=60)
    tracker.free()


class CountedLooks:
    """training_group.collective_thread_running, counting its calls so that a test can wait for a number of looks."""

    def __init__(self) -> None:
        self.look = training_group.collective_thread_running
        self.looks = 0
        self.enough = threading.Event()

    def __call__(self) -> bool:
        self.looks += 1
        if self.looks >= 20:
            self.enough.set()
        return self.look()


def test_the_group_watch_ends_a_host_whose_collective_thread_stopped(one_host_group: None) -> None:
    broken = threading.Event()
    watch = training_group.GroupWatch(broken.set, interval=0.01, misses=3)
    watch.start()
    assert not broken.is_set()

    collective.finalize()  # ends the collective thread, as xgboost does when a failure stops it

    assert broken.wait(timeout=HANG_GUARD_SECONDS)
    watch.stop()


def test_the_group_watch_leaves_a_working_group_alone(one_host_group: None, monkeypatch: pytest.MonkeyPatch) -> None:
    looks = CountedLooks()
    monkeypatch.setattr(training_group, "collective_thread_running", looks)
    broken = threading.Event()
    watch = training_group.GroupWatch(broken.set, interval=0.001, misses=1)
    watch.start()

    assert looks.enough.wait(timeout=HANG_GUARD_SECONDS)  # twenty looks, each finding the thread
    watch.stop()
    assert not broken.is_set()


def test_the_group_watch_does_not_start_without_a_collective_thread(caplog: pytest.LogCaptureFixture) -> None:
    broken = threading.Event()
    watch = training_group.GroupWatch(broken.set, interval=0.001, misses=1)
    watch.start()
    assert "XGBoost's collective thread was not found" in caplog.text
    assert not broken.wait(timeout=0.05)  # a watch that ran would have called it after one look
    watch.stop()
