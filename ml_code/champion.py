"""The models evaluate scores on the test rows: loading and scoring a model, fetching the champion (the model serving
in the environment) and comparing the new model with it on the same rows."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import xgboost as xgb
from sklearn import metrics

import artifacts
import decision_stability
import model_io
from artifacts import Manifest
from bootstrap_resampling import bootstrap, paired_auc_differences
from evaluation_metrics import interval_95, scalar_metrics
from job_output import JobFailure

S3_SCHEME = "s3://"


@dataclasses.dataclass(frozen=True)
class Scored:
    """A model's probabilities on the test rows, and what the report says about the model."""

    booster: xgb.Booster
    manifest: Manifest
    probability: np.ndarray


def fetch_champion(uri: str, work: Path) -> Path:
    """A folder holding the champion's model: an s3:// model.tar.gz is downloaded (boto3 is in the SageMaker
    image; imported only here, local runs never need it), a local archive or folder is used in place."""
    if uri.startswith(S3_SCHEME):
        import boto3

        bucket, _, key = uri.removeprefix(S3_SCHEME).partition("/")
        target = work / model_io.MODEL_ARCHIVE_NAME
        response = boto3.client("s3").get_object(Bucket=bucket, Key=key)
        with target.open("wb") as file:
            shutil.copyfileobj(response["Body"], file)
        return work
    path = Path(uri)
    if path.is_file():
        (work / model_io.MODEL_ARCHIVE_NAME).symlink_to(path.resolve())
        return work
    if path.is_dir():
        return path
    raise JobFailure(f"the champion model {uri} is neither an s3:// URI, a file nor a folder")


def load_model(model_dir: Path, what: str) -> tuple[xgb.Booster, Manifest]:
    model_files = model_io.extract_model_archive(model_dir)
    if not (model_files / model_io.MODEL_FILE_NAME).exists():
        raise JobFailure(f"no {model_io.MODEL_ARCHIVE_NAME} or {model_io.MODEL_FILE_NAME} in {what}")
    return model_io.load_booster(model_files), Manifest.load(model_files)


def score(booster: xgb.Booster, manifest: Manifest, table: pa.Table, what: str) -> np.ndarray:
    missing = [name for name in manifest.feature_names if name not in table.column_names]
    if missing:
        raise JobFailure(f"{what} needs feature(s) {', '.join(missing[:3])} that this run's data does not have")
    return booster.inplace_predict(artifacts.encode_features(table, manifest)).astype(np.float64)


def load_champion(uri: str, work: Path, manifest: Manifest, test: pa.Table) -> Scored:
    """The champion scored on this run's test rows; it must predict the same target as the new model."""
    where = f"the champion model {uri}"
    booster, champion_manifest = load_model(fetch_champion(uri, work), where)
    if champion_manifest.target_column != manifest.target_column:
        raise JobFailure(f"{where} predicts {champion_manifest.target_column!r}, this model {manifest.target_column!r}")
    return Scored(booster, champion_manifest, score(booster, champion_manifest, test, where))


def training_details(booster: xgb.Booster) -> dict[str, Any]:
    """How the model was trained, from the attributes train.py saves in the model file (None if absent)."""
    hyperparameters = booster.attr("hyperparameters")
    best_iteration = booster.attr("best_iteration")
    best_validation_auc = booster.attr("best_validation_auc")
    return {
        "hyperparameters": json.loads(hyperparameters) if hyperparameters else None,
        "best_iteration": int(best_iteration) if best_iteration is not None else None,
        "boosting_rounds": booster.num_boosted_rounds(),
        "best_validation_auc": float(best_validation_auc) if best_validation_auc is not None else None,
    }


def champion_comparison(
    y: np.ndarray,
    challenger: Scored,
    champion: Scored | None,
    margin: float | None,
    identity: tuple[str, str],
    samples: int,
    seed: int,
    *,
    label_threshold: float,
    max_flip_rate: float | None,
) -> dict[str, Any]:
    """Both models on the same test rows, and the gate's floor (the pipeline's champion condition reads it).
    `identity` is the champion's model URI and model package ARN (either may be empty); `margin` None: no gate.
    The labels that would flip at `label_threshold` against the champion (decision_stability.py) are gated by
    `max_flip_rate` (None: no flip-rate gate)."""
    challenger_auc = float(metrics.roc_auc_score(y, challenger.probability))
    model_uri, model_package_arn = identity
    if champion is None:
        return {
            "champion": None,
            "auc_difference": None,
            "gate": {"margin": margin, "minimum_auc": 0.0, "passes": None if margin is None else True},
            "decision_stability": None,
            "flip_gate": decision_stability.flip_gate(None, max_flip_rate),
        }
    champion_point = scalar_metrics(y, champion.probability)
    champion_auc = champion_point["auc"]
    champion_samples = bootstrap(y, champion.probability, samples, seed)
    differences = paired_auc_differences(y, challenger.probability, champion.probability, samples, seed)
    minimum = champion_auc - margin if margin is not None else 0.0
    stability = decision_stability.decision_stability(challenger.probability, champion.probability, label_threshold)
    return {
        "champion": {
            "model_uri": model_uri,
            "model_package_arn": model_package_arn or None,
            "auc": {"value": champion_auc, "confidence_interval_95": interval_95(champion_samples["auc"])},
            "scores": {name: champion_point[name] for name in ("pr_auc", "log_loss", "brier_score", "f1")},
            "training": training_details(champion.booster),
        },
        "auc_difference": {
            "value": challenger_auc - champion_auc,
            "confidence_interval_95": interval_95(differences),
            "bootstrap_samples": len(differences),
        },
        "gate": {
            "margin": margin,
            "minimum_auc": max(minimum, 0.0),
            "passes": None if margin is None else challenger_auc >= minimum,
        },
        "decision_stability": stability,
        "flip_gate": decision_stability.flip_gate(stability, max_flip_rate),
    }
