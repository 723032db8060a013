"""Starts the monitoring job for the version the endpoint serves, on EventBridge's schedule.

The job (ml_code/monitor.py) runs as a SageMaker processing job in the training pipeline's XGBoost image with its
code bundle; it reads the window's data capture, the serving version's baseline (the package's drift-check
baseline, written by evaluate) and the uploaded labels, writes monitoring_report.json and publishes CloudWatch
metrics. The job's name comes from the schedule's time, so a redelivered event starts nothing new. Nothing to
monitor (no endpoint yet, a version registered before baselines existed) is logged and answered, never raised.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from . import aws_clients
from .constants import LAUNCHER_SETTINGS_VARIABLE
from .serving import serving_package

logger = logging.getLogger(__name__)


def load_settings() -> dict[str, Any]:
    """The launcher's settings: JSON the construct writes into the variable LAUNCHER_SETTINGS_VARIABLE names."""
    return json.loads(os.environ[LAUNCHER_SETTINGS_VARIABLE])


def baseline_uri(package: dict[str, Any]) -> str | None:
    quality = package.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    return quality.get("Statistics", {}).get("S3Uri")


def job_request(
    settings: dict[str, Any], job_name: str, window_end: str, package: dict[str, Any], baseline: str
) -> dict:
    version = str(package["ModelPackageVersion"])
    alarms = settings["alarms"]
    arguments = [
        "monitor.py",
        "--baseline", baseline,
        "--capture", settings["capture_uri"],
        "--labels", settings["labels_uri"],
        "--variant", settings["variant_name"],
        "--window-end", window_end,
        "--window-hours", str(settings["window_hours"]),
        "--label-window-days", str(settings["label_window_days"]),
        "--endpoint-name", settings["endpoint_name"],
        "--model-version", version,
        "--metrics-namespace", settings["metrics_namespace"],
        "--feature-psi", str(alarms["feature_psi"]),
        "--score-psi", str(alarms["score_psi"]),
        "--auc-drop", str(alarms["realized_auc_drop"]),
        "--min-rows", str(alarms["min_rows"]),
        "--min-labelled-rows", str(alarms["min_labelled_rows"]),
        "--output-dir", settings["output_path"],
    ]  # fmt: skip
    request = {
        "ProcessingJobName": job_name,
        "RoleArn": settings["job_role_arn"],
        "AppSpecification": {
            "ImageUri": settings["image_uri"],
            "ContainerEntrypoint": settings["entrypoint"],
            "ContainerArguments": arguments,
        },
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": settings["code_uri"],
                    "LocalPath": settings["code_path"],
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "monitoring",
                    "S3Output": {
                        "S3Uri": f"{settings['report_uri']}/{job_name}",
                        "LocalPath": settings["output_path"],
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": settings["kms_key_arn"],
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": settings["instance_type"],
                "VolumeSizeInGB": 30,
                "VolumeKmsKeyId": settings["kms_key_arn"],
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Environment": {"PYTHONUNBUFFERED": "1"},
        "Tags": [
            {"Key": settings["environment_tag_key"], "Value": settings["environment"]},
            {"Key": "mlops:model-package-arn", "Value": package["ModelPackageArn"]},
        ],
    }
    if settings.get("network_config"):  # private network mode: subnets, security groups (docs/private-network.md)
        request["NetworkConfig"] = settings["network_config"]
    return request


def run(event: dict[str, Any], settings: dict[str, Any], aws: aws_clients.Clients) -> dict[str, Any]:
    sagemaker = aws.sagemaker
    # A scheduled event's `time` is when it was due: the window ends there, and it names the job.
    due = datetime.fromisoformat(str(event.get("time", "")).replace("Z", "+00:00"))
    package, why = serving_package(sagemaker, settings["endpoint_name"], settings["variant_name"])
    if package is None:
        logger.warning("nothing to monitor: %s", why)
        return {"status": "skipped", "reason": why}
    baseline = baseline_uri(package)
    if not baseline:
        why = f"{package['ModelPackageArn']} has no drift-check baseline (registered before monitoring existed?)"
        logger.warning("nothing to monitor: %s", why)
        return {"status": "skipped", "reason": why}
    job_name = f"{settings['job_name_prefix']}-{due:%Y%m%d%H%M}"
    request = job_request(settings, job_name, due.isoformat(), package, baseline)
    try:
        sagemaker.create_processing_job(**request)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceInUse":  # this schedule's job exists: a redelivery
            logger.info("monitoring job %s already started", job_name)
            return {"status": "already started", "job_name": job_name}
        raise
    report = f"{settings['report_uri']}/{job_name}/monitoring_report.json"
    logger.info("monitoring job %s started for %s; report: %s", job_name, package["ModelPackageArn"], report)
    return {"status": "started", "job_name": job_name, "report_uri": report}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run(event, load_settings(), aws_clients.clients())
