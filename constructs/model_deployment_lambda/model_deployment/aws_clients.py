"""The AWS clients of the deploy workflow's functions: made on first use, kept while the function stays warm.

Tests replace `clients` (monkeypatch this module's attribute); the functions call it as `aws_clients.clients()`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

# Throttling is retried by botocore first (standard mode), then by the state machine (RETRIED_STEP_ERRORS).
BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})


@dataclass(frozen=True)
class Clients:
    sagemaker: Any
    sns: Any
    autoscaling: Any
    stepfunctions: Any
    cloudwatch: Any
    dynamodb: Any


@functools.cache
def clients() -> Clients:
    return Clients(
        sagemaker=boto3.client("sagemaker", config=BOTO_CONFIG),
        sns=boto3.client("sns", config=BOTO_CONFIG),
        autoscaling=boto3.client("application-autoscaling", config=BOTO_CONFIG),
        stepfunctions=boto3.client("stepfunctions", config=BOTO_CONFIG),
        cloudwatch=boto3.client("cloudwatch", config=BOTO_CONFIG),
        dynamodb=boto3.client("dynamodb", config=BOTO_CONFIG),
    )
