"""Multi-host training that works (tests/ml/support/distributed_job.py runs the hosts): hosts wait for a late first
host and a late name, each trains on its share, only the first saves; and how long hosts wait for each other.
Hosts that fail are tests/ml/test_train_host_failures.py's.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from distributed_job import (
    ROUNDS,
    HostRun,
    Job,
    assert_all_succeeded,
    host_names,
    training_rows,
)
from ml_helpers import TrainedRun, validation_auc_regex
from sklearn.metrics import roc_auc_score

import artifacts
import model_io
import training_group
from job_output import JobFailure


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
    monkeypatch.setattr(training_group.time, "sleep", sleeps.append)

    addresses = training_group.wait_for_host_names(["algo-1", "algo-2"], 60, SlowNames({"algo-1": 2, "algo-2": 5}))

    assert addresses == {"algo-1": "10.0.0.1", "algo-2": "10.0.0.2"}
    assert sleeps == [0.5, 1.0, 0.5, 1.0, 2.0, 4.0, 8.0]  # backing off per name


def test_a_name_that_never_resolves_fails_naming_the_host() -> None:
    never: Callable[[str], str] = SlowNames({"algo-2": 10**9})

    with pytest.raises(JobFailure, match=r"the host name 'algo-2' did not resolve within 1 s \(.*Name or service"):
        training_group.wait_for_host_names(["algo-1", "algo-2"], 1, never)


@pytest.mark.parametrize(
    ("max_runtime", "wait"), [(None, 900), ("7200", 900), ("3600", 450), ("80", 10), ("60", 7), ("4", 1)]
)
def test_hosts_wait_an_eighth_of_the_job_runtime_at_most_15_minutes(
    monkeypatch: pytest.MonkeyPatch, max_runtime: str | None, wait: int
) -> None:
    if max_runtime is None:
        monkeypatch.delenv(training_group.MAX_RUNTIME_ENV, raising=False)
    else:
        monkeypatch.setenv(training_group.MAX_RUNTIME_ENV, max_runtime)
    assert training_group.wait_seconds() == wait


@pytest.mark.parametrize("seconds", [1, 10, 30, 900])
def test_connection_attempts_span_the_wait(seconds: int) -> None:
    attempts = training_group.connect_attempts(seconds)
    # xgboost sleeps 2k s before its k-th retry: the attempts span the wait, one fewer would not.
    assert attempts * (attempts - 1) >= seconds > (attempts - 1) * (attempts - 2)
