"""Multi-host training: train.py processes on this machine form one XGBoost collective group (the real tracker
and collective) as SageMaker's algo-1, algo-2, ... would: the first runs the tracker, each trains on its shard
and only the first saves. tests/ml/train_host.py runs each host with the faults a test injects: a host that
starts late, a name that resolves late, a host that fails or dies.

Hosts here share one address, so the tracker's error signal (sent only to hosts on other machines) never
fires: a host learns of a failure from its connections to the failed host closing, the path that does not
depend on the tracker. No test measures time; each process gets a generous hang guard that fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ml_helpers import ML_CODE, SMALL_POSITIVE, SMALL_TARGET, TrainedRun, validation_auc_regex
from sklearn.metrics import roc_auc_score
from xgboost import collective
from xgboost.tracker import RabitTracker

import artifacts
import model_io
import preprocess
import train
from job_output import TRAINING_FAILURE_FILE, JobFailure

TRAIN_HOST = Path(__file__).resolve().parent / "train_host.py"
# A job whose MaxRuntimeInSeconds gives hosts 30 s to wait for each other at any one point.
MAX_RUNTIME_SECONDS = 240
# A process still running after this has hung: the test fails.
HANG_GUARD_SECONDS = 300
ROUNDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def host_names(count: int) -> list[str]:
    return [f"algo-{number}" for number in range(1, count + 1)]


@dataclass(frozen=True)
class HostRun:
    returncode: int
    log: str
    model_dir: Path
    failure_file: Path


@dataclass
class Job:
    """A multi-host training job on this machine: each host a train.py process with its own folders."""

    small_run: TrainedRun
    work: Path
    hosts: list[str]
    distribution: str = "FullyReplicated"
    max_runtime_seconds: int = MAX_RUNTIME_SECONDS
    hosts_started: list[str] | None = None  # all of them

    def train_channel(self, host: str) -> Path:
        if self.distribution == "FullyReplicated":
            return self.small_run.splits / artifacts.TRAIN
        return self.work / host / "train"

    def shard_train_files(self, files: int) -> None:
        """Preprocess writes `files` train files; S3 deals them out one per host, so later hosts may get none."""
        splits = self.work / "sharded-splits"
        preprocess.run(["--input-dir", str(self.small_run.splits.parent / "input"), "--output-dir", str(splits),
                        "--target-column", SMALL_TARGET, "--positive-label", SMALL_POSITIVE,
                        "--train-shards", str(files)])  # fmt: skip
        for host, shard_file in zip(self.hosts, sorted((splits / artifacts.TRAIN).iterdir()), strict=False):
            self.train_channel(host).mkdir(parents=True)
            shutil.copy(shard_file, self.train_channel(host))

    def env(self, host: str, port: int, faults: dict[str, Any]) -> dict[str, str]:
        return {
            **os.environ,
            "SM_HOSTS": json.dumps(self.hosts),
            "SM_CURRENT_HOST": host,
            "SM_CHANNEL_TRAIN": str(self.train_channel(host)),
            "SM_INPUT_DATA_CONFIG": json.dumps({"train": {"S3DistributionType": self.distribution}}),
            "SM_CHANNEL_VALIDATION": str(self.small_run.splits / artifacts.VALIDATION),
            "SM_MODEL_DIR": str(self.work / host / "model"),
            "SM_OUTPUT_DIR": str(self.work / host / "output"),
            train.TRACKER_PORT_ENV: str(port),
            train.MAX_RUNTIME_ENV: str(self.max_runtime_seconds),
            "TRAIN_HOST_FAULTS": json.dumps({"addresses": dict.fromkeys(self.hosts, "127.0.0.1"), **faults}),
        }

    def run(self, faults: dict[str, dict[str, Any]] | None = None) -> dict[str, HostRun]:
        """Start every host and wait for all of them; `faults` per host name.

        The first host (the tracker's) starts first and, unless a fault delays it, the others once its tracker
        listens: a host that finds no tracker sleeps through xgboost's connection retries (2 s, then 4 s, ...),
        seconds that only a test of a late first host needs to spend."""
        faults = faults or {}
        port = free_port()
        processes = {}
        for host in self.hosts_started or self.hosts:
            processes[host] = subprocess.Popen(
                [sys.executable, str(TRAIN_HOST), "--num-round", str(ROUNDS), "--nthread", "1"],
                env=self.env(host, port, faults.get(host, {})),
                cwd=ML_CODE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            if host == self.hosts[0] and "start_delay_seconds" not in faults.get(host, {}):
                wait_until_listening(port, processes[host])
        logs = {}
        try:
            for host, process in processes.items():
                logs[host] = process.communicate(timeout=HANG_GUARD_SECONDS)[0]
        except subprocess.TimeoutExpired:
            pytest.fail(hung_hosts_report(processes, logs))
        return {
            host: HostRun(process.returncode, logs[host], self.work / host / "model",
                          self.work / host / "output" / TRAINING_FAILURE_FILE)
            for host, process in processes.items()
        }  # fmt: skip


def wait_until_listening(port: int, process: subprocess.Popen[str]) -> None:
    """Until a socket of this machine listens on `port` (/proc/net/tcp: state 0A), or `process` has ended.
    Read from the kernel's table, not by connecting: the tracker would take a connection for a host."""
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            local_address, state = line.split()[1], line.split()[3]
            if local_address.endswith(f":{port:04X}") and state == "0A":
                return
        time.sleep(0.05)


def hung_hosts_report(processes: dict[str, subprocess.Popen[str]], logs: dict[str, str]) -> str:
    """Every host's log (`logs`: those already read), the hung ones' with each thread's Python stack
    (train_host.py dumps it on SIGUSR1)."""
    hung = [host for host, process in processes.items() if process.poll() is None]
    for host in hung:
        processes[host].send_signal(signal.SIGUSR1)
    for host, process in processes.items():
        if host in logs:
            continue
        try:
            logs[host] = process.communicate(timeout=5)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            logs[host] = process.communicate()[0]
    return f"hosts {hung} hung; their logs:\n" + "\n".join(f"--- {host}\n{log}" for host, log in logs.items())


def assert_all_succeeded(runs: dict[str, HostRun]) -> None:
    assert {host: run.returncode for host, run in runs.items()} == dict.fromkeys(runs, 0), {
        host: run.log for host, run in runs.items()
    }


def training_rows(run: HostRun) -> int:
    return int(re.search(r"host \d of \d: (\d+) training rows", run.log)[1])


@pytest.fixture(scope="module", params=["FullyReplicated", "ShardedByS3Key"])
def late_start_job(
    request: pytest.FixtureRequest, small_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Job, dict[str, HostRun]]:
    """Two hosts: algo-2 starts first, algo-1 (the tracker's host) seconds later, and algo-2's name resolves
    only on every host's fourth lookup."""
    job = Job(small_run, tmp_path_factory.mktemp("late-start"), host_names(2), request.param)
    if job.distribution == "ShardedByS3Key":
        job.shard_train_files(2)
    late_name = {"failed_lookups": {"algo-2": 3}}
    return job, job.run({"algo-1": {"start_delay_seconds": 3, **late_name}, "algo-2": late_name})


def test_hosts_wait_for_a_late_first_host_and_a_late_name(late_start_job: tuple[Job, dict[str, HostRun]]) -> None:
    _, runs = late_start_job
    assert_all_succeeded(runs)
    for run in runs.values():
        assert "waiting for the host name 'algo-2' to resolve" in run.log
        assert re.search(r"host algo-\d joined the training group as rank \d of 2", run.log)


def test_each_host_trains_on_its_share_and_only_the_first_saves(
    late_start_job: tuple[Job, dict[str, HostRun]],
) -> None:
    job, runs = late_start_job
    shard_rows = [training_rows(runs[host]) for host in job.hosts]
    assert sum(shard_rows) == job.small_run.manifest.rows["train"] and min(shard_rows) > 0
    assert not runs["algo-2"].model_dir.exists()
    booster = model_io.load_booster(runs["algo-1"].model_dir)
    assert artifacts.Manifest.load(runs["algo-1"].model_dir) == job.small_run.manifest
    test = artifacts.read_split(job.small_run.splits / artifacts.TEST)
    probability = booster.inplace_predict(artifacts.encode_features(test, job.small_run.manifest))
    assert roc_auc_score(artifacts.labels(test, job.small_run.manifest), probability) > 0.7


def test_the_reported_validation_auc_is_the_auc_of_the_whole_validation_set(
    late_start_job: tuple[Job, dict[str, HostRun]],
) -> None:
    job, runs = late_start_job
    reported = [float(auc) for auc in validation_auc_regex().findall(runs["algo-1"].log)]
    assert len(reported) == ROUNDS  # the metric line the pipeline reads, once per round
    # The saved model stops at the best round: its AUC over all validation rows is the best one reported.
    booster = model_io.load_booster(runs["algo-1"].model_dir)
    validation = artifacts.read_split(job.small_run.splits / artifacts.VALIDATION)
    probability = booster.inplace_predict(artifacts.encode_features(validation, job.small_run.manifest))
    exact = roc_auc_score(artifacts.labels(validation, job.small_run.manifest), probability)
    assert max(reported) == pytest.approx(exact, abs=1e-5)  # xgboost prints 5 decimals


def test_a_host_without_a_training_file_trains_on_zero_rows(small_run: TrainedRun, tmp_path: Path) -> None:
    job = Job(small_run, tmp_path, host_names(3), "ShardedByS3Key")
    job.shard_train_files(2)  # algo-3 gets nothing, not even the channel folder

    runs = job.run()

    assert_all_succeeded(runs)
    assert "host algo-3 received no training file" in runs["algo-3"].log
    assert training_rows(runs["algo-3"]) == 0
    assert sum(training_rows(run) for run in runs.values()) == small_run.manifest.rows["train"]
    assert model_io.load_booster(runs["algo-1"].model_dir).num_boosted_rounds() >= 1


def assert_failed_with(run: HostRun, sentence: str) -> None:
    assert run.returncode != 0, run.log
    assert sentence in run.log


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
    if train.collective_thread_running():
        collective.finalize()
    tracker.wait_for(timeout=60)
    tracker.free()


class CountedLooks:
    """train.collective_thread_running, counting its calls so that a test can wait for a number of looks."""

    def __init__(self) -> None:
        self.look = train.collective_thread_running
        self.looks = 0
        self.enough = threading.Event()

    def __call__(self) -> bool:
        self.looks += 1
        if self.looks >= 20:
            self.enough.set()
        return self.look()


def test_the_group_watch_ends_a_host_whose_collective_thread_stopped(one_host_group: None) -> None:
    broken = threading.Event()
    watch = train.GroupWatch(broken.set, interval=0.01, misses=3)
    watch.start()
    assert not broken.is_set()

    collective.finalize()  # ends the collective thread, as xgboost does when a failure stops it

    assert broken.wait(timeout=HANG_GUARD_SECONDS)
    watch.stop()


def test_the_group_watch_leaves_a_working_group_alone(one_host_group: None, monkeypatch: pytest.MonkeyPatch) -> None:
    looks = CountedLooks()
    monkeypatch.setattr(train, "collective_thread_running", looks)
    broken = threading.Event()
    watch = train.GroupWatch(broken.set, interval=0.001, misses=1)
    watch.start()

    assert looks.enough.wait(timeout=HANG_GUARD_SECONDS)  # twenty looks, each finding the thread
    watch.stop()
    assert not broken.is_set()


def test_the_group_watch_does_not_start_without_a_collective_thread(caplog: pytest.LogCaptureFixture) -> None:
    broken = threading.Event()
    watch = train.GroupWatch(broken.set, interval=0.001, misses=1)
    watch.start()
    assert "XGBoost's collective thread was not found" in caplog.text
    assert not broken.wait(timeout=0.05)  # a watch that ran would have called it after one look
    watch.stop()


class SlowNames:
    """Names that resolve after some failed lookups; sleeping is recorded, not done."""

    def __init__(self, failed_lookups: dict[str, int]) -> None:
        self.failed_lookups = dict(failed_lookups)

    def __call__(self, host: str) -> str:
        if self.failed_lookups.get(host, 0) > 0:
            self.failed_lookups[host] -= 1
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return "10.0.0." + host.removeprefix("algo-")


def test_host_names_are_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(train.time, "sleep", sleeps.append)

    addresses = train.wait_for_host_names(["algo-1", "algo-2"], 60, SlowNames({"algo-1": 2, "algo-2": 5}))

    assert addresses == {"algo-1": "10.0.0.1", "algo-2": "10.0.0.2"}
    assert sleeps == [0.5, 1.0, 0.5, 1.0, 2.0, 4.0, 8.0]  # backing off per name


def test_a_name_that_never_resolves_fails_naming_the_host() -> None:
    never: Callable[[str], str] = SlowNames({"algo-2": 10**9})

    with pytest.raises(JobFailure, match=r"the host name 'algo-2' did not resolve within 1 s \(.*Name or service"):
        train.wait_for_host_names(["algo-1", "algo-2"], 1, never)


@pytest.mark.parametrize(
    ("max_runtime", "wait"), [(None, 900), ("7200", 900), ("3600", 450), ("80", 10), ("60", 7), ("4", 1)]
)
def test_hosts_wait_an_eighth_of_the_job_runtime_at_most_15_minutes(
    monkeypatch: pytest.MonkeyPatch, max_runtime: str | None, wait: int
) -> None:
    if max_runtime is None:
        monkeypatch.delenv(train.MAX_RUNTIME_ENV, raising=False)
    else:
        monkeypatch.setenv(train.MAX_RUNTIME_ENV, max_runtime)
    assert train.wait_seconds() == wait


@pytest.mark.parametrize("seconds", [1, 10, 30, 900])
def test_connection_attempts_span_the_wait(seconds: int) -> None:
    attempts = train.connect_attempts(seconds)
    # xgboost sleeps 2k s before its k-th retry: the attempts span the wait, one fewer would not.
    assert attempts * (attempts - 1) >= seconds > (attempts - 1) * (attempts - 2)
