"""Training job (SageMaker script mode): XGBoost binary:logistic with hist, native categorical features and
early stopping on validation AUC.

    python3 train.py [--num-round 1000] [--early-stopping-rounds 50] [--eta 0.1] [--max-depth 6]
        [--min-child-weight 1] [--subsample 0.8] [--colsample-bytree 0.8] [--reg-lambda 1]
        [--reg-alpha 0] [--max-cat-to-onehot 4] [--scale-pos-weight 1|auto] [--seed 42] [--nthread 0]

Reads SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION (preprocess's splits and manifest), writes the model and
the manifest to SM_MODEL_DIR. With several hosts in SM_HOSTS, the hosts form one XGBoost collective group
(tracker on the first host, port XGBOOST_TRACKER_PORT or 9099), each trains on its share of the train
rows (its files when the train channel is ShardedByS3Key, else a slice) and only the first host saves. Each round logs `[N]\tvalidation-auc:0.9...`, which the metric definition
`validation-auc:([0-9.]+)` captures. Hyperparameters are accepted in kebab-case or snake_case.
A failure writes one sentence to /opt/ml/output/failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import xgboost as xgb
from xgboost import collective
from xgboost.tracker import RabitTracker

import artifacts
import model_io
from artifacts import Manifest
from job_output import TRAINING_FAILURE_FILE, JobArgumentParser, JobFailure, run_job

log = logging.getLogger("train")
VALIDATION_EVAL_NAME = "validation"  # the metric regex depends on this name: validation-auc
AUTO = "auto"
TRACKER_PORT_ENV = "XGBOOST_TRACKER_PORT"
DEFAULT_TRACKER_PORT = 9099
# Other hosts may start before the first host's tracker listens.
TRACKER_CONNECT_RETRIES = 30


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


def train_booster(
    paths: Paths, hyperparameters: Hyperparameters, cluster: Cluster = SINGLE_HOST
) -> tuple[xgb.Booster, Manifest]:
    """The booster cut to its best round, and the manifest it was trained with.

    On several hosts, call it inside collective_group: XGBoost then merges the hosts' quantile sketches,
    gradients and validation metrics, so every host ends with the same model.
    """
    # The validation channel is fully replicated: every host has the manifest there.
    manifest = Manifest.load(paths.validation)
    train_rows = artifacts.read_split(paths.train)
    if not cluster.train_sharded_by_s3:
        train_rows = shard(train_rows, cluster)
    log.info("host %d of %d: %d training rows", cluster.rank + 1, cluster.size, train_rows.num_rows)
    train_matrix = quantile_matrix(train_rows, manifest)
    validation_rows = shard(artifacts.read_split(paths.validation), cluster)
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


@contextlib.contextmanager
def collective_group(cluster: Cluster, port: int) -> Iterator[None]:
    """Join the hosts into one XGBoost communication group; the first host also runs the tracker."""
    if cluster.size == 1:
        yield
        return
    tracker_address = socket.gethostbyname(cluster.hosts[0])
    tracker = None
    if cluster.rank == 0:
        tracker = RabitTracker(n_workers=cluster.size, host_ip=tracker_address, port=port, sortby="task")
        tracker.start()
    # Zero-padded task ids sort like the ranks, so host i of SM_HOSTS becomes worker i.
    with collective.CommunicatorContext(
        dmlc_tracker_uri=tracker_address,
        dmlc_tracker_port=port,
        dmlc_task_id=f"{cluster.rank:05d}",
        dmlc_retry=TRACKER_CONNECT_RETRIES,
    ):
        yield
    if tracker is not None:
        tracker.wait_for()


def channel_paths() -> Paths:
    """The channels and model folder SageMaker passes in the environment."""
    names = {"train": "SM_CHANNEL_TRAIN", "validation": "SM_CHANNEL_VALIDATION", "model": "SM_MODEL_DIR"}
    missing = [variable for variable in names.values() if not os.environ.get(variable)]
    if missing:
        raise JobFailure(f"environment variable(s) {', '.join(missing)} not set: is a channel missing?")
    paths = Paths(**{field: Path(os.environ[variable]) for field, variable in names.items()})
    for channel in (paths.train, paths.validation):
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


def run(argv: list[str] | None = None) -> None:
    hyperparameters = parse_hyperparameters(argv)
    paths = channel_paths()
    cluster = cluster_from_env()
    log.info("hyperparameters %s", json.dumps(dataclasses.asdict(hyperparameters)))
    port = int(os.environ.get(TRACKER_PORT_ENV, DEFAULT_TRACKER_PORT))
    with collective_group(cluster, port):
        booster, manifest = train_booster(paths, hyperparameters, cluster)
    # Every host holds the same model; one copy is the artifact.
    if cluster.rank == 0:
        model_io.save_model(booster, manifest, paths.model)
        log.info("saved %s and %s to %s", model_io.MODEL_FILE_NAME, artifacts.MANIFEST_FILE_NAME, paths.model)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(run_job("train", run, TRAINING_FAILURE_FILE))


if __name__ == "__main__":
    main()
