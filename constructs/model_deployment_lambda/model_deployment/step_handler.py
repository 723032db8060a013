"""The Lambda entry of every step: settings and clients from the environment, AWS's transient answers named."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from . import aws_clients
from .aws_answers import THROTTLING_CODES, AwsThrottled, AwsUnavailable, error_code, is_server_error
from .constants import DEPLOY_SETTINGS_VARIABLE


def load_settings() -> dict[str, Any]:
    """The workflow's settings: JSON the constructs write into the variable DEPLOY_SETTINGS_VARIABLE names."""
    return json.loads(os.environ[DEPLOY_SETTINGS_VARIABLE])


def step_handler(
    run: Callable[[Any, Mapping[str, Any], aws_clients.Clients], dict[str, Any]],
) -> Callable[..., dict[str, Any]]:
    """The Lambda handler of a step: throttling becomes AwsThrottled, a 5xx AwsUnavailable (both retried)."""

    @functools.wraps(run)
    def handler(event: Any, context: Any = None) -> dict[str, Any]:
        try:
            return run(event, load_settings(), aws_clients.clients())
        except ClientError as error:
            if error_code(error) in THROTTLING_CODES:
                raise AwsThrottled(str(error)) from error
            if is_server_error(error):
                raise AwsUnavailable(str(error)) from error
            raise

    return handler
