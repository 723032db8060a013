"""Which environment the approver works on (read from cdk.json) and the AWS clients it works with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from settings import resource_names
from settings.loading import ConfigError, environment_settings, parse_environment

CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"
_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5})


class ApproverError(Exception):
    """What went wrong, as one line for the approver."""


@dataclass(frozen=True)
class Environment:
    name: str
    region: str
    account: str | None
    auc_threshold: float
    model_package_group: str
    endpoint: str
    deploy_state_machine: str


@dataclass(frozen=True)
class Aws:
    sagemaker: Any
    s3: Any
    stepfunctions: Any
    sts: Any


def load_environment(name: str) -> Environment:
    try:
        environments = environment_settings(json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"])
    except ConfigError as error:
        raise ApproverError(f"cdk.json: {error}") from None
    if name not in environments:
        raise ApproverError(f"unknown environment '{name}': cdk.json defines {', '.join(sorted(environments))}")
    try:
        config = parse_environment(name, environments[name])
    except ConfigError as error:
        raise ApproverError(f"cdk.json: {error}") from None
    return Environment(
        name=name,
        region=config.region,
        account=config.account,
        auc_threshold=config.training.auc_threshold,
        model_package_group=resource_names.model_package_group_name(name),
        endpoint=resource_names.endpoint_name(name),
        deploy_state_machine=resource_names.deploy_state_machine_name(name),
    )


def aws_clients(region: str, profile: str | None = None) -> Aws:
    session = boto3.Session(profile_name=profile, region_name=region)
    return Aws(
        sagemaker=session.client("sagemaker", config=_RETRIES),
        # Report links: objects under SSE-KMS need SigV4 (boto3 presigns with SigV2 unless told), and the regional
        # virtual-hosted endpoint avoids the global endpoint's redirect for buckets outside us-east-1.
        s3=session.client(
            "s3", config=_RETRIES.merge(Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
        ),
        stepfunctions=session.client("stepfunctions", config=_RETRIES),
        sts=session.client("sts", config=_RETRIES),
    )
