"""Training job (SageMaker script mode): XGBoost binary:logistic with hist, native categorical features and
early stopping on validation AUC.

    python3 train.py [--num-round 1000] [--early-stopping-rounds 50] [--eta 0.1] [--max-depth 6]
        [--min-child-weight 1] [--subsample 0.8] [--colsample-bytree 0.8] [--reg-lambda 1]
        [--reg-alpha 0] [--max-cat-to-onehot 4] [--scale-pos-weight 1|auto] [--seed 42] [--nthread 0]

Reads SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION (preprocess's splits and manifest), writes the model, the
manifest and the endpoint's serving code (under code/, model_io.SERVING_MODULES) to SM_MODEL_DIR. Each round logs `[N]\tvalidation-auc:0.9...`, which the metric definition
`validation-auc:([0-9.]+)` captures. Hyperparameters are accepted in kebab-case or snake_case.
A failure writes one sentence to /opt/ml/output/failure and exits non-zero.

With several hosts in SM_HOSTS (script mode starts only this script on each; nothing else sets up the
group), every host waits for all host names to resolve, then the hosts form one XGBoost collective group
(tracker on the first host, port XGBOOST_TRACKER_PORT or 9099). Each trains on its share of the train rows
(its files when the train channel is ShardedByS3Key, else a slice; a host that got no file trains on zero
rows), and scores the whole replicated validation set, so the validation AUC XGBoost merges across hosts
is the exact AUC of that set. The first host saves the model before leaving the group.

No host waits for the others longer than TRAINING_MAX_RUNTIME_SECONDS / 8 (the job's MaxRuntimeInSeconds,
set by the pipeline), at most 15 minutes, at any one point: for a name to resolve, for every host to join,
inside one collective operation, for the others to leave. A host that fails tells the group and leaves at
once; the others see it (the tracker signals them, or their connections to it close) and exit non-zero
too, so a broken group ends long before SageMaker would stop the job. Where xgboost 3.0.5 misses the break
(its collective thread stops and the next operation waits forever), a watch on that thread ends the host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import xgboost as xgb
from xgboost import collective
from xgboost.tracker import RabitTracker

import artifacts
import model_io
from artifacts import Manifest
from job_output import EXIT_FAILURE, TRAINING_FAILURE_FILE, JobArgumentParser, JobFailure, report_failure, run_job

log = logging.getLogger("train")
VALIDATION_EVAL_NAME = "validation"  # the metric regex depends on this name: validation-auc
AUTO = "auto"
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
class Hyperparameters:
    num_round: int = 1000
    early_stopping_rounds: int = 50
    eta: float = 0.1
    max_depth: int = 6
    min_child_weight: float = 1.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    reg_alpha: float = 0.0
    max_cat_to_onehot: int = 4
    scale_pos_weight: str = "1"  # a number, or "auto": negatives / positives in the training split
    seed: int = 42
    nthread: int = 0  # 0: all cores


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


@dataclasses.dataclass(frozen=True)
class Paths:
    train: Path
    validation: Path
    model: Path


def _positive_weight(value: str, manifest: Manifest) -> float:
    if value == AUTO:
        positives = manifest.positives[artifacts.TRAIN]
        return (manifest.rows[artifacts.TRAIN] - positives) / positives
    try:
        weight = float(value)
    except ValueError:
        raise JobFailure(f"--scale-pos-weight must be a positive number or '{AUTO}', got {value!r}") from None
    if weight <= 0:
        raise JobFailure(f"--scale-pos-weight must be a positive number or '{AUTO}', got {value!r}")
    return weight


def xgboost_params(hyperparameters: Hyperparameters, manifest: Manifest) -> dict[str, object]:
    return {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "eval_metric": "auc",
        "eta": hyperparameters.eta,
        "max_depth": hyperparameters.max_depth,
        "min_child_weight": hyperparameters.min_child_weight,
        "subsample": hyperparameters.subsample,
        "colsample_bytree": hyperparameters.colsample_bytree,
        "lambda": hyperparameters.reg_lambda,
        "alpha": hyperparameters.reg_alpha,
        "max_cat_to_onehot": hyperparameters.max_cat_to_onehot,
        "scale_pos_weight": _positive_weight(hyperparameters.scale_pos_weight, manifest),
        "seed": hyperparameters.seed,
        "nthread": hyperparameters.nthread,
    }


def quantile_matrix(
    table: pa.Table, manifest: Manifest, reference: xgb.QuantileDMatrix | None = None
) -> xgb.QuantileDMatrix:
    """XGBoost's hist input, built straight from the encoded rows (no intermediate DMatrix)."""
    return xgb.QuantileDMatrix(
        artifacts.encode_features(table, manifest),
        label=artifacts.labels(table, manifest),
        feature_names=manifest.feature_names,
        feature_types=manifest.xgboost_feature_types,
        enable_categorical=True,
        ref=reference,
    )


def shard(table: pa.Table, cluster: Cluster) -> pa.Table:
    """This host's contiguous share of the rows of a channel that every host receives whole."""
    start = table.num_rows * cluster.rank // cluster.size
    stop = table.num_rows * (cluster.rank + 1) // cluster.size
    return table.slice(start, stop - start)


def host_training_rows(train_dir: Path, cluster: Cluster, schema: pa.Schema) -> pa.Table:
    """This host's training rows. ShardedByS3Key deals out whole objects, about 1/n of them per host, so
    with more hosts than train files a host may get none: it takes part with zero rows."""
    if cluster.train_sharded_by_s3 and cluster.size > 1 and not any(train_dir.glob("*.parquet")):
        log.warning("host %s received no training file (more hosts than train files): it trains on zero rows",
                    cluster.current_host)  # fmt: skip
        return schema.empty_table()
    rows = artifacts.read_split(train_dir)
    return rows if cluster.train_sharded_by_s3 else shard(rows, cluster)


def train_booster(
    paths: Paths, hyperparameters: Hyperparameters, cluster: Cluster = SINGLE_HOST
) -> tuple[xgb.Booster, Manifest]:
    """The booster cut to its best round, and the manifest it was trained with.

    On several hosts, call it inside training_group: XGBoost then merges the hosts' quantile sketches,
    gradients and validation metrics, so every host ends with the same model.
    """
    # The validation channel is fully replicated: every host has the manifest there.
    manifest = Manifest.load(paths.validation)
    # Every host scores all of it: XGBoost's distributed AUC is a weighted mean of the hosts' AUCs, which is
    # the exact AUC of the set only when every host scores the same rows.
    validation_rows = artifacts.read_split(paths.validation)
    train_rows = host_training_rows(paths.train, cluster, validation_rows.schema)
    log.info("host %d of %d: %d training rows", cluster.rank + 1, cluster.size, train_rows.num_rows)
    train_matrix = quantile_matrix(train_rows, manifest)
    validation_matrix = quantile_matrix(validation_rows, manifest, reference=train_matrix)
    booster = xgb.train(
        xgboost_params(hyperparameters, manifest),
        train_matrix,
        num_boost_round=hyperparameters.num_round,
        evals=[(validation_matrix, VALIDATION_EVAL_NAME)],
        early_stopping_rounds=hyperparameters.early_stopping_rounds,
        verbose_eval=True,
    )
    log.info("best_iteration=%d best_score=%.6f", booster.best_iteration, booster.best_score)
    # Keep only the rounds up to the best one, so every consumer predicts with the model that was chosen.
    best = booster[: booster.best_iteration + 1]
    # Saved inside the model file, so the evaluation report can say how the model was trained.
    best.set_attr(
        hyperparameters=json.dumps(dataclasses.asdict(hyperparameters)),
        best_iteration=str(booster.best_iteration),
        best_validation_auc=repr(float(booster.best_score)),
    )
    return best, manifest


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
    then end with os._exit (see main), since xgboost's exit handlers would try to reach the tracker again.
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


def channel_paths(cluster: Cluster = SINGLE_HOST) -> Paths:
    """The channels and model folder SageMaker passes in the environment."""
    names = {"train": "SM_CHANNEL_TRAIN", "validation": "SM_CHANNEL_VALIDATION", "model": "SM_MODEL_DIR"}
    missing = [variable for variable in names.values() if not os.environ.get(variable)]
    if missing:
        raise JobFailure(f"environment variable(s) {', '.join(missing)} not set: is a channel missing?")
    paths = Paths(**{field: Path(os.environ[variable]) for field, variable in names.items()})
    # A host of a sharded channel may receive no train file (see host_training_rows).
    may_be_empty = cluster.train_sharded_by_s3 and cluster.size > 1
    for channel in (paths.validation,) if may_be_empty else (paths.train, paths.validation):
        if not channel.is_dir():
            raise JobFailure(f"channel folder {channel} does not exist")
    if not (paths.validation / artifacts.MANIFEST_FILE_NAME).exists():
        raise JobFailure(f"the validation channel has no {artifacts.MANIFEST_FILE_NAME}: is it preprocess's output?")
    return paths


def parse_hyperparameters(argv: list[str] | None = None) -> Hyperparameters:
    parser = JobArgumentParser(description="Train the XGBoost model (SageMaker script mode).")
    for field in dataclasses.fields(Hyperparameters):
        kebab = field.name.replace("_", "-")
        options = [f"--{kebab}"] if kebab == field.name else [f"--{kebab}", f"--{field.name}"]
        parser.add_argument(*options, dest=field.name, type=type(field.default), default=field.default)
    hyperparameters = Hyperparameters(**vars(parser.parse_args(argv)))
    if hyperparameters.num_round < 1 or hyperparameters.early_stopping_rounds < 1:
        raise JobFailure("--num-round and --early-stopping-rounds must be at least 1")
    return hyperparameters


def run(argv: list[str] | None = None, resolve_host: HostResolver = socket.gethostbyname) -> None:
    hyperparameters = parse_hyperparameters(argv)
    cluster = cluster_from_env()
    paths = channel_paths(cluster)
    log.info("hyperparameters %s", json.dumps(dataclasses.asdict(hyperparameters)))
    port = int(os.environ.get(TRACKER_PORT_ENV, DEFAULT_TRACKER_PORT))
    with training_group(cluster, port, wait_seconds(), resolve_host):
        booster, manifest = train_booster(paths, hyperparameters, cluster)
        # Every host holds the same model; one copy is the artifact. Saved before leaving the group, so a
        # host lost on the way out cannot cost it.
        if cluster.rank == 0:
            model_io.save_model(booster, manifest, paths.model)
            log.info("saved %s and %s to %s", model_io.MODEL_FILE_NAME, artifacts.MANIFEST_FILE_NAME, paths.model)


def main(resolve_host: HostResolver = socket.gethostbyname) -> None:
    """The script's entry; `resolve_host` looks up a host name (tests delay a name with it)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Each round's metric line reaches the job's log when it is printed, not when a buffer fills.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    exit_code = run_job("train", lambda: run(resolve_host=resolve_host), TRAINING_FAILURE_FILE)
    if exit_code:
        exit_at_once(exit_code)
    sys.exit(exit_code)


def exit_at_once(exit_code: int) -> None:
    """End the process now, logs flushed: xgboost's exit handlers would try to say goodbye to a group that
    is gone, and a thread stuck in the group would keep an ordinary exit waiting."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


if __name__ == "__main__":
    main()
