"""A SageMaker real-time endpoint's serving side, as the twin stands it in: when an endpoint is InService on a
config, the config's model is served over the container's HTTP contract (ml_code/local/local_endpoint.py: GET /ping,
POST /invocations around the entry script packed in model.tar.gz's code/), with the model's container
environment; InvokeEndpoint through the local AWS reaches it (twin/local_aws.py).

Not SageMaker: one process per endpoint instead of instances behind a load balancer, .venv-ml instead of the
image (its `python` forked from a warm interpreter: twin/warm_python.py), no nginx; a blue/green switch replaces
the process once the endpoint's config has changed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from twin.job_runner import ML_VENV_BIN, REPO_ROOT, split_s3_uri
from twin.local_aws import Corrections

START_SECONDS = 60


@dataclass
class Served:
    config: str
    model: str
    process: subprocess.Popen[bytes]
    url: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EndpointHost:
    def __init__(
        self, sagemaker: Any, s3: Any, corrections: Corrections, work_dir: Path, python_bin: Path = ML_VENV_BIN
    ) -> None:
        self._sagemaker = sagemaker  # moto's, for the model and config records
        self._s3 = s3
        self._python_bin = python_bin  # the folder of the `python` that serves (twin/warm_python.py's, or .venv-ml's)
        self._corrections = corrections
        self._work_dir = work_dir
        self.served: dict[str, Served] = {}

    def sync(self, endpoints: dict[str, Any]) -> list[str]:
        """Serve what every InService endpoint's config names; what changed, as lines to print."""
        changes = []
        for name, endpoint in endpoints.items():
            current = self.served.get(name)
            if endpoint.status not in ("InService", "Updating", "RollingBack") or (
                current and current.config == endpoint.config
            ):
                continue
            config = self._sagemaker.describe_endpoint_config(EndpointConfigName=endpoint.config)
            model_name = config["ProductionVariants"][0]["ModelName"]
            self._start(name, endpoint.config, model_name)
            if current:
                self._stop(current)
            changes.append(f"endpoint {name} serves {model_name} (config {endpoint.config})")
        for name in [n for n in self.served if n not in endpoints]:
            self._stop(self.served.pop(name))
            self._corrections.endpoint_urls.pop(name, None)
        return changes

    def _start(self, endpoint_name: str, config_name: str, model_name: str) -> None:
        model = self._sagemaker.describe_model(ModelName=model_name)
        container = model.get("PrimaryContainer") or model["Containers"][0]
        if "ModelPackageName" in container:  # CreateModel from a package: the package's image, data and environment
            package = self._sagemaker.describe_model_package(ModelPackageName=container["ModelPackageName"])
            packaged = package["InferenceSpecification"]["Containers"][0]
            container = {
                **packaged,
                "Environment": {**packaged.get("Environment", {}), **container.get("Environment", {})},
            }
        folder = self._work_dir / "endpoints" / config_name
        folder.mkdir(parents=True, exist_ok=True)
        archive = folder / "model.tar.gz"
        bucket, key = split_s3_uri(container["ModelDataUrl"])
        self._s3.download_file(bucket, key, str(archive))
        with tarfile.open(archive) as tar:
            names = tar.getnames()
        if not any(name.startswith("code/") for name in names):
            raise RuntimeError(f"{container['ModelDataUrl']} carries no code/ folder: the container could not serve it")
        port = _free_port()
        environment = {**os.environ, **container.get("Environment", {}), "PYTHONUNBUFFERED": "1"}
        log = (folder / "serve.log").open("w", encoding="utf-8")
        command = [str(self._python_bin / "python"), str(REPO_ROOT / "ml_code" / "local" / "local_endpoint.py"), "serve",
                   "--model", str(archive), "--port", str(port)]  # fmt: skip
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the model of {config_name} did not start: see {folder / 'serve.log'}")
            time.sleep(0.2)
        self.served[endpoint_name] = Served(config_name, model_name, process, url)
        self._corrections.endpoint_urls[endpoint_name] = url

    @staticmethod
    def _stop(served: Served) -> None:
        served.process.terminate()
        served.process.wait(timeout=10)

    def close(self) -> None:
        for served in self.served.values():
            self._stop(served)
        self.served.clear()
