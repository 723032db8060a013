from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import xgboost as xgb
from ml_helpers import ML_CODE, TrainedRun, validation_auc_regex
from threadpoolctl import threadpool_limits

import artifacts
import model_io
import train
from job_output import TRAINING_FAILURE_FILE, run_job

VALIDATION_AUC_REGEX = validation_auc_regex()


def training_env(run: TrainedRun, model_dir: Path, output_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SM_CHANNEL_TRAIN": str(run.splits / artifacts.TRAIN),
        "SM_CHANNEL_VALIDATION": str(run.splits / artifacts.VALIDATION),
        "SM_MODEL_DIR": str(model_dir),
        "SM_HOSTS": '["algo-1"]',
        "SM_CURRENT_HOST": "algo-1",
        "SM_OUTPUT_DIR": str(output_dir),
    }


def test_script_mode_run_logs_auc_per_round_and_saves_the_best_model(small_run: TrainedRun, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    args = ["--num_round", "60", "--early-stopping-rounds", "10", "--max-depth", "3", "--scale-pos-weight", "auto"]
    result = subprocess.run(
        [sys.executable, str(ML_CODE / "train.py"), *args],
        env=training_env(small_run, model_dir, tmp_path / "sm-output"),
        cwd=ML_CODE,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    aucs = [float(value) for value in VALIDATION_AUC_REGEX.findall(result.stdout + result.stderr)]
    assert 1 <= len(aucs) <= 60
    assert all(0.5 < auc <= 1.0 for auc in aucs)
    booster = model_io.load_booster(model_dir)
    # Saved model stops at the best round; the log ran on for the early-stopping patience (or the last round).
    assert booster.num_boosted_rounds() == aucs.index(max(aucs)) + 1
    assert artifacts.Manifest.load(model_dir) == small_run.manifest
    assert json.loads((model_dir / model_io.MODEL_FILE_NAME).read_text())["learner"]["feature_types"] == (
        small_run.manifest.xgboost_feature_types
    )
    assert not (tmp_path / "sm-output" / TRAINING_FAILURE_FILE).exists()


def test_training_is_reproducible_for_a_seed(small_run: TrainedRun) -> None:
    paths = train.Paths(small_run.splits / artifacts.TRAIN, small_run.splits / artifacts.VALIDATION, Path("unused"))
    hyperparameters = train.parse_hyperparameters(["--num-round", "30", "--seed", "7"])
    # Several OpenMP threads, as the container trains with every vCPU; the suite otherwise runs one (conftest.py).
    with threadpool_limits(limits=2, user_api="openmp"):
        first, _ = train.train_booster(paths, hyperparameters)
        second, _ = train.train_booster(paths, hyperparameters)
    assert first.save_raw("json") == second.save_raw("json")


def test_auto_positive_weight_is_negatives_over_positives(small_run: TrainedRun) -> None:
    manifest = small_run.manifest
    params = train.xgboost_params(train.Hyperparameters(scale_pos_weight="auto"), manifest)
    positives = manifest.positives["train"]
    assert params["scale_pos_weight"] == pytest.approx((manifest.rows["train"] - positives) / positives)
    assert params["objective"] == "binary:logistic" and params["tree_method"] == "hist"
    assert train.xgboost_params(train.Hyperparameters(scale_pos_weight="2.5"), manifest)["scale_pos_weight"] == 2.5


@pytest.mark.parametrize(
    ("args", "env_changes", "expected"),
    [
        ([], {"SM_CHANNEL_VALIDATION": None}, "SM_CHANNEL_VALIDATION not set"),
        (["--eta", "fast"], {}, "invalid arguments: argument --eta: invalid float value"),
        (["--colour", "red"], {}, "invalid arguments: unrecognized arguments: --colour red"),
        (["--scale-pos-weight", "-1"], {}, "--scale-pos-weight must be a positive number or 'auto'"),
        (["--early-stopping-rounds", "0"], {}, "--num-round and --early-stopping-rounds must be at least 1"),
        ([], {"SM_CHANNEL_TRAIN": "/nonexistent/train"}, "channel folder /nonexistent/train does not exist"),
    ],
)
def test_failures_write_a_one_sentence_reason(
    small_run: TrainedRun,
    tmp_path: Path,
    sm_output_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env_changes: dict[str, str | None],
    expected: str,
) -> None:
    env = training_env(small_run, tmp_path / "model", sm_output_dir)
    for name, value in {**env, **env_changes}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        elif name.startswith("SM_"):
            monkeypatch.setenv(name, value)

    assert run_job("train", lambda: train.run(args), TRAINING_FAILURE_FILE) == 1

    reason = (sm_output_dir / TRAINING_FAILURE_FILE).read_text(encoding="utf-8")
    assert reason.startswith("train failed: ")
    assert expected in reason
    assert not (tmp_path / "model").exists()


def test_a_saved_model_loads_with_load_model_only(small_run: TrainedRun) -> None:
    booster = xgb.Booster()
    booster.load_model(small_run.model / model_io.MODEL_FILE_NAME)
    assert booster.feature_names == small_run.manifest.feature_names
