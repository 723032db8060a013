"""The deploy steps' decisions that need no AWS: resource names, the requests they build (blue/green, rollback
alarms, endpoint configs and updates), how they read the endpoint, which configs cleanup keeps, which approval
wins.

Each test drives the steps' `run` functions directly to pin one decision; `test_deploy_workflow_execution.py` runs
the synthesized state machine end to end.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.validate import validate_parameters

from constructs.model_deployment_lambda.model_deployment import (
    constants,
    decisions,
)
from constructs.model_deployment_lambda.model_deployment import deployment_names as names
from constructs.model_deployment_lambda.model_deployment import endpoint_requests as requests
from tests.infra.support import documented_support
from tests.infra.support.deploy_world import REGION, settings_for


def test_names_are_deterministic_and_fit_sagemaker_limits() -> None:
    settings = settings_for("dev")
    digest = names.settings_hash(settings, "arn:aws:sagemaker:eu-west-1:1:model-package/g/3")
    assert digest == names.settings_hash(dict(settings), "arn:aws:sagemaker:eu-west-1:1:model-package/g/3")
    assert names.resource_name(constants.name_prefix("mlops-dev"), 3, digest) == f"mlops-dev-v3-{digest}"


def test_a_change_of_the_models_network_makes_new_names_and_no_network_keeps_the_old_ones() -> None:
    # StartRollout reuses a Model of the same name as is: a Model made before the network changed must not be it.
    package = "arn:aws:sagemaker:eu-west-1:1:model-package/g/3"
    settings = settings_for("dev")
    assert "model_vpc_config" not in settings
    private = {
        **settings,
        "model_vpc_config": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
        "model_enable_network_isolation": True,
    }
    other_subnet = {**private, "model_vpc_config": {"Subnets": ["subnet-2"], "SecurityGroupIds": ["sg-1"]}}
    digests = {names.settings_hash(each, package) for each in (settings, private, other_subnet)}
    assert len(digests) == 3
    # Without the network keys, the digest is the one made before they were hashed (names already deployed).
    before = {key: settings.get(key) for key in names.ENDPOINT_CONFIG_KEYS} | {"package_arn": package}
    assert (
        names.settings_hash(settings, package)
        == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[: constants.HASH_LENGTH]
    )


@pytest.mark.parametrize("endpoint_name", ["mlops-dev", "mlops-" + "a" * 16, "e" * 63, "a-" * 31 + "b"])
@pytest.mark.parametrize("version", [1, 10000, 999_999_999_999])
def test_names_stay_within_63_characters_and_the_pattern(endpoint_name: str, version: int) -> None:
    prefix = constants.name_prefix(endpoint_name)
    name = names.resource_name(prefix, version, "0123abcd")
    assert len(name) <= 63
    assert constants.NAME_PATTERN.fullmatch(name)
    assert name.startswith(f"{prefix}-v")


def test_a_long_endpoint_name_gets_a_hashed_prefix_that_differs_per_endpoint() -> None:
    first, second = constants.name_prefix("x" * 50 + "-one"), constants.name_prefix("x" * 50 + "-two")
    assert len(first) == constants.PREFIX_LIMIT
    assert first != second


def test_a_version_too_long_for_the_name_fails_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="at most 63"):
        names.resource_name("e" * 40, 10**13, "0123abcd")


def test_a_setting_of_the_endpoint_config_changes_the_names() -> None:
    arn = "arn:aws:sagemaker:eu-west-1:1:model-package/g/3"
    settings = settings_for("dev")
    bigger = {**settings, "instance_type": "ml.m5.xlarge"}
    slower = {**settings, "traffic_wait_seconds": 900}  # a rollout setting, not part of the config
    assert names.settings_hash(bigger, arn) != names.settings_hash(settings, arn)
    assert names.settings_hash(slower, arn) == names.settings_hash(settings, arn)


def test_dev_deploys_all_at_once() -> None:
    policy = requests.deployment_config(settings_for("dev"), "c")["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}
    assert policy["TerminationWaitInSeconds"] == 120
    assert policy["MaximumExecutionTimeoutInSeconds"] == 1800


def test_stg_shifts_linearly_in_steps_of_half_the_capacity() -> None:
    routing = requests.deployment_config(settings_for("stg"), "c")["BlueGreenUpdatePolicy"][
        "TrafficRoutingConfiguration"
    ]
    assert routing == {
        "Type": "LINEAR",
        "WaitIntervalInSeconds": 300,
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
    }


def test_prod_bakes_a_canary_then_shifts_the_rest() -> None:
    policy = requests.deployment_config(settings_for("prod"), "c")["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "WaitIntervalInSeconds": 600,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
    }
    assert policy["TerminationWaitInSeconds"] == 600
    assert policy["MaximumExecutionTimeoutInSeconds"] == 3600


def test_rollback_watches_the_new_fleets_three_alarms() -> None:
    rollback = requests.deployment_config(settings_for("prod"), "mlops-prod-v7-abcd1234")["AutoRollbackConfiguration"]
    assert rollback == {
        "Alarms": [
            {"AlarmName": "mlops-prod-v7-abcd1234-rollback-5xx-error-rate"},
            {"AlarmName": "mlops-prod-v7-abcd1234-rollback-model-error-rate"},
            {"AlarmName": "mlops-prod-v7-abcd1234-rollback-model-latency"},
        ]
    }


def test_the_rollback_alarms_watch_rates_of_the_new_fleet_only() -> None:
    settings = settings_for("prod")
    alarms = {r["MetricName"]: r for r in requests.rollback_alarm_requests(settings, "mlops-prod-v7-abcd1234")}
    assert sorted(alarms) == ["Invocation5XXErrors", "InvocationModelErrors", "ModelLatency"]
    for request in alarms.values():
        assert request["Dimensions"] == [
            {"Name": "EndpointName", "Value": "mlops-prod"},
            {"Name": "VariantName", "Value": "AllTraffic"},
            {"Name": "EndpointConfigName", "Value": "mlops-prod-v7-abcd1234"},
        ]
        assert (request["Statistic"], request["ComparisonOperator"]) == ("Average", "GreaterThanThreshold")
        assert (request["Period"], request["EvaluationPeriods"]) == (60, 2)
    assert alarms["Invocation5XXErrors"]["Threshold"] == settings["alarms"]["invocation_5xx_error_rate_percent"] / 100
    assert alarms["InvocationModelErrors"]["Threshold"] == settings["alarms"]["model_error_rate_percent"] / 100
    assert alarms["ModelLatency"]["Threshold"] == settings["alarms"]["model_latency_microseconds"]


@pytest.mark.parametrize("environment", ["dev", "stg", "prod"])
def test_the_rollback_alarm_requests_are_valid_put_metric_alarm_calls(environment: str) -> None:
    input_shape = (
        boto3.client("cloudwatch", region_name=REGION).meta.service_model.operation_model("PutMetricAlarm").input_shape
    )
    for request in requests.rollback_alarm_requests(settings_for(environment), f"mlops-{environment}-v1-abcd1234"):
        validate_parameters(request, input_shape)


def _described(settings: dict[str, Any], name: str = "old") -> dict[str, Any]:
    """DescribeEndpointConfig of a config made from `settings` (what the serving config looks like)."""
    request = requests.endpoint_config_request(settings, name, name)
    return {**request, "EndpointConfigArn": f"arn:{name}"}


def test_updates_keep_the_autoscaled_count_where_autoscaling_is_on_and_capture_is_unchanged() -> None:
    prod, dev = settings_for("prod"), settings_for("dev")
    update = requests.update_endpoint_request(prod, "new", _described(prod))
    assert update["RetainAllVariantProperties"] is True
    assert "ExcludeRetainedVariantProperties" not in update
    assert "RetainAllVariantProperties" not in requests.update_endpoint_request(dev, "new", _described(dev))


def test_no_update_asks_to_exclude_data_capture_from_retention() -> None:
    for environment in ("dev", "stg", "prod"):
        settings = settings_for(environment)
        for previous in (None, _described(settings), _described(settings_for(environment, data_capture_percent=5))):
            request = requests.update_endpoint_request(settings, "new", previous)
            assert "ExcludeRetainedVariantProperties" not in request


def test_a_change_of_data_capture_applies_the_new_config_whole() -> None:
    prod = settings_for("prod")
    previous = _described(settings_for("prod", data_capture_percent=5))
    assert "RetainAllVariantProperties" not in requests.update_endpoint_request(prod, "new", previous)


def test_a_change_of_instance_type_applies_the_new_config_whole() -> None:
    prod = settings_for("prod")
    previous = _described(settings_for("prod", instance_type="ml.c5.xlarge"))
    assert "RetainAllVariantProperties" not in requests.update_endpoint_request(prod, "new", previous)


def test_the_documented_support_check_refuses_data_capture_in_the_exclusions() -> None:
    operation = boto3.client("sagemaker", region_name=REGION).meta.service_model.operation_model("UpdateEndpoint")
    request = {
        "EndpointName": "e",
        "EndpointConfigName": "c",
        "RetainAllVariantProperties": True,
        "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DataCaptureConfig"}],
    }
    validate_parameters(request, operation.input_shape)  # botocore's shape check lets it through
    (finding,) = documented_support.findings(operation, request)
    assert "VariantPropertyType = 'DataCaptureConfig'" in finding
    supported = {**request, "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredInstanceCount"}]}
    assert documented_support.findings(operation, supported) == []


def test_the_documented_support_check_refuses_exclusions_without_retention() -> None:
    operation = boto3.client("sagemaker", region_name=REGION).meta.service_model.operation_model("UpdateEndpoint")
    request = {
        "EndpointName": "e",
        "EndpointConfigName": "c",
        "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredWeight"}],
    }
    assert "without RetainAllVariantProperties" in documented_support.findings(operation, request)[0]


def test_the_documented_support_check_reads_the_marks_from_botocores_documentation() -> None:
    model = boto3.client("sagemaker", region_name=REGION).meta.service_model
    documentation = model.shape_for("VariantProperty").members["VariantPropertyType"].documentation
    assert documented_support.unsupported_values(documentation) == {"DataCaptureConfig"}
    assert documented_support.member_unsupported("<p>(Not currently supported.)</p>")
    assert not documented_support.member_unsupported("<p>The name of the endpoint.</p>")


def test_prod_captures_data_encrypted_with_the_environment_key() -> None:
    settings = settings_for("prod")
    request = requests.endpoint_config_request(settings, "c", "m")
    assert request["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    assert request["DataCaptureConfig"]["KmsKeyId"] == settings["kms_key_arn"]
    assert request["DataCaptureConfig"]["DestinationS3Uri"] == "s3://artifacts/data-capture/mlops-prod"
    assert "DataCaptureConfig" not in requests.endpoint_config_request(settings_for("dev"), "c", "m")


def test_the_endpoint_config_sets_the_startup_timeouts_and_the_fixed_variant() -> None:
    (variant,) = requests.endpoint_config_request(settings_for("stg"), "c", "m")["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert variant["InitialInstanceCount"] == 2
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 600
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 600


@pytest.mark.parametrize(
    ("endpoint", "outcome", "reason_part"),
    [
        ({"EndpointStatus": "Updating", "EndpointConfigName": "old"}, "in_progress", "Updating"),
        ({"EndpointStatus": "RollingBack", "EndpointConfigName": "old"}, "in_progress", "RollingBack"),
        ({"EndpointStatus": "InService", "EndpointConfigName": "new"}, "deployed", "InService on new"),
        ({"EndpointStatus": "InService", "EndpointConfigName": "old"}, "rolled_back", "rolled the endpoint back"),
        (
            {"EndpointStatus": "InService", "EndpointConfigName": "old", "FailureReason": "alarm x in ALARM"},
            "rolled_back",
            "alarm x in ALARM",
        ),
        ({"EndpointStatus": "Failed", "EndpointConfigName": "new", "FailureReason": "no model.tar.gz"}, "failed", ""),
        ({"EndpointStatus": "UpdateRollbackFailed", "EndpointConfigName": "old"}, "failed", "rollback both failed"),
        (None, "failed", "no longer exists"),
    ],
)
def test_the_outcome_is_read_from_the_endpoint(endpoint: Any, outcome: str, reason_part: str) -> None:
    decided, reason = decisions.decide_outcome(endpoint, "new")
    assert decided == outcome
    assert reason_part in reason
    if endpoint and endpoint.get("FailureReason"):
        assert endpoint["FailureReason"] in reason


def test_cleanup_keeps_the_newest_served_configs_and_anything_newer_than_the_rollout() -> None:
    start = datetime(2026, 1, 10, tzinfo=timezone.utc)

    def config(name: str, days_before: int, served: bool) -> dict[str, Any]:
        return {"name": name, "created": start - timedelta(days=days_before), "served": served}

    configs = [
        config("v1", 9, True),
        config("v2", 8, True),
        config("v3", 7, False),  # rolled back, never served
        config("v4", 6, True),
        config("v5", 1, False),  # the new one
        {"name": "v6", "created": start + timedelta(minutes=5), "served": False},  # another approval, in flight
    ]
    assert decisions.configs_to_delete(configs, "v5", 2, start) == ["v1", "v3"]


@pytest.mark.parametrize(
    ("endpoint", "in_flight"),
    [
        ({"EndpointStatus": "Creating", "EndpointConfigName": "new"}, "new"),
        (
            {
                "EndpointStatus": "Updating",
                "EndpointConfigName": "old",
                "PendingDeploymentSummary": {"EndpointConfigName": "new"},
            },
            "new",
        ),
        ({"EndpointStatus": "InService", "EndpointConfigName": "old"}, None),
    ],
)
def test_the_config_in_flight_is_read_from_the_pending_deployment(endpoint: Any, in_flight: str | None) -> None:
    assert decisions.config_in_flight(endpoint) == in_flight


def test_the_latest_approval_wins_by_time_not_by_version() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    v9 = decisions.Approval("arn/9", 9, t0)
    v10 = decisions.Approval("arn/10", 10, t0 + timedelta(minutes=1))
    v9_again = decisions.Approval("arn/9", 9, t0 + timedelta(minutes=2))
    assert decisions.latest_approval([v9, v10]) == v10
    assert decisions.latest_approval([v10, v9_again]) == v9_again
    assert decisions.latest_approval([]) is None
