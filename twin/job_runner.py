"""SageMaker processing and training jobs, as the twin stands them in: the ML virtual environment (.venv-ml, the
image's library versions) as the container, a job folder laid out like /opt/ml, inputs and outputs moved between
the local S3 and that folder as SageMaker moves them.

- Processing (CreateProcessingJob): each ProcessingInput's S3 prefix is copied to its LocalPath, the image's
  ContainerEntrypoint and ContainerArguments run as given, with `/opt/ml` standing for the job folder (also
  $SAGEMAKER_BASE_DIR, which the scripts' defaults follow) and `python3` for .venv-ml's Python (in the twin,
  forked from a warm interpreter: twin/warm_python.py); each output's LocalPath is uploaded to its S3Uri. A failure's ExitMessage is /opt/ml/output/message (first 1 KB).
- Training (CreateTrainingJob, script mode as the SageMaker training toolkit runs it): the code from
  `sagemaker_submit_directory` in /opt/ml/code, each channel in /opt/ml/input/data/<channel> (ShardedByS3Key: the
  host's share of the objects, FullyReplicated: all), hyperparameters (other than the toolkit's sagemaker_*) as
  `--name value` arguments and SM_HP_*, and the toolkit's SM_* variables; one process per host of
  ResourceConfig.InstanceCount (algo-1, algo-2, ...), all at once. More than one host needs their names to
  resolve on this machine: the step fails at once, saying so, when they do not. SM_MODEL_DIR of algo-1 is packed
  into <S3OutputPath>/<job name>/output/model.tar.gz. A failure's FailureReason is /opt/ml/output/failure.

Not SageMaker: no image, no instance types, no volume or KMS encryption, no network isolation, no time limit
but the definition's MaxRuntimeInSeconds.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
ML_VENV_BIN = REPO_ROOT / ".venv-ml" / "bin"
CONTAINER_ROOT = "/opt/ml"
MESSAGE_LIMIT = 1024


@dataclass(frozen=True)
class JobResult:
    succeeded: bool
    failure: str | None  # ExitMessage / FailureReason
    log: Path


def _resolves(host: str) -> bool:
    try:
        socket.gethostbyname(host)
    except OSError:
        return False
    return True


def host_share(keys: list[str], rank: int, count: int) -> list[str]:
    """ShardedByS3Key: "each machine ... gets 1/n of the number of S3 objects" (S3DataSource, API reference);
    which objects go where is not documented: here every n-th, from the host's rank."""
    return keys[rank::count]


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def common_environment() -> dict[str, str]:
    """What every container's process gets from this one: its environment but the training toolkit's SM_*."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SM_")}
    return {**environment, "PYTHONUNBUFFERED": "1"}


class JobRunner:
    def __init__(self, s3: Any, work_dir: Path, python_bin: Path = ML_VENV_BIN) -> None:
        """`python_bin`: the folder whose `python3` the containers run (twin/warm_python.py's, or .venv-ml's)."""
        self._s3 = s3
        self._work_dir = work_dir
        self._python_bin = python_bin

    # ------------------------------------------------------------------------------------------ S3 <-> folders

    def objects(self, uri: str) -> list[str]:
        bucket, prefix = split_s3_uri(uri)
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(keys)

    def download(self, uri: str, folder: Path, keys: list[str] | None = None) -> None:
        """An S3 prefix into a folder: each object at its key relative to the prefix (a single object by name)."""
        bucket, prefix = split_s3_uri(uri)
        for key in self.objects(uri) if keys is None else keys:
            relative = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            self._s3.download_file(bucket, key, str(target))
        folder.mkdir(parents=True, exist_ok=True)

    def upload(self, folder: Path, uri: str) -> None:
        bucket, prefix = split_s3_uri(uri)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            self._s3.upload_file(str(path), bucket, f"{prefix.rstrip('/')}/{path.relative_to(folder).as_posix()}")

    # ------------------------------------------------------------------------------------------ the container

    def _job_folder(self, job_name: str, host: str = "algo-1") -> Path:
        folder = self._work_dir / job_name / host
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "output").mkdir(parents=True)
        return folder

    @staticmethod
    def _local(path: str, folder: Path) -> Path:
        return Path(path.replace(CONTAINER_ROOT, str(folder), 1)) if path.startswith(CONTAINER_ROOT) else Path(path)

    def _container_environment(self, folder: Path, extra: Mapping[str, str]) -> dict[str, str]:
        environment = common_environment()
        path = os.pathsep.join(dict.fromkeys([str(self._python_bin), str(ML_VENV_BIN), environment.get("PATH", "")]))
        return {**environment, "PATH": path, "SAGEMAKER_BASE_DIR": str(folder), **extra}

    @staticmethod
    def _reason(folder: Path, file_name: str, returncode: int) -> str:
        path = folder / "output" / file_name
        if path.exists():
            return path.read_bytes()[:MESSAGE_LIMIT].decode("utf-8", errors="ignore").strip()
        return f"AlgorithmError: the container exited with code {returncode} and wrote no {path.name} file"

    # ------------------------------------------------------------------------------------------ processing

    def processing(self, job_name: str, arguments: Mapping[str, Any]) -> JobResult:
        folder = self._job_folder(job_name)
        for item in arguments.get("ProcessingInputs", []):
            s3_input = item["S3Input"]
            self.download(s3_input["S3Uri"], self._local(s3_input["LocalPath"], folder))
        for item in arguments["ProcessingOutputConfig"]["Outputs"]:
            self._local(item["S3Output"]["LocalPath"], folder).mkdir(parents=True, exist_ok=True)
        app = arguments["AppSpecification"]
        command = [
            str(self._local(part, folder))
            if part.startswith(CONTAINER_ROOT)
            else part.replace(CONTAINER_ROOT, str(folder))
            for part in [*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])]
        ]
        log = folder / "log.txt"
        timeout = arguments.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        with log.open("w", encoding="utf-8") as out:
            completed = subprocess.run(
                command, cwd=folder, env=self._container_environment(folder, arguments.get("Environment", {})),
                stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False,
            )  # fmt: skip
        if completed.returncode != 0:
            return JobResult(False, self._reason(folder, "message", completed.returncode), log)
        for item in arguments["ProcessingOutputConfig"]["Outputs"]:
            self.upload(self._local(item["S3Output"]["LocalPath"], folder), item["S3Output"]["S3Uri"])
        return JobResult(True, None, log)

    # ------------------------------------------------------------------------------------------ training

    def training(self, job_name: str, arguments: Mapping[str, Any]) -> tuple[JobResult, str | None]:
        """The job's result and, when it succeeded, the S3 URI of model.tar.gz."""
        count = int(arguments["ResourceConfig"]["InstanceCount"])
        hosts = [f"algo-{number}" for number in range(1, count + 1)]
        unresolved = [host for host in hosts if count > 1 and not _resolves(host)]
        if unresolved:  # the hosts would wait for each other's names for up to 15 minutes (ml_code/train.py)
            reason = (
                f"the twin runs {count} training hosts as {count} processes on this machine, but the host names "
                f"{', '.join(unresolved)} do not resolve here (add them to /etc/hosts as 127.0.0.1)"
            )
            return JobResult(False, reason, self._work_dir / job_name), None
        hyperparameters = dict(arguments.get("HyperParameters", {}))
        toolkit = {key: json.loads(value) for key, value in hyperparameters.items() if key.startswith("sagemaker_")}
        user = {key: value for key, value in hyperparameters.items() if not key.startswith("sagemaker_")}
        channels = arguments.get("InputDataConfig", [])
        processes = []
        for rank, host in enumerate(hosts):
            folder = self._job_folder(job_name, host)
            code = folder / "code"
            archive = folder / "sourcedir.tar.gz"
            bucket, key = split_s3_uri(toolkit["sagemaker_submit_directory"])
            code.mkdir()
            self._s3.download_file(bucket, key, str(archive))
            with tarfile.open(archive) as tar:
                tar.extractall(code, filter="data")
            for channel in channels:
                source = channel["DataSource"]["S3DataSource"]
                keys = self.objects(source["S3Uri"])
                if source.get("S3DataDistributionType") == "ShardedByS3Key":
                    keys = host_share(keys, rank, count)
                self.download(source["S3Uri"], folder / "input" / "data" / channel["ChannelName"], keys)
            (folder / "model").mkdir()
            config = folder / "input" / "config"
            config.mkdir(parents=True, exist_ok=True)
            (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
            (config / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
            input_config = {
                c["ChannelName"]: {
                    "TrainingInputMode": arguments["AlgorithmSpecification"].get("TrainingInputMode", "File"),
                    "S3DistributionType": c["DataSource"]["S3DataSource"].get(
                        "S3DataDistributionType", "FullyReplicated"
                    ),
                    "RecordWrapperType": "None",
                }
                for c in channels
            }
            (config / "inputdataconfig.json").write_text(json.dumps(input_config))
            user_args = [part for name, value in user.items() for part in (f"--{name}", str(value))]
            environment = {
                **arguments.get("Environment", {}),
                "SM_MODEL_DIR": str(folder / "model"),
                "SM_OUTPUT_DIR": str(folder / "output"),
                "SM_OUTPUT_DATA_DIR": str(folder / "output" / "data"),
                "SM_INPUT_DIR": str(folder / "input"),
                "SM_INPUT_CONFIG_DIR": str(config),
                "SM_CHANNELS": json.dumps([c["ChannelName"] for c in channels]),
                "SM_INPUT_DATA_CONFIG": json.dumps(input_config),
                "SM_HOSTS": json.dumps(hosts),
                "SM_CURRENT_HOST": host,
                "SM_NUM_GPUS": "0",
                "SM_NUM_CPUS": str(os.cpu_count() or 1),
                "SM_HPS": json.dumps(user),
                "SM_USER_ARGS": json.dumps(user_args),
                "SM_MODULE_DIR": toolkit["sagemaker_submit_directory"],
                "SM_MODULE_NAME": str(toolkit["sagemaker_program"]).removesuffix(".py"),
                "SM_LOG_LEVEL": str(toolkit.get("sagemaker_container_log_level", 20)),
                **{f"SM_CHANNEL_{c['ChannelName'].upper()}": str(folder / "input" / "data" / c["ChannelName"]) for c in channels},
                **{f"SM_HP_{name.upper()}": str(value) for name, value in user.items()},
            }  # fmt: skip
            log = folder / "log.txt"
            out = log.open("w", encoding="utf-8")
            command = ["python3", str(code / toolkit["sagemaker_program"]), *user_args]
            env = self._container_environment(folder, environment)
            process = subprocess.Popen(command, cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT)
            processes.append((folder, process, out, log))
        timeout = arguments.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        results = []
        for folder, process, out, log in processes:
            returncode = process.wait(timeout=timeout)
            out.close()
            failure = None if returncode == 0 else self._reason(folder, "failure", returncode)
            results.append(JobResult(returncode == 0, failure, log))
        failed = next((result for result in results if not result.succeeded), None)
        if failed:
            return failed, None
        first = processes[0][0]
        archive = self._work_dir / job_name / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted((first / "model").iterdir()):
                tar.add(path, arcname=path.name)
        bucket, prefix = split_s3_uri(arguments["OutputDataConfig"]["S3OutputPath"])
        key = f"{prefix.rstrip('/')}/{job_name}/output/model.tar.gz"
        self._s3.upload_file(str(archive), bucket, key)
        return results[0], f"s3://{bucket}/{key}"
