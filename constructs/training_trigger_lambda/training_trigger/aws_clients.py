"""The trigger's AWS clients: made on first use, kept while the function stays warm.

Tests replace `clients` (monkeypatch this module's attribute, or `clients.cache_clear()` inside moto); the entry
calls it as `aws_clients.clients()`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import boto3


@dataclass(frozen=True)
class Clients:
    s3: Any
    sagemaker: Any
    sns: Any


@functools.cache
def clients() -> Clients:
    return Clients(s3=boto3.client("s3"), sagemaker=boto3.client("sagemaker"), sns=boto3.client("sns"))
