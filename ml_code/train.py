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
The group itself (hosts, tracker, joining, the watch, leaving) is training_group.py.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import sys
from pathlib import Path

import pyarrow as pa
import xgboost as xgb

import artifacts
import model_io
from artifacts import Manifest
from job_output import TRAINING_FAILURE_FILE, JobArgumentParser, JobFailure, run_job
from training_group import (
    DEFAULT_TRACKER_PORT,
    SINGLE_HOST,
    TRACKER_PORT_ENV,
    Cluster,
    HostResolver,
    cluster_from_env,
    exit_at_once,
    training_group,
    wait_seconds,
)

log = logging.getLogger("train")
VALIDATION_EVAL_NAME = "validation"  # the metric regex depends on this name: validation-auc
AUTO = "auto"


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


if __name__ == "__main__":
    main()
