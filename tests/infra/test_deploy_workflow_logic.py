"""The deploy workflow's Lambda steps one at a time, against moto and the endpoint-lifecycle double.

Each test drives the steps' `run` functions directly to pin one decision; `test_deploy_workflow_execution.py`
runs the synthesized state machine end to end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters
from moto import mock_aws

from constructs.model_deployment_lambda.model_deployment import (
    aws_clients,
    check,
    conclude,
    constants,
    decisions,
    prepare,
    rollout,
    teardown,
)
from constructs.model_deployment_lambda.model_deployment import deployment_names as names
from constructs.model_deployment_lambda.model_deployment import endpoint_requests as requests
from constructs.model_deployment_lambda.model_deployment.aws_answers import (
    AwsThrottled,
    AwsUnavailable,
    NotYetConsistent,
)
from constructs.model_deployment_lambda.model_deployment.aws_clients import Clients
from constructs.model_deployment_lambda.model_deployment.ledger import Ledger
from constructs.model_deployment_lambda.model_deployment.step_handler import step_handler
from tests.infra.support import documented_support
from tests.infra.support.deploy_world import ACCOUNT, REGION, World, event_for, settings_for
from twin.sagemaker_endpoint_double import client_error


@pytest.fixture
def moto_env() -> Iterator[None]:
    with mock_aws():
        yield


def make_world(environment: str, **overrides: Any) -> World:
    return World(settings_for(environment, **overrides))


def run_to_end(world: World, state: dict[str, Any]) -> dict[str, Any]:
    """StartRollout, let SageMaker finish, CheckEndpoint, Conclude."""
    state = rollout.run(state, world.settings, world.clients())
    world.sagemaker.settle()
    state = check.run(state, world.settings, world.clients())
    return conclude.run(state, world.settings, world.clients())


def announce(world: World, event: dict[str, Any]) -> dict[str, Any]:
    """The first Prepare of an event's own execution, which records it in the ledger."""
    return prepare.run(event, world.settings, world.clients())


def deploy_version(world: World, auc: str = "0.93") -> dict[str, Any]:
    """Register, approve and deploy a new version to the end; the endpoint ends InService on it."""
    state = prepare.run(event_for(world.register(auc=auc)), world.settings, world.clients())
    assert state["action"] == "deploy", state["reason"]
    state = run_to_end(world, state)
    assert state["outcome"] == "deployed", state["reason"]
    return state


# ----------------------------------------------------------------------------------------------- pure helpers


def test_names_are_deterministic_and_fit_sagemaker_limits() -> None:
    settings = settings_for("dev")
    digest = names.settings_hash(settings, "arn:aws:sagemaker:eu-west-1:1:model-package/g/3")
    assert digest == names.settings_hash(dict(settings), "arn:aws:sagemaker:eu-west-1:1:model-package/g/3")
    assert names.resource_name(constants.name_prefix("mlops-dev"), 3, digest) == f"mlops-dev-v3-{digest}"


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


# ----------------------------------------------------------------------------------------- steps, one at a time


@pytest.mark.usefixtures("moto_env")
def test_first_approval_creates_the_model_config_and_a_tagged_endpoint() -> None:
    world = make_world("dev")
    arn = world.register()
    state = prepare.run(event_for(arn), world.settings, world.clients())
    assert (state["action"], state["mode"]) == ("deploy", "create")
    state = rollout.run(state, world.settings, world.clients())
    assert state["rollout"] == "started"
    model = world.moto_sagemaker.describe_model(ModelName=state["model_name"])
    assert model["Containers"] == [{"ModelPackageName": arn}]
    endpoint = world.endpoint()
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("Creating", state["config_name"])
    tags = world.sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]
    assert {"Key": names.DEPLOYMENT_KEY_TAG, "Value": state["deployment_key"]} in tags


@pytest.mark.usefixtures("moto_env")
def test_first_approval_is_reported_as_deployed_with_version_and_auc() -> None:
    world = make_world("dev")
    state = deploy_version(world)
    (message,) = world.messages()
    assert message["subject"] == "[dev] model v1: deployed"
    assert (message["outcome"], message["model_package_version"], message["auc"]) == ("deployed", 1, "0.93")
    assert message["serving_endpoint_config"] == state["config_name"]


@pytest.mark.usefixtures("moto_env")
def test_a_model_and_config_already_made_by_a_duplicate_execution_are_used_as_they_are() -> None:
    world = make_world("dev")
    state = prepare.run(event_for(world.register()), world.settings, world.clients())
    rollout.ensure_model(world.sagemaker, world.settings, state)  # the twin execution got there first
    rollout.ensure_endpoint_config(world.sagemaker, world.settings, state)
    state = rollout.run(state, world.settings, world.clients())
    assert state["rollout"] == "started"
    created = [name for name, _ in world.sagemaker.calls if name in ("create_model", "create_endpoint_config")]
    assert created == ["create_model", "create_endpoint_config"] * 2  # the second pair was refused, and accepted


@pytest.mark.usefixtures("moto_env")
def test_start_rollout_run_again_after_its_create_was_accepted_watches_its_own_create() -> None:
    world = make_world("dev")
    state = prepare.run(event_for(world.register()), world.settings, world.clients())
    rollout.run(dict(state), world.settings, world.clients())  # accepted; then Lambda.ServiceException
    again = rollout.run(dict(state), world.settings, world.clients())  # Step Functions' retry, same input
    assert again["rollout"] == "started"
    assert [name for name, _ in world.sagemaker.calls].count("create_endpoint") == 1


@pytest.mark.usefixtures("moto_env")
def test_a_duplicate_execution_that_reaches_start_rollout_second_ends_noop() -> None:
    world = make_world("dev")
    event = event_for(world.register())
    first = prepare.run(event, world.settings, world.clients())
    twin = prepare.run(event, world.settings, world.clients())  # another delivery: another execution
    rollout.run(first, world.settings, world.clients())
    state = rollout.run(twin, world.settings, world.clients())
    assert (state["rollout"], state["outcome"]) == ("concluded", "noop")
    assert "duplicate event" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_duplicate_event_of_a_rolled_out_approval_is_a_noop() -> None:
    world = make_world("dev")
    first = deploy_version(world)
    state = prepare.run(event_for(first["package_arn"]), world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "noop")
    assert "duplicate event" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_duplicate_while_its_twin_rolls_out_is_a_noop() -> None:
    world = make_world("dev")
    deploy_version(world)
    event = event_for(world.register(auc="0.94"))
    state = prepare.run(event, world.settings, world.clients())
    rollout.run(state, world.settings, world.clients())
    twin = prepare.run(event, world.settings, world.clients())
    assert (twin["outcome"], world.endpoint()["EndpointStatus"]) == ("noop", "Updating")
    assert "duplicate event" in twin["reason"]


@pytest.mark.usefixtures("moto_env")
def test_an_approval_overtaken_by_a_later_one_is_superseded() -> None:
    world = make_world("dev")
    deploy_version(world)
    older_event = event_for(world.register(auc="0.94"))
    announce(world, event_for(world.register(auc="0.95")))  # its own execution records it first
    state = prepare.run(older_event, world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "superseded")
    assert "version 3 was approved later" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_an_approval_overtaken_while_starting_is_superseded_before_updating() -> None:
    world = make_world("dev")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    announce(world, event_for(world.register(auc="0.95")))  # approved between Prepare and StartRollout
    state = rollout.run(state, world.settings, world.clients())
    assert (state["rollout"], state["outcome"]) == ("concluded", "superseded")
    assert "update_endpoint" not in [name for name, _ in world.sagemaker.calls]


@pytest.mark.usefixtures("moto_env")
def test_re_approving_an_older_version_deploys_it_again() -> None:
    world = make_world("dev")
    v1 = deploy_version(world)
    deploy_version(world, auc="0.94")
    world.approve(v1["package_arn"], status="PendingManualApproval")
    announce(world, event_for(v1["package_arn"], status="PendingManualApproval"))
    world.approve(v1["package_arn"])
    state = prepare.run(event_for(v1["package_arn"]), world.settings, world.clients())
    assert (state["action"], state["mode"]) == ("deploy", "update")
    assert run_to_end(world, state)["outcome"] == "deployed"
    assert world.serving_version() == 1


@pytest.mark.usefixtures("moto_env")
def test_an_edit_of_an_older_approved_package_deploys_nothing() -> None:
    world = make_world("dev")
    v1 = deploy_version(world)
    deploy_version(world, auc="0.94")
    # Editing v1 (here its approval description) moves its LastModifiedTime and sends the same event, Approved.
    world.approve(v1["package_arn"])
    state = prepare.run(event_for(v1["package_arn"]), world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "noop")
    assert world.serving_version() == 2


@pytest.mark.usefixtures("moto_env")
def test_events_delivered_out_of_order_keep_the_newest_status() -> None:
    world = make_world("dev")
    arn = world.register()
    earlier = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert announce(world, event_for(arn))["action"] == "deploy"
    pending = event_for(arn, status="PendingManualApproval", at=earlier)  # made before the approval, late
    assert announce(world, pending)["outcome"] == "ignored"
    record = Ledger(world.dynamodb, world.settings["ledger_table_name"]).package(arn)
    assert record is not None and record.status == "Approved"


@pytest.mark.usefixtures("moto_env")
def test_a_re_approval_whose_approved_event_arrives_first_is_rolled_out_by_the_late_event() -> None:
    world = make_world("dev")
    v1 = deploy_version(world)
    deploy_version(world, auc="0.94")
    pending_at = datetime.now(timezone.utc)
    world.approve(v1["package_arn"], status="PendingManualApproval")
    world.approve(v1["package_arn"])
    approved = prepare.run(event_for(v1["package_arn"]), world.settings, world.clients())
    assert approved["outcome"] == "noop"  # without the Pending event it looks like an edit of v1
    late = prepare.run(
        event_for(v1["package_arn"], status="PendingManualApproval", at=pending_at), world.settings, world.clients()
    )
    assert late["action"] == "deploy"
    assert run_to_end(world, late)["outcome"] == "deployed"
    assert world.serving_version() == 1


@pytest.mark.usefixtures("moto_env")
def test_rejecting_the_serving_version_keeps_it_serving_and_says_so() -> None:
    world = make_world("dev")
    v1 = deploy_version(world)
    world.approve(v1["package_arn"], status="Rejected")
    state = prepare.run(event_for(v1["package_arn"], status="Rejected"), world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "kept_serving")
    assert "still serves" in state["reason"] and "approve another version" in state["reason"]
    conclude.run(state, world.settings, world.clients())
    assert world.messages()[-1]["subject"] == "[dev] model v1: kept_serving"
    assert world.serving_version() == 1


@pytest.mark.usefixtures("moto_env")
def test_registering_or_rejecting_a_version_not_serving_publishes_nothing() -> None:
    world = make_world("dev")
    deploy_version(world)
    before = len(world.messages())
    arn = world.register(approve=False)
    for status in ("PendingManualApproval", "Rejected"):
        state = prepare.run(event_for(arn, status=status), world.settings, world.clients())
        assert state["outcome"] == "ignored"
        conclude.run(state, world.settings, world.clients())
    assert len(world.messages()) == before


@pytest.mark.usefixtures("moto_env")
def test_a_package_no_longer_approved_is_skipped() -> None:
    world = make_world("dev")
    arn = world.register()
    world.approve(arn, status="Rejected")
    state = prepare.run(event_for(arn), world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "skipped")
    assert "Rejected" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_package_of_another_group_is_skipped() -> None:
    world = make_world("dev")
    world.moto_sagemaker.create_model_package_group(ModelPackageGroupName="someone-else")
    arn = world.register(group="someone-else")
    state = prepare.run(event_for(arn, group="someone-else"), world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "skipped")


@pytest.mark.parametrize("environment", ["dev", "stg", "prod"])
@pytest.mark.usefixtures("moto_env")
def test_an_update_sends_the_environments_blue_green_config_with_the_new_fleets_alarms(environment: str) -> None:
    world = make_world(environment)
    first = deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    (update,) = [params for name, params in world.sagemaker.calls if name == "update_endpoint"]
    serving = world.sagemaker.describe_endpoint_config(EndpointConfigName=first["config_name"])
    assert update == requests.update_endpoint_request(world.settings, state["config_name"], serving)
    assert world.alarm_names() == sorted(requests.rollback_alarm_names(state["config_name"]))
    assert world.endpoint()["PendingDeploymentSummary"]["EndpointConfigName"] == state["config_name"]
    assert world.endpoint()["EndpointConfigName"] == first["config_name"]


@pytest.mark.usefixtures("moto_env")
def test_no_update_starts_without_its_rollback_alarms(monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world("dev")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())

    def refuse(**_: Any) -> None:
        raise client_error("PutMetricAlarm", "AccessDenied", "not allowed")

    monkeypatch.setattr(world.cloudwatch, "put_metric_alarm", refuse)
    with pytest.raises(ClientError, match="AccessDenied"):
        rollout.run(state, world.settings, world.clients())
    assert "update_endpoint" not in [name for name, _ in world.sagemaker.calls]


@pytest.mark.usefixtures("moto_env")
def test_start_rollout_run_again_after_its_update_was_accepted_watches_its_own_update() -> None:
    world = make_world("prod")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    rollout.run(dict(state), world.settings, world.clients())  # accepted; then the task is retried
    again = rollout.run(dict(state), world.settings, world.clients())
    assert again["rollout"] == "started"
    assert len(world.sagemaker.accepted_updates) == 1
    assert run_to_end(world, again)["outcome"] == "deployed"


@pytest.mark.usefixtures("moto_env")
def test_conclude_run_again_after_it_published_does_not_publish_twice() -> None:
    world = make_world("dev")
    state = prepare.run(event_for(world.register()), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    world.sagemaker.settle()
    state = check.run(state, world.settings, world.clients())
    first = conclude.run(dict(state), world.settings, world.clients())
    again = conclude.run(dict(state), world.settings, world.clients())
    assert (first["outcome"], again["outcome"]) == ("deployed", "deployed")
    assert [m["subject"] for m in world.messages()] == ["[dev] model v1: deployed"]


@pytest.mark.usefixtures("moto_env")
def test_create_endpoint_not_seeing_the_new_config_yet_runs_the_step_again() -> None:
    world = make_world("dev")
    state = prepare.run(event_for(world.register()), world.settings, world.clients())
    world.sagemaker.fail("create_endpoint", world.sagemaker.not_yet_consistent("CreateEndpoint", "endpoint-config"))
    with pytest.raises(NotYetConsistent):
        rollout.run(dict(state), world.settings, world.clients())
    assert rollout.run(dict(state), world.settings, world.clients())["rollout"] == "started"


@pytest.mark.usefixtures("moto_env")
def test_cleanup_keeps_a_config_another_execution_has_claimed() -> None:
    world = make_world("dev", previous_versions_kept=0)
    v1 = deploy_version(world)
    v2 = rollout.run(
        prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients()),
        world.settings,
        world.clients(),
    )
    # While v2 rolls out, v1 is approved again (the runbook's rollback); its execution claims v1's config.
    world.approve(v1["package_arn"], status="PendingManualApproval")
    announce(world, event_for(v1["package_arn"], status="PendingManualApproval"))
    world.approve(v1["package_arn"])
    again = prepare.run(event_for(v1["package_arn"]), world.settings, world.clients())
    Ledger(world.dynamodb, world.settings["ledger_table_name"]).claim(
        again["deployment_key"], again["run_id"], again["config_name"], time.time() + 3600
    )
    world.sagemaker.settle()
    state = conclude.run(check.run(v2, world.settings, world.clients()), world.settings, world.clients())
    assert state["outcome"] == "deployed"
    assert v1["config_name"] not in state["deleted_configs"]
    assert world.moto_sagemaker.describe_model(ModelName=v1["model_name"])
    assert world.moto_sagemaker.describe_endpoint_config(EndpointConfigName=v1["config_name"])


@pytest.mark.usefixtures("moto_env")
def test_an_unreadable_endpoint_is_one_more_check_not_a_failure() -> None:
    world = make_world("dev")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    world.sagemaker.throttle("describe_endpoint", times=1)
    state = check.run(state, world.settings, world.clients())
    assert state["rollout"] == "in_progress"
    assert "could not read the endpoint" in state["reason"]


def test_the_state_machine_retries_exactly_the_errors_the_steps_raise_for_a_retry() -> None:
    # The construct reads the names from constants.py; the steps raise these classes.
    raised = (AwsThrottled, AwsUnavailable, NotYetConsistent)
    assert tuple(error.__name__ for error in raised) == constants.RETRIED_STEP_ERRORS


@pytest.mark.usefixtures("moto_env")
def test_throttling_that_outlasts_botocore_becomes_the_retried_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(event: Any, settings: Any, aws: Clients) -> dict[str, Any]:
        raise client_error("DescribeModelPackage", "ThrottlingException", "Rate exceeded")

    monkeypatch.setenv("DEPLOY_SETTINGS", json.dumps(settings_for("dev")))
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with pytest.raises(AwsThrottled):
        step_handler(throttled)({}, None)


@pytest.mark.usefixtures("moto_env")
def test_an_update_confirmed_serving_is_deployed_and_cleans_up_beyond_the_kept_versions() -> None:
    world = make_world("dev", previous_versions_kept=1)
    served = [deploy_version(world)["config_name"]]
    for auc in ("0.94", "0.95"):
        state = deploy_version(world, auc=auc)
        served.append(state["config_name"])
    remaining = {c["EndpointConfigName"] for c in world.moto_sagemaker.list_endpoint_configs()["EndpointConfigs"]}
    models = {m["ModelName"] for m in world.moto_sagemaker.list_models()["Models"]}
    assert remaining == set(served[1:]) == models  # v1 went once v3 served; v2 is the one kept to roll back to
    assert state["deleted_configs"] == [served[0]]
    assert world.alarm_names() == []  # every rollout's alarms went with its conclusion


@pytest.mark.usefixtures("moto_env")
def test_an_alarm_during_the_bake_is_reported_as_rolled_back() -> None:
    world = make_world("prod")
    first = deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.95")), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    world.set_alarm(requests.rollback_alarm_names(state["config_name"])[0])
    world.sagemaker.settle()
    state = check.run(state, world.settings, world.clients())
    state = conclude.run(state, world.settings, world.clients())
    assert state["outcome"] == "rolled_back"
    message = world.messages()[-1]
    assert message["subject"] == "[prod] model v2: rolled_back"
    assert message["serving_endpoint_config"] == first["config_name"]
    assert "5xx-error-rate" in message["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_new_fleet_that_does_not_start_is_failed_with_sagemakers_reason() -> None:
    world = make_world("stg")
    first = deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.95")), world.settings, world.clients())
    world.sagemaker.failing_models[state["model_name"]] = "The primary container did not pass the ping health check"
    state = run_to_end(world, state)
    assert state["outcome"] == "failed"
    assert "did not pass the ping health check" in state["reason"]
    assert world.endpoint()["EndpointConfigName"] == first["config_name"]


@pytest.mark.usefixtures("moto_env")
def test_a_rollout_followed_by_a_later_one_between_two_checks_is_reported_as_what_it_was() -> None:
    world = make_world("dev")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    world.sagemaker.settle()
    later = prepare.run(event_for(world.register(auc="0.95")), world.settings, world.clients())
    rollout.run(later, world.settings, world.clients())  # the later rollout starts before our next check
    state = check.run(state, world.settings, world.clients())
    assert state["outcome"] == "deployed"
    assert "a later rollout" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_busy_endpoint_makes_the_workflow_wait() -> None:
    world = make_world("dev")
    deploy_version(world)
    world.sagemaker.start_system_update(world.endpoint_name)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    assert (state["action"], state["busy_checks"]) == ("wait", 1)
    world.sagemaker.settle()
    state = prepare.run(state, world.settings, world.clients())
    assert state["action"] == "deploy"


@pytest.mark.usefixtures("moto_env")
def test_an_endpoint_busy_too_long_ends_the_workflow_with_a_clear_reason() -> None:
    world = make_world("dev")
    deploy_version(world)
    world.sagemaker.start_system_update(world.endpoint_name)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    state["busy_checks"] = constants.busy_limit(world.settings)
    state = prepare.run(state, world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "failed")
    assert "still SystemUpdating after" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_failed_endpoint_is_deleted_and_created_again() -> None:
    world = make_world("dev")
    state = prepare.run(event_for(world.register()), world.settings, world.clients())
    world.sagemaker.failing_models[state["model_name"]] = "model.tar.gz not found"
    run_to_end(world, state)
    assert world.endpoint()["EndpointStatus"] == "Failed"
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    assert state["mode"] == "recreate"
    state = rollout.run(state, world.settings, world.clients())
    assert state["rollout"] == "busy"
    world.sagemaker.settle()
    state = prepare.run(state, world.settings, world.clients())
    assert (state["action"], state["mode"]) == ("deploy", "create")


@pytest.mark.usefixtures("moto_env")
def test_prod_registers_tagged_autoscaling_on_the_variant_once_serving() -> None:
    world = make_world("prod")
    deploy_version(world)
    (target,) = world.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == "endpoint/mlops-prod/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    (policy,) = world.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 1000.0


@pytest.mark.usefixtures("moto_env")
def test_autoscaling_paused_for_an_instance_type_change_is_restored_after_a_rollback() -> None:
    world = make_world("prod")
    deploy_version(world)
    world.settings = {**world.settings, "instance_type": "ml.m5.2xlarge"}
    state = prepare.run(event_for(world.register(auc="0.95")), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    assert state["autoscaling_paused"] is True
    assert world.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    world.set_alarm(requests.rollback_alarm_names(state["config_name"])[1])
    world.sagemaker.settle()
    state = conclude.run(check.run(state, world.settings, world.clients()), world.settings, world.clients())
    assert state["outcome"] == "rolled_back"
    assert len(world.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]) == 1


@pytest.mark.usefixtures("moto_env")
def test_dev_registers_no_autoscaling() -> None:
    world = make_world("dev")
    deploy_version(world)
    assert world.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


@pytest.mark.usefixtures("moto_env")
def test_conclude_keeps_the_alarms_of_a_rollout_still_in_flight() -> None:
    world = make_world("dev")
    deploy_version(world)
    event = event_for(world.register(auc="0.94"))
    state = rollout.run(prepare.run(event, world.settings, world.clients()), world.settings, world.clients())
    twin = conclude.run(prepare.run(event, world.settings, world.clients()), world.settings, world.clients())
    assert twin["outcome"] == "noop"
    assert world.alarm_names() == sorted(requests.rollback_alarm_names(state["config_name"]))


@pytest.mark.usefixtures("moto_env")
def test_a_step_that_failed_is_reported_as_failed_with_its_error() -> None:
    world = make_world("dev")
    arn = world.register()
    caught = {
        **event_for(arn),
        "error": {"Error": "ClientError", "Cause": json.dumps({"errorMessage": "AccessDenied on CreateModel"})},
    }
    state = conclude.run(caught, world.settings, world.clients())
    assert state["outcome"] == "failed"
    (message,) = world.messages()
    assert message["reason"] == "the workflow failed: ClientError: AccessDenied on CreateModel"
    assert message["model_package_arn"] == arn


@pytest.mark.usefixtures("moto_env")
def test_an_event_without_a_package_arn_is_an_error() -> None:
    world = make_world("dev")
    with pytest.raises(ValueError, match="ModelPackageArn"):
        prepare.run({"detail": {}}, world.settings, world.clients())


# ------------------------------------------------------------------------------------------------- teardown


@pytest.mark.usefixtures("moto_env")
def test_teardown_deletes_the_endpoint_and_every_config_model_and_alarm_it_made_only() -> None:
    world = make_world("dev")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    rollout.run(state, world.settings, world.clients())
    world.sagemaker.settle()
    world.moto_sagemaker.create_model(
        ModelName="someone-elses-model", ExecutionRoleArn=world.settings["model_role_arn"]
    )
    removed = teardown.run(world.settings, world.clients(), deadline=float("inf"), sleep=world.sagemaker.advance)
    assert "endpoint/mlops-dev" in removed
    assert world.endpoint_name not in world.sagemaker.endpoints  # waited until SageMaker had deleted it
    assert world.moto_sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert [m["ModelName"] for m in world.moto_sagemaker.list_models()["Models"]] == ["someone-elses-model"]
    assert world.alarm_names() == []


@pytest.mark.usefixtures("moto_env")
def test_teardown_stops_running_deployments_first() -> None:
    world = make_world("dev")
    machine = world.stepfunctions.create_state_machine(
        name="mlops-dev-deploy",
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
    )["stateMachineArn"]
    execution = world.stepfunctions.start_execution(stateMachineArn=machine)["executionArn"]
    teardown.run(
        {**world.settings, "state_machine_arn": machine},
        world.clients(),
        deadline=float("inf"),
        sleep=world.sagemaker.advance,
    )
    assert world.stepfunctions.describe_execution(executionArn=execution)["status"] == "ABORTED"


@pytest.mark.usefixtures("moto_env")
def test_teardown_waits_until_the_endpoint_is_deleted_before_answering() -> None:
    world = make_world("dev")
    deploy_version(world)
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        world.sagemaker.advance(seconds)

    teardown.run(world.settings, world.clients(), deadline=float("inf"), sleep=sleep)
    assert waited and world.endpoint_name not in world.sagemaker.endpoints


@pytest.mark.usefixtures("moto_env")
def test_teardown_gives_up_on_an_endpoint_still_updating_with_a_clear_message() -> None:
    world = make_world("dev")
    deploy_version(world)
    world.sagemaker.start_system_update(world.endpoint_name)
    with pytest.raises(RuntimeError, match="still SystemUpdating: retry the deletion"):
        teardown.run(world.settings, world.clients(), deadline=0, sleep=lambda _: None)


class _Context:
    log_stream_name = "stream"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def _cfn_event(request_type: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://example.invalid/response",
        "StackId": "stack",
        "RequestId": "request",
        "LogicalResourceId": "Teardown",
    }


@pytest.mark.usefixtures("moto_env")
@pytest.mark.parametrize(
    ("request_type", "answer", "endpoint_left"),
    [("Delete", "removed 3 SageMaker resources", False), ("Create", "nothing to do", True)],
)
def test_the_teardown_handler_answers_cloudformation(
    monkeypatch: pytest.MonkeyPatch, request_type: str, answer: str, endpoint_left: bool
) -> None:
    world = make_world("dev")
    deploy_version(world)
    answers: list[tuple[str, str]] = []
    monkeypatch.setenv("DEPLOY_SETTINGS", json.dumps(world.settings))
    monkeypatch.setattr(aws_clients, "clients", world.clients)
    monkeypatch.setattr(
        teardown, "send_cfn_response", lambda event, context, status, reason: answers.append((status, reason))
    )
    monkeypatch.setattr(teardown.time, "sleep", world.sagemaker.advance)  # simulated time passes while it waits
    teardown.handler(_cfn_event(request_type), _Context())
    assert answers == [("SUCCESS", answer)]
    assert (world.endpoint_name in world.sagemaker.endpoints) is endpoint_left


@pytest.mark.usefixtures("moto_env")
def test_the_teardown_handler_reports_a_failure_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[tuple[str, str]] = []
    monkeypatch.setenv("DEPLOY_SETTINGS", json.dumps(settings_for("dev")))

    def broken() -> Clients:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeEndpoint")

    monkeypatch.setattr(aws_clients, "clients", broken)
    monkeypatch.setattr(
        teardown, "send_cfn_response", lambda event, context, status, reason: answers.append((status, reason))
    )
    teardown.handler(_cfn_event("Delete"), _Context())
    assert answers[0][0] == "FAILED"
    assert "AccessDenied" in answers[0][1]


@pytest.mark.usefixtures("moto_env")
def test_rollback_alarms_left_by_a_stopped_execution_go_with_the_next_conclusion() -> None:
    world = make_world("dev")
    first = deploy_version(world)
    for request in requests.rollback_alarm_requests(world.settings, first["config_name"]):
        world.cloudwatch.put_metric_alarm(**request)  # as if an execution had been stopped mid-rollout
    deploy_version(world, auc="0.94")
    assert world.alarm_names() == []


# ------------------------------------------------------------------------------------ the endpoint double's rules


@pytest.mark.usefixtures("moto_env")
def test_an_update_keeps_the_autoscaled_instance_count_when_it_retains_variant_properties() -> None:
    world = make_world("prod")
    deploy_version(world)
    world.sagemaker.set_instance_count(world.endpoint_name, 5)  # autoscaling scaled out
    deploy_version(world, auc="0.94")
    assert world.endpoint()["ProductionVariants"][0]["CurrentInstanceCount"] == 5


@pytest.mark.usefixtures("moto_env")
def test_an_update_changing_data_capture_starts_from_the_configs_count() -> None:
    world = make_world("prod")
    deploy_version(world)
    world.sagemaker.set_instance_count(world.endpoint_name, 5)
    world.settings["data_capture_percent"] = 5  # the new config captures differently: nothing retained
    deploy_version(world, auc="0.94")
    assert world.endpoint()["ProductionVariants"][0]["CurrentInstanceCount"] == world.settings["instance_count"]


@pytest.mark.usefixtures("moto_env")
def test_the_double_refuses_a_canary_larger_than_half_the_capacity() -> None:
    world = make_world("prod")
    first = deploy_version(world)
    request = requests.update_endpoint_request(world.settings, first["config_name"])
    request["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["CanarySize"]["Value"] = 60
    for alarm in requests.rollback_alarm_requests(world.settings, first["config_name"]):
        world.cloudwatch.put_metric_alarm(**alarm)
    with pytest.raises(ClientError, match="outside 1-50 %"):
        world.sagemaker.update_endpoint(**request)


@pytest.mark.usefixtures("moto_env")
def test_the_double_refuses_an_update_whose_rollback_alarms_do_not_exist() -> None:
    world = make_world("dev")
    first = deploy_version(world)
    with pytest.raises(ClientError, match="Could not find CloudWatch alarms"):
        world.sagemaker.update_endpoint(**requests.update_endpoint_request(world.settings, first["config_name"]))


@pytest.mark.usefixtures("moto_env")
def test_the_double_refuses_to_delete_a_busy_endpoint() -> None:
    world = make_world("dev")
    deploy_version(world)
    world.sagemaker.start_system_update(world.endpoint_name)
    with pytest.raises(ClientError, match="Cannot delete in-progress endpoint"):
        world.sagemaker.delete_endpoint(EndpointName=world.endpoint_name)


@pytest.mark.usefixtures("moto_env")
def test_an_endpoint_left_update_rollback_failed_is_updated_out_of_it_by_the_next_approval() -> None:
    world = make_world("dev")
    deploy_version(world)
    world.sagemaker.rollbacks_fail = True
    arn = world.register(auc="0.94")
    world.sagemaker.failing_models.update({name: "ping health check failed" for name in _model_names(world, arn)})
    state = run_to_end(world, prepare.run(event_for(arn), world.settings, world.clients()))
    assert (state["outcome"], world.endpoint()["EndpointStatus"]) == ("failed", "UpdateRollbackFailed")
    assert "rollback failed too" in state["reason"]
    world.sagemaker.rollbacks_fail = False
    state = deploy_version(world, auc="0.95")
    assert (world.endpoint()["EndpointStatus"], world.serving_version()) == ("InService", 3)


def _model_names(world: World, package_arn: str) -> list[str]:
    version = int(package_arn.rsplit("/", 1)[1])
    return [
        names.resource_name(
            constants.name_prefix(world.endpoint_name), version, names.settings_hash(world.settings, package_arn)
        )
    ]


@pytest.mark.usefixtures("moto_env")
def test_a_registration_and_an_approval_in_the_same_second_read_as_registered_then_approved() -> None:
    # An event's `time` has one-second resolution: a registration and an approval made in the same second tie.
    world = make_world("dev")
    arn = world.register(approve=False)
    second = datetime.now(timezone.utc).replace(microsecond=0)
    registered = prepare.run(event_for(arn, status="PendingManualApproval", at=second), world.settings, world.clients())
    assert registered["action"] == "conclude"
    world.approve(arn)
    state = prepare.run(event_for(arn, at=second), world.settings, world.clients())
    assert state["action"] == "deploy"
    assert run_to_end(world, state)["outcome"] == "deployed"
