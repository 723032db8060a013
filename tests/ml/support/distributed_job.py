"""Multi-host training jobs on this machine, for the tests: train.py processes form one XGBoost collective
group (the real tracker and collective) as SageMaker's algo-1, algo-2, ... would. Each host is a process of
its own, forked from a server that imported train.py once (host_forks). tests/ml/support/train_host.py runs each host
with the faults a test injects: a host that starts late, a name that resolves late, a host that fails or dies.

Hosts here share one address, so the tracker's error signal (sent only to hosts on other machines) never
fires: a host learns of a failure from its connections to the failed host closing, the path that does not
depend on the tracker. No test measures time; each process gets a generous hang guard that fails the test.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import multiprocessing.forkserver
import os
import re
import shutil
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import train_host
from ml_helpers import ML_CODE, SMALL_POSITIVE, SMALL_TARGET, TrainedRun

import artifacts
import preprocess
import training_group
from job_output import TRAINING_FAILURE_FILE

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
            training_group.TRACKER_PORT_ENV: str(port),
            training_group.MAX_RUNTIME_ENV: str(self.max_runtime_seconds),
            "TRAIN_HOST_FAULTS": json.dumps({"addresses": dict.fromkeys(self.hosts, "127.0.0.1"), **faults}),
        }

    def run(self, faults: dict[str, dict[str, Any]] | None = None) -> dict[str, HostRun]:
        """Start every host and wait for all of them; `faults` per host name.

        The first host (the tracker's) starts first and, unless a fault delays it, the others once its tracker
        listens: a host that finds no tracker sleeps through xgboost's connection retries (2 s, then 4 s, ...),
        seconds that only a test of a late first host needs to spend."""
        faults = faults or {}
        port = free_port()
        processes: dict[str, multiprocessing.process.BaseProcess] = {}
        logs: dict[str, Path] = {}
        try:
            for host in self.hosts_started or self.hosts:
                logs[host] = self.work / host / "host.log"
                logs[host].parent.mkdir(parents=True, exist_ok=True)
                arguments = ["--num-round", str(ROUNDS), "--nthread", "1"]
                environment = self.env(host, port, faults.get(host, {}))
                processes[host] = host_forks().Process(
                    target=train_host.run_forked, args=(arguments, environment, str(logs[host])), name=host
                )
                processes[host].start()
                if host == self.hosts[0] and "start_delay_seconds" not in faults.get(host, {}):
                    wait_until_listening(port, processes[host])
            deadline = time.monotonic() + HANG_GUARD_SECONDS
            for process in processes.values():
                process.join(max(0.0, deadline - time.monotonic()))
            if any(process.exitcode is None for process in processes.values()):
                pytest.fail(hung_hosts_report(processes, logs))
            return {
                host: HostRun(process.exitcode, logs[host].read_text(), self.work / host / "model",
                              self.work / host / "output" / TRAINING_FAILURE_FILE)
                for host, process in processes.items()
            }  # fmt: skip
        finally:
            # An interrupted test (Ctrl-C, an error while starting) leaves no host running: multiprocessing's
            # exit handler would otherwise wait for each.
            for process in processes.values():
                if process.is_alive():
                    process.kill()
                    process.join()


@functools.cache
def host_forks() -> multiprocessing.context.ForkServerContext:
    """Hosts are forked from one server process that imported train_host.py (train.py, xgboost, sklearn) once:
    a fresh interpreter per host spent 1.3 s of CPU importing them, most of these tests' CPU. Forked before
    anything trains, so no OpenMP or collective thread is copied; each host still is a process of its own."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["train_host"])
    # Python 3.11's fork server does not take this process's sys.path: its preload finds them via PYTHONPATH.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "PYTHONPATH", os.pathsep.join([str(Path(train_host.__file__).parent), str(ML_CODE)]), prepend=os.pathsep
        )
        multiprocessing.forkserver.ensure_running()
    return context


def wait_until_listening(port: int, process: multiprocessing.process.BaseProcess) -> None:
    """Until a socket of this machine listens on `port` (/proc/net/tcp: state 0A), or `process` has ended.
    Read from the kernel's table, not by connecting: the tracker would take a connection for a host."""
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while process.is_alive() and time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            local_address, state = line.split()[1], line.split()[3]
            if local_address.endswith(f":{port:04X}") and state == "0A":
                return
        time.sleep(0.05)


def hung_hosts_report(processes: dict[str, multiprocessing.process.BaseProcess], logs: dict[str, Path]) -> str:
    """Every host's log, the hung ones' with each thread's Python stack (train_host.py dumps it on SIGUSR1)."""
    hung = [host for host, process in processes.items() if process.is_alive()]
    for host in hung:
        with contextlib.suppress(ProcessLookupError):  # it may have ended since
            os.kill(processes[host].pid, signal.SIGUSR1)
    for host in hung:
        processes[host].join(5)
        processes[host].kill()
        processes[host].join()
    return f"hosts {hung} hung; their logs:\n" + "\n".join(
        f"--- {host}\n{log.read_text()}" for host, log in logs.items()
    )


def assert_all_succeeded(runs: dict[str, HostRun]) -> None:
    assert {host: run.returncode for host, run in runs.items()} == dict.fromkeys(runs, 0), {
        host: run.log for host, run in runs.items()
    }


def training_rows(run: HostRun) -> int:
    return int(re.search(r"host \d of \d: (\d+) training rows", run.log)[1])


def assert_failed_with(run: HostRun, sentence: str) -> None:
    assert run.returncode != 0, run.log
    assert sentence in run.log
