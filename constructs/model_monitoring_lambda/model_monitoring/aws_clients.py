"""The monitoring functions' AWS clients: made on first use, kept while a function stays warm.

Tests replace `clients` (monkeypatch this module's attribute, or `clients.cache_clear()` inside moto); the entries
call it as `aws_clients.clients()`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import boto3


@dataclass(frozen=True)
class Clients:
    sagemaker: Any


@functools.cache
def clients() -> Clients:
    return Clients(sagemaker=boto3.client("sagemaker"))
