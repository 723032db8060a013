"""Runs ml_code/train.py as one SageMaker training host, with the faults a test asks for: `run_forked`, in a
process forked from one that imported this module (tests/ml/support/distributed_job.py starts hosts so).

TRAIN_HOST_FAULTS is JSON with any of:
    addresses            host name -> address: the resolver train.py gets (SageMaker's algo-N names do not
                         resolve on a test machine; any other name fails like an unknown name)
    failed_lookups       host name -> how many lookups of it fail before it resolves (a slow name)
    start_delay_seconds  sleep before starting (a host that starts late)
    raise_at_round       this host's training raises a JobFailure at that round
    exit_at_round        this host's process ends at that round without a word (killed, e.g. out of memory)
    exit_after_training  this host's process ends after training, before it leaves the group
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import socket
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import xgboost as xgb

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "ml_code"))
import train
from job_output import JobFailure

ML_CODE = Path(train.__file__).resolve().parent
FAULTS_ENV = "TRAIN_HOST_FAULTS"
KILLED_EXIT_CODE = 137  # what a SIGKILL (the kernel's out-of-memory killer) leaves


class Resolver:
    """A name lookup that knows only the test's hosts, some of which resolve only after a few tries."""

    def __init__(self, addresses: dict[str, str], failed_lookups: dict[str, int]) -> None:
        self.addresses = addresses
        self.failed_lookups = failed_lookups
        self.lookups: Counter[str] = Counter()

    def __call__(self, host: str) -> str:
        self.lookups[host] += 1
        if host not in self.addresses or self.lookups[host] <= self.failed_lookups.get(host, 0):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.addresses[host]


class FailAtRound(xgb.callback.TrainingCallback):
    def __init__(self, round_number: int, how: str) -> None:
        self.round_number = round_number
        self.how = how

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: Any) -> bool:
        if epoch + 1 == self.round_number:
            if self.how == "raise":
                raise JobFailure(f"this host was made to fail at round {self.round_number}")
            os._exit(KILLED_EXIT_CODE)
        return False


def inject(faults: dict[str, Any]) -> None:
    failures = [FailAtRound(faults[f"{how}_at_round"], how) for how in ("raise", "exit") if f"{how}_at_round" in faults]
    if failures:
        real_train = xgb.train

        def train_with_failure(*args: Any, callbacks: list | None = None, **kwargs: Any) -> xgb.Booster:
            return real_train(*args, callbacks=[*(callbacks or []), *failures], **kwargs)

        xgb.train = train_with_failure
    if faults.get("exit_after_training"):
        real_train_booster = train.train_booster

        def train_booster_then_exit(*args: Any, **kwargs: Any) -> Any:
            real_train_booster(*args, **kwargs)
            os._exit(KILLED_EXIT_CODE)

        train.train_booster = train_booster_then_exit


def run_forked(arguments: list[str], environment: dict[str, str], log_path: str) -> None:
    """`python train.py ARGUMENTS` in ml_code with this environment (the faults in TRAIN_HOST_FAULTS) and its
    output in `log_path`."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    for stream in (1, 2):
        os.dup2(log, stream)
    os.close(log)
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(ML_CODE)
    sys.argv = [str(ML_CODE / "train.py"), *arguments]
    # A test that finds this host hung sends SIGUSR1 first: every thread's Python stack goes to its log.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    host_faults = json.loads(os.environ.get(FAULTS_ENV, "{}"))
    inject(host_faults)
    time.sleep(host_faults.get("start_delay_seconds", 0))
    train.main(Resolver(host_faults.get("addresses", {}), host_faults.get("failed_lookups", {})))
