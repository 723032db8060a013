"""The training hosts as one XGBoost collective group: who the hosts are (SM_HOSTS), waiting for their names to
resolve, joining the group (the first host runs the tracker), watching it, and leaving it; every wait bounded.

train.py runs its training inside `training_group`; a single host needs no group. The rules (how long a host
waits, how a failing host tells the others, why a broken group ends the process with os._exit) are in train.py's
docstring.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import xgboost as xgb
from xgboost import collective
from xgboost.tracker import RabitTracker

import artifacts
from job_output import EXIT_FAILURE, TRAINING_FAILURE_FILE, JobFailure, report_failure

log = logging.getLogger("train")  # the job's logger: these lines belong to the training job's log
TRACKER_PORT_ENV = "XGBOOST_TRACKER_PORT"
DEFAULT_TRACKER_PORT = 9099
# The job's MaxRuntimeInSeconds; absent (local runs), SageMaker's default of one day.
MAX_RUNTIME_ENV = "TRAINING_MAX_RUNTIME_SECONDS"
DEFAULT_MAX_RUNTIME_SECONDS = 86_400
# The longest wait for other hosts: AWS's XGBoost container retries host names for 15 minutes.
LONGEST_WAIT_SECONDS = 900
# Between host-name lookups: start fast, back off to this.
LOOKUP_INTERVAL_SECONDS = (0.5, 10.0)
# XGBoost's collective runs its sockets on one thread, named "<parent's name>>lw" (src/collective/loop.cc).
COLLECTIVE_THREAD_SUFFIX = ">lw"
# How often the group watch looks for that thread, and how many looks in a row must miss it.
WATCH_INTERVAL_SECONDS = 1.0
WATCH_MISSES = 3


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The training hosts as SageMaker lists them; each host trains on its own shard of the rows."""

    hosts: list[str]
    current_host: str
    # ShardedByS3Key: SageMaker already gave this host only its share of the train files.
    train_sharded_by_s3: bool = False

    @property
    def rank(self) -> int:
        return self.hosts.index(self.current_host)

    @property
    def size(self) -> int:
        return len(self.hosts)


SINGLE_HOST = Cluster(["algo-1"], "algo-1")
HostResolver = Callable[[str], str]


def wait_seconds() -> int:
    """How long a host waits for the others at any one point: an eighth of the job's maximum runtime, at most
    LONGEST_WAIT_SECONDS, so that even a host that hangs without a word ends the group well within it."""
    max_runtime = int(os.environ.get(MAX_RUNTIME_ENV, DEFAULT_MAX_RUNTIME_SECONDS))
    return max(1, min(LONGEST_WAIT_SECONDS, max_runtime // 8))


def connect_attempts(seconds: int) -> int:
    """xgboost's connection attempts (dmlc_retry) that span `seconds`: it sleeps 2k s before its k-th retry
    (src/collective/socket.cc, Connect), so n attempts span n(n - 1) s."""
    return max(2, math.ceil((1 + math.sqrt(1 + 4 * seconds)) / 2))


def cluster_from_env() -> Cluster:
    hosts = json.loads(os.environ.get("SM_HOSTS", json.dumps(SINGLE_HOST.hosts)))
    current_host = os.environ.get("SM_CURRENT_HOST", hosts[0])
    if current_host not in hosts:
        raise JobFailure(f"SM_CURRENT_HOST {current_host!r} is not in SM_HOSTS {hosts}")
    # SageMaker's training toolkit passes each channel's settings, including its S3DistributionType.
    channels = json.loads(os.environ.get("SM_INPUT_DATA_CONFIG", "{}"))
    distribution = channels.get(artifacts.TRAIN, {}).get("S3DistributionType", "FullyReplicated")
    return Cluster(hosts, current_host, train_sharded_by_s3=distribution == "ShardedByS3Key")


def wait_for_host_names(hosts: list[str], seconds: int, resolve: HostResolver) -> dict[str, str]:
    """Every host's address, once every name resolves. SageMaker may make a name resolvable only some time
    after the job started ("Hostname information might not be immediately available", its processing
    container documentation; AWS's XGBoost container retries for 15 minutes)."""
    deadline = time.monotonic() + seconds
    addresses = {}
    for host in hosts:
        interval, longest_interval = LOOKUP_INTERVAL_SECONDS
        while host not in addresses:
            try:
                addresses[host] = resolve(host)
            except OSError as error:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise JobFailure(
                        f"the host name {host!r} did not resolve within {seconds} s ({error}): the training "
                        "instances could not find each other; start the run again"
                    ) from None
                log.info("waiting for the host name %r to resolve (%s)", host, error)
                time.sleep(min(interval, remaining))
                interval = min(2 * interval, longest_interval)
    return addresses


def _collective_reason(error: xgb.core.XGBoostError) -> str:
    """The innermost cause of a collective error; XGBoost lists its causes as `- [file:line|time]: cause`."""
    causes = re.findall(r"^- \[[^\]]*\]: (.+)$", str(error), flags=re.MULTILINE)
    lines = str(error).strip().splitlines()
    return causes[-1].strip() if causes else lines[0] if lines else type(error).__name__


def _tell_the_group(cluster: Cluster, error: BaseException) -> None:
    """Put this host's failure in the tracker's log (the first host's) and signal the tracker, which tells
    every host on another machine to stop (src/collective/tracker.cc). Best effort: this host leaves anyway."""
    reason = str(error) if isinstance(error, JobFailure) else f"an unexpected {type(error).__name__}"
    with contextlib.suppress(Exception):
        collective.communicator_print(f"host {cluster.current_host} failed: {reason}")
        collective.signal_error()


def collective_thread_running() -> bool:
    """Whether XGBoost's collective thread is alive in this process (Linux: /proc lists its threads)."""
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended while we looked
            if (task / "comm").read_text().rstrip("\n").endswith(COLLECTIVE_THREAD_SUFFIX):
                return True
    return False


class GroupWatch:
    """Calls `on_broken` once XGBoost's collective thread has ended while this host still trains.

    xgboost 3.0.5 can miss a peer's failure: when a collective operation fails just as its last pending
    transfer completes, the caller is told it succeeded; at the next operation the thread stops and that
    operation waits forever (src/collective/loop.cc: Loop::Block sets stop_, the worker exits, and the ops
    it never ran are never answered). Seen here with a host killed mid-training: a surviving host hung with
    no collective thread. A host in that state has lost its group, so it must fail as if XGBoost had raised.
    """

    def __init__(self, on_broken: Callable[[], None], interval: float = WATCH_INTERVAL_SECONDS,
                 misses: int = WATCH_MISSES) -> None:  # fmt: skip
        self.on_broken = on_broken
        self.interval = interval
        self.misses = misses
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="group-watch", daemon=True)

    def start(self) -> None:
        if not collective_thread_running():
            # A newer xgboost may name it otherwise: then nothing is watched, and the job's bounds remain.
            log.warning("XGBoost's collective thread was not found; a group that breaks silently is not detected")
            return
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        missed = 0
        while not self._stopped.wait(self.interval):
            missed = 0 if collective_thread_running() else missed + 1
            if missed == self.misses:
                self.on_broken()
                return


def _end_on_broken_group(cluster: Cluster) -> Callable[[], None]:
    def end() -> None:
        report_failure("train", JobFailure(
            f"training stopped on host {cluster.current_host}: the training group broke (XGBoost's collective "
            "thread ended); if another host failed first, its log names the cause"
        ), TRAINING_FAILURE_FILE)  # fmt: skip
        exit_at_once(EXIT_FAILURE)

    return end


@contextlib.contextmanager
def training_group(cluster: Cluster, port: int, seconds: int, resolve: HostResolver) -> Iterator[None]:
    """Join the hosts into one XGBoost communication group (the first host also runs the tracker), with
    every wait bounded by `seconds`; leave it when the block ends without an error.

    On an error the host does not leave: it tells the group and the error propagates, and the process must
    then end with os._exit (see train.main and exit_at_once), since xgboost's exit handlers would try to reach the tracker again.
    """
    if cluster.size == 1:
        yield
        return
    tracker_address = wait_for_host_names(cluster.hosts, seconds, resolve)[cluster.hosts[0]]
    tracker = None
    if cluster.rank == 0:
        # timeout: how long the tracker waits for every host to join and, at the end, to leave.
        tracker = RabitTracker(
            n_workers=cluster.size, host_ip=tracker_address, port=port, sortby="task", timeout=seconds
        )
        tracker.start()
    try:
        _join(cluster, tracker_address, port, seconds)
        watch = GroupWatch(_end_on_broken_group(cluster))
        watch.start()
        try:
            yield
        except xgb.core.XGBoostError as error:
            # This host fails with its own reason from here; the watch must not replace it with its own.
            watch.stop()
            # Most often the group broke because another host stopped: that host's log has the cause.
            log.error("XGBoost: %s", error)
            raise JobFailure(
                f"training stopped on host {cluster.current_host}: the training group reported an error "
                f"({_collective_reason(error)}); if another host failed first, its log names the cause"
            ) from None
        except BaseException as error:
            watch.stop()
            _tell_the_group(cluster, error)
            raise
        # Leaving ends the collective thread.
        watch.stop()
        _leave(tracker, seconds)
    finally:
        if tracker is not None:
            # Stop it now, quietly: freed later, a tracker whose group failed raises from its finalizer.
            with contextlib.suppress(xgb.core.XGBoostError):
                tracker.free()


def _join(cluster: Cluster, tracker_address: str, port: int, seconds: int) -> None:
    try:
        # Zero-padded task ids sort like the ranks, so host i of SM_HOSTS becomes worker i.
        # dmlc_retry covers a tracker that starts late; dmlc_timeout bounds every collective operation.
        collective.init(
            dmlc_tracker_uri=tracker_address,
            dmlc_tracker_port=port,
            dmlc_task_id=f"{cluster.rank:05d}",
            dmlc_retry=connect_attempts(seconds),
            dmlc_timeout=seconds,
        )
    except xgb.core.XGBoostError as error:
        raise JobFailure(
            f"host {cluster.current_host} could not join the training group of {cluster.size} hosts within "
            f"{seconds} s ({_collective_reason(error)}): did another host fail to start? Its log names the cause"
        ) from None
    log.info("host %s joined the training group as rank %d of %d", cluster.current_host, cluster.rank, cluster.size)


def _leave(tracker: RabitTracker | None, seconds: int) -> None:
    try:
        collective.finalize()
        if tracker is not None:
            tracker.wait_for(timeout=seconds)
    except xgb.core.XGBoostError as error:
        raise JobFailure(
            f"not every host left the training group within {seconds} s ({_collective_reason(error)}): "
            "did another host fail after training? Its log names the cause"
        ) from None


def exit_at_once(exit_code: int) -> None:
    """End the process now, logs flushed: xgboost's exit handlers would try to say goodbye to a group that
    is gone, and a thread stuck in the group would keep an ordinary exit waiting."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
