"""Rules across keys of the endpoint, its blue/green rollouts, alarms, autoscaling and monitoring: each refused
with one message naming the environment and the key."""

from __future__ import annotations

from typing import Any

import pytest

from settings.loading import (
    load_environments,
)
from tests.infra.support.config_contexts import config_error, context_with, environment_with


def test_canary_needs_two_instances() -> None:
    message = config_error(
        context_with({"deployment.traffic_routing": "CANARY", "deployment.traffic_step_percent": 50})
    )
    assert message == (
        "environment 'dev': key 'deployment.endpoint.instance_count' must be at least 2 for CANARY traffic routing, got 1"
    )


def test_canary_over_half_the_capacity() -> None:
    message = config_error(_prod_with({"deployment.traffic_step_percent": 60}))
    assert message == (
        "environment 'prod': key 'deployment.traffic_step_percent' must be at most 50 (% of capacity)"
        " for CANARY traffic routing, got 60"
    )


def test_linear_waits_count_every_step() -> None:
    # LINEAR in 10% steps is 10 waits of 360 s, plus 300 s before the old fleet goes: longer than 3600 s.
    message = config_error(_stg_with({"deployment.traffic_step_percent": 10, "deployment.traffic_wait_seconds": 360}))
    assert message == (
        "environment 'stg': key 'deployment.max_execution_timeout_seconds' must be longer than all waits together"
        " (3900 s), got 3600"
    )


@pytest.mark.parametrize("percent", [5, 60])
def test_a_linear_step_outside_10_to_50_percent_of_the_instances(percent: int) -> None:
    message = config_error(_stg_with({"deployment.traffic_step_percent": percent}))
    assert message == (
        "environment 'stg': key 'deployment.traffic_step_percent' must be 10 to 50 (% of the instance count)"
        f" for LINEAR traffic routing, got {percent}"
    )


@pytest.mark.parametrize("environment", ["dev", "stg", "prod"])
def test_every_routing_bakes_at_least_the_alarms_evaluation_window(environment: str) -> None:
    message = config_error(environment_with(environment, {"deployment.traffic_wait_seconds": 60}))
    assert message == (
        f"environment '{environment}': key 'deployment.traffic_wait_seconds' must be at least the alarms' evaluation"
        " window (alarms.period_seconds x evaluation_periods = 120 s) so the rollback alarms can act while traffic"
        " bakes, got 60"
    )


def test_all_at_once_keeps_the_old_fleet_for_the_alarms_evaluation_window() -> None:
    message = config_error(context_with({"deployment.termination_wait_seconds": 0}))
    assert message == (
        "environment 'dev': key 'deployment.termination_wait_seconds' must be at least the alarms' evaluation window"
        " (120 s) for ALL_AT_ONCE traffic routing, so a rollback is still possible after the shift, got 0"
    )


def test_a_longer_alarm_window_needs_a_longer_bake() -> None:
    message = config_error(_prod_with({"deployment.alarms.evaluation_periods": 11}))
    assert message == "environment 'prod': key 'deployment.alarms.evaluation_periods' must be between 1 and 10, got 11"
    message = config_error(_prod_with({"deployment.alarms.period_seconds": 660}))
    assert "key 'deployment.traffic_wait_seconds' must be at least" in message


def test_alarm_periods_are_whole_minutes() -> None:
    message = config_error(_prod_with({"deployment.alarms.period_seconds": 90}))
    assert message == "environment 'prod': key 'deployment.alarms.period_seconds' must be a multiple of 60, got 90"


@pytest.mark.parametrize("rate", [0, 101])
def test_error_rate_thresholds_are_percentages(rate: float) -> None:
    message = config_error(_prod_with({"deployment.alarms.model_error_rate_percent": rate}))
    assert message.startswith("environment 'prod': key 'deployment.alarms.model_error_rate_percent' must be between")


@pytest.mark.parametrize(
    "instance_type",
    [
        "ml.m5d.large",
        "ml.c5d.xlarge",
        "ml.r5d.large",
        "ml.g4dn.xlarge",
        "ml.g5.xlarge",
        "ml.p3dn.24xlarge",
        "ml.p4d.24xlarge",
        "ml.m6id.large",
    ],
)
def test_endpoint_instance_types_with_local_nvme_storage_are_refused(instance_type: str) -> None:
    message = config_error(context_with({"deployment.endpoint.instance_type": instance_type}))
    assert message.startswith(
        f"environment 'dev': key 'deployment.endpoint.instance_type' {instance_type} has local NVMe storage, which"
        " refuses the endpoint config's KmsKeyId"
    )


@pytest.mark.parametrize(
    "instance_type",
    ["ml.m5.large", "ml.c5.xlarge", "ml.r5.large", "ml.g4.xlarge", "ml.m7i.large", "ml.inf2.xlarge", "ml.c6g.large"],
)
def test_endpoint_instance_types_without_instance_storage_are_accepted(instance_type: str) -> None:
    (config,) = load_environments({**context_with({"deployment.endpoint.instance_type": instance_type}), "env": "dev"})
    assert config.deployment.endpoint.instance_type == instance_type


def test_max_execution_timeout_out_of_the_api_range() -> None:
    message = config_error(context_with({"deployment.max_execution_timeout_seconds": 300}))
    assert message == (
        "environment 'dev': key 'deployment.max_execution_timeout_seconds' must be between 600 and 28800, got 300"
    )


def test_termination_wait_out_of_the_api_range() -> None:
    message = config_error(context_with({"deployment.termination_wait_seconds": 3601}))
    assert message == (
        "environment 'dev': key 'deployment.termination_wait_seconds' must be between 0 and 3600, got 3601"
    )


def test_max_execution_timeout_must_outlast_all_waits() -> None:
    message = config_error(_stg_with({"deployment.max_execution_timeout_seconds": 900}))
    assert message == (
        "environment 'stg': key 'deployment.max_execution_timeout_seconds' must be longer than all waits together"
        " (900 s), got 900"
    )


def test_serverless_endpoints_cannot_do_blue_green() -> None:
    message = config_error(context_with({"deployment.endpoint.serverless_memory_mb": 2048}))
    assert message == (
        "environment 'dev': key 'deployment.endpoint.serverless_memory_mb' must be null:"
        " serverless endpoints do not support blue/green deployments"
    )


def test_autoscaling_bounds_must_be_ordered() -> None:
    message = config_error(_prod_with({"deployment.endpoint.autoscaling.max_instances": 1}))
    assert message == (
        "environment 'prod': key 'deployment.endpoint.autoscaling.max_instances' must be at least min_instances (2), got 1"
    )


def test_instance_count_within_autoscaling_bounds() -> None:
    message = config_error(_prod_with({"deployment.endpoint.instance_count": 8}))
    assert message == (
        "environment 'prod': key 'deployment.endpoint.instance_count' must be within autoscaling"
        " min_instances..max_instances (2..6), got 8"
    )


def _prod_with(change: dict[str, Any]) -> dict[str, Any]:
    return environment_with("prod", change)


def _stg_with(change: dict[str, Any]) -> dict[str, Any]:
    return environment_with("stg", change)


def test_monitoring_window_shorter_than_the_schedule_would_skip_traffic() -> None:
    message = config_error(context_with({"monitoring.schedule_hours": 12, "monitoring.window_hours": 6}))
    assert message == (
        "environment 'dev': key 'monitoring.window_hours' must be at least schedule_hours (12) so that no traffic "
        "goes unread, got 6"
    )


def test_a_monitoring_schedule_needs_data_capture() -> None:
    message = config_error(context_with({"monitoring.schedule_enabled": True}))
    assert message == (
        "environment 'dev': key 'monitoring.schedule_enabled' needs traffic to read: set "
        "deployment.endpoint.data_capture_percent above 0, or the schedule to false"
    )


def test_monitoring_alarm_thresholds_are_checked() -> None:
    message = config_error(context_with({"monitoring.alarms.realized_auc_drop": 5}))
    assert message == (
        "environment 'dev': key 'monitoring.alarms.realized_auc_drop' is a fraction between 0.0 and 0.5, got 5.0: "
        "a percentage? write 0.05 for 5%"
    )
