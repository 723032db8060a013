"""Helpers shared by ml_code's tests (importable: conftest puts this folder and ml_code on sys.path)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import artifacts
import model_io
import preprocess
import train
from job_output import PROCESSING_MESSAGE_FILE, run_job

ML_CODE = Path(__file__).resolve().parents[3] / "ml_code"
ML_TOOLS = ML_CODE / "local"
SAMPLE_DATA = ML_CODE / "data" / "adult.csv.gz"
# The pipeline definitions as synthesized (tests/infra keeps them equal to the templates).
PIPELINE_DEFINITIONS = Path(__file__).resolve().parents[2] / "infra" / "__snapshots__" / "test_training_pipeline"
SMALL_TARGET = "churned"
SMALL_POSITIVE = "yes"

SMALL_TARGET_ARGS = ["--target-column", SMALL_TARGET, "--positive-label", SMALL_POSITIVE]


def run_preprocess(input_dir: Path, output_dir: Path, *args: str) -> int:
    """The script's exit code, going through the same failure handling as `python3 preprocess.py`."""
    argv = ["--input-dir", str(input_dir), "--output-dir", str(output_dir), *args]
    return run_job("preprocess", lambda: preprocess.run(argv), PROCESSING_MESSAGE_FILE)


def adult_rows(rows: int = 300) -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DATA, nrows=rows, dtype=str, keep_default_na=False)


def small_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """A generated binary problem: two numeric and two categorical features with a real signal, and gaps."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows).astype(float)
    spend = rng.normal(50, 15, rows).round(2)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    region = rng.choice(["north", "south", "east", "west"], rows)
    score = -0.05 * tenure + 0.03 * spend + (plan == "basic") * 1.0 + rng.normal(0, 0.7, rows)
    frame = pd.DataFrame(
        {
            "tenure": tenure,
            "plan": plan,
            "spend": spend,
            "region": region,
            SMALL_TARGET: np.where(score > np.quantile(score, 0.7), SMALL_POSITIVE, "no"),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "spend"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "region"] = None
    return frame


@dataclass(frozen=True)
class TrainedRun:
    splits: Path
    model: Path
    manifest: artifacts.Manifest


def preprocess_and_train(
    input_dir: Path, work: Path, preprocess_args: list[str], train_args: list[str] | None = None
) -> TrainedRun:
    """Preprocess then train in-process with the scripts' own argument parsing."""
    splits = work / "splits"
    manifest = preprocess.run(["--input-dir", str(input_dir), "--output-dir", str(splits), *preprocess_args])
    booster, manifest = train.train_booster(
        train.Paths(splits / artifacts.TRAIN, splits / artifacts.VALIDATION, work / "model"),
        train.parse_hyperparameters(train_args or []),
    )
    model_io.save_model(booster, manifest, work / "model")
    return TrainedRun(splits, work / "model", manifest)


def synthesized_pipeline(environment: str) -> dict[str, Any]:
    path = PIPELINE_DEFINITIONS / f"test_readable_definition_snapshot[{environment}].json"
    return json.loads(path.read_text())


def validation_auc_regex() -> re.Pattern[str]:
    """The metric definition the pipeline gives SageMaker for the training job's validation AUC."""
    (train_step,) = [step for step in synthesized_pipeline("dev")["Steps"] if step["Name"] == "Train"]
    (definition,) = train_step["Arguments"]["AlgorithmSpecification"]["MetricDefinitions"]
    return re.compile(definition["Regex"])
