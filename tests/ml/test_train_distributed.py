"""Multi-host training: two train.py processes on 127.0.0.1 form one XGBoost collective group, as two
SageMaker hosts would (the first runs the tracker; each trains on its shard; only the first saves)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from ml_helpers import ML_CODE, SMALL_POSITIVE, SMALL_TARGET, TrainedRun, validation_auc_regex
from sklearn.metrics import roc_auc_score

import artifacts
import model_io
import preprocess
import train

# Two names that both resolve to this machine stand in for SageMaker's algo-1 and algo-2.
HOSTS = ["localhost", "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def host_train_channels(small_run: TrainedRun, tmp_path: Path, distribution: str) -> dict[str, Path]:
    """Each host's train channel: the whole split (FullyReplicated) or one file of two (ShardedByS3Key)."""
    if distribution == "FullyReplicated":
        return {host: small_run.splits / artifacts.TRAIN for host in HOSTS}
    splits = tmp_path / "sharded-splits"
    preprocess.run(["--input-dir", str(small_run.splits.parent / "input"), "--output-dir", str(splits),
                    "--target-column", SMALL_TARGET, "--positive-label", SMALL_POSITIVE, "--train-shards", "2"])  # fmt: skip
    channels = {}
    for host, shard_file in zip(HOSTS, sorted((splits / artifacts.TRAIN).iterdir()), strict=True):
        channels[host] = tmp_path / host / "train"
        channels[host].mkdir(parents=True)
        shutil.copy(shard_file, channels[host])
    return channels


@pytest.mark.parametrize("distribution", ["FullyReplicated", "ShardedByS3Key"])
def test_two_hosts_train_one_model_saved_by_the_first(small_run: TrainedRun, tmp_path: Path, distribution: str) -> None:
    port = free_port()
    train_channels = host_train_channels(small_run, tmp_path, distribution)
    processes = {}
    # The second host starts first: it must wait for the first host's tracker.
    for host in reversed(HOSTS):
        env = {
            **os.environ,
            "SM_HOSTS": json.dumps(HOSTS),
            "SM_CURRENT_HOST": host,
            "SM_CHANNEL_TRAIN": str(train_channels[host]),
            "SM_INPUT_DATA_CONFIG": json.dumps({"train": {"S3DistributionType": distribution}}),
            "SM_CHANNEL_VALIDATION": str(small_run.splits / artifacts.VALIDATION),
            "SM_MODEL_DIR": str(tmp_path / host / "model"),
            "SM_OUTPUT_DIR": str(tmp_path / host / "output"),
            train.TRACKER_PORT_ENV: str(port),
        }
        processes[host] = subprocess.Popen(
            [sys.executable, str(ML_CODE / "train.py"), "--num-round", "20", "--nthread", "1"],
            env=env,
            cwd=ML_CODE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    logs = {host: process.communicate()[0] for host, process in processes.items()}
    assert {host: process.returncode for host, process in processes.items()} == {host: 0 for host in HOSTS}, logs

    shard_rows = [int(re.search(r"host \d of 2: (\d+) training rows", logs[host])[1]) for host in HOSTS]
    assert sum(shard_rows) == small_run.manifest.rows["train"] and min(shard_rows) > 0
    assert validation_auc_regex().findall(logs[HOSTS[0]])
    assert not (tmp_path / HOSTS[1] / "model").exists()
    model_dir = tmp_path / HOSTS[0] / "model"
    booster = model_io.load_booster(model_dir)
    assert artifacts.Manifest.load(model_dir) == small_run.manifest
    test = artifacts.read_split(small_run.splits / artifacts.TEST)
    probability = booster.inplace_predict(artifacts.encode_features(test, small_run.manifest))
    assert roc_auc_score(artifacts.labels(test, small_run.manifest), probability) > 0.7
