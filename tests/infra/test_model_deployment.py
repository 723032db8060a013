"""The ModelDeployment construct as the stages wire it (the session's synthesized app).

Per environment from cdk.json: the approval rule (and its pattern against AWS's documented sample event), the
operator alarms, the steps' settings, the teardown custom resource. The state machine's definition is
test_deployment_workflow.py; encryption and IAM scoping test_deployment_iam.py.
cdk-nag and cfn-lint cover it with the whole app (test_cdk_nag.py, test_cfn_lint.py).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match

from constructs.model_deployment import ModelDeployment, workflow_settings
from settings.schema import EndpointSettings
from tests.infra.support.deployment_app import (
    CONFIGS,
    ENVIRONMENTS,
    App,
    by_sid,
    deployment_app,
    settings_of,
)
from tests.infra.support.eventbridge import matches as matches_pattern
from tests.infra.support.sample_events import model_package_state_change
from tests.infra.support.synthesis import Synthesized


@pytest.fixture(scope="module")
def app(synthesized: Synthesized) -> App:
    return deployment_app(synthesized)


# ------------------------------------------------------------------------------------------ interface, tools


def test_the_construct_exposes_a_fixed_endpoint_name_and_its_parts(app: App) -> None:
    deployment = app.deployments["prod"]
    assert deployment.endpoint_name == "mlops-prod"
    assert len(deployment.alarms) == 3
    assert deployment.state_machine is not None
    assert deployment.approval_rule is not None


def test_an_environment_name_that_makes_an_invalid_endpoint_name_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    key = cdk.aws_kms.Key(stack, "K")
    bucket = s3.Bucket(stack, "B")
    with pytest.raises(ValueError, match="not a valid SageMaker name"):
        ModelDeployment(
            stack,
            "D",
            environment_name="dev-",
            settings=CONFIGS["dev"].deployment,
            model_package_group_name="g",
            key=key,
            artifacts_bucket=bucket,
            topic=sns.Topic(stack, "T"),
            destroy_on_removal=True,
        )


# --------------------------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_rule_starts_the_workflow_on_every_status_change_in_this_group_only(app: App, environment: str) -> None:
    app.template(environment).has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Package State Change"],
                # Every status: the ledger tells approvals from edits, and rejections of the serving version.
                "detail": {"ModelPackageGroupName": [f"mlops-{environment}"]},
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Ref": Match.string_like_regexp("StateMachine")},
                        "DeadLetterConfig": {"Arn": Match.any_value()},
                        "RetryPolicy": {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 86400},
                    }
                )
            ],
        },
    )


@pytest.mark.parametrize(
    ("status", "group", "matches"),
    [
        ("Approved", "mlops-dev", True),
        ("PendingManualApproval", "mlops-dev", True),  # the registration event (the workflow ignores it)
        ("Rejected", "mlops-dev", True),  # a notice if the version serves
        ("Approved", "mlops-prod", False),  # another environment's group
    ],
)
def test_the_rule_pattern_against_the_documented_sample_event(app: App, status: str, group: str, matches: bool) -> None:
    (rule,) = app.resources("dev", "AWS::Events::Rule").values()
    assert matches_pattern(rule["Properties"]["EventPattern"], model_package_state_change(status, group)) is matches


# ------------------------------------------------------------------------------------------------ alarms


OPERATOR_ALARMS = (
    ("invocation-5xx-errors", "Invocation5XXErrors", lambda alarms: alarms.invocation_5xx_error_rate_percent / 100),
    ("model-errors", "InvocationModelErrors", lambda alarms: alarms.model_error_rate_percent / 100),
    ("model-latency", "ModelLatency", lambda alarms: alarms.model_latency_microseconds),
)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize(("suffix", "metric", "threshold"), OPERATOR_ALARMS)
def test_the_operator_alarms_watch_rates_of_the_whole_endpoint(
    app: App, environment: str, suffix: str, metric: str, threshold: Any
) -> None:
    alarms = CONFIGS[environment].deployment.alarms
    app.template(environment).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": f"mlops-{environment}-{suffix}",
            "Namespace": "AWS/SageMaker",
            "MetricName": metric,
            "Statistic": "Average",
            "Period": alarms.period_seconds,
            "EvaluationPeriods": alarms.evaluation_periods,
            "Threshold": threshold(alarms),
            "ComparisonOperator": "GreaterThanThreshold",
            "Dimensions": [
                {"Name": "EndpointName", "Value": f"mlops-{environment}"},
                {"Name": "VariantName", "Value": "AllTraffic"},
            ],
        },
    )


def test_the_operator_alarms_notify_the_topic_on_alarm_and_recovery(app: App) -> None:
    for alarm in app.resources("prod", "AWS::CloudWatch::Alarm").values():
        for actions in (alarm["Properties"]["AlarmActions"], alarm["Properties"]["OKActions"]):
            assert len(actions) == 1 and "Topic" in json.dumps(actions)


def test_the_key_lets_cloudwatch_alarms_publish_to_the_encrypted_topic(app: App) -> None:
    (key,) = (r for r in app.templates["prod"]["Data"]["Resources"].values() if r["Type"] == "AWS::KMS::Key")
    statement = by_sid(key["Properties"]["KeyPolicy"]["Statement"], "EndpointAlarmsToTopicprod")
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]


def test_the_steps_get_the_rollback_alarm_thresholds(app: App) -> None:
    settings = settings_of(app, "prod", "Creates the Model, EndpointConfig and alarms, starts the rollout")
    assert settings["alarms"] == dataclasses.asdict(CONFIGS["prod"].deployment.alarms)


# ----------------------------------------------------------------------------------- settings per environment


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_steps_get_the_environments_rollout_and_endpoint_settings(app: App, environment: str) -> None:
    config = CONFIGS[environment].deployment
    settings = settings_of(app, environment, "Creates the Model, EndpointConfig and alarms, starts the rollout")
    assert settings["endpoint_name"] == f"mlops-{environment}"
    assert settings["traffic_routing"] == config.traffic_routing
    assert settings["traffic_step_percent"] == config.traffic_step_percent
    assert settings["termination_wait_seconds"] == config.termination_wait_seconds
    assert settings["max_execution_timeout_seconds"] == config.max_execution_timeout_seconds
    assert settings["instance_type"] == config.endpoint.instance_type
    assert settings["data_capture_percent"] == config.endpoint.data_capture_percent
    assert settings["model_package_group_name"] == f"mlops-{environment}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_deployment_setting_reaches_the_steps_under_its_cdk_json_name(app: App, environment: str) -> None:
    # The endpoint's settings beside the workflow's, so a new setting needs no line in workflow_settings().
    deployment = dataclasses.asdict(CONFIGS[environment].deployment)
    endpoint = deployment.pop("endpoint")
    expected = {key: value for key, value in {**endpoint, **deployment}.items() if value is not None}
    settings = settings_of(app, environment, "Creates the Model, EndpointConfig and alarms, starts the rollout")
    assert {key: settings.get(key) for key in expected} == expected


def test_a_setting_that_would_shadow_a_resource_name_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class EndpointWithAName(EndpointSettings):
        endpoint_name: str = "another-endpoint"

    dev = CONFIGS["dev"].deployment
    settings = dataclasses.replace(dev, endpoint=EndpointWithAName(**dataclasses.asdict(dev.endpoint)))
    with pytest.raises(ValueError, match=r"\['endpoint_name'\] would share a DEPLOY_SETTINGS key"):
        workflow_settings(
            environment_name="dev",
            endpoint_name="mlops-dev",
            settings=settings,
            model_package_group_name="mlops-dev",
            model_role_arn="arn:aws:iam::123456789012:role/model-role",
            kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            data_capture_s3_uri="s3://artifacts/data-capture/mlops-dev",
            topic_arn="arn:aws:sns:eu-west-1:123456789012:mlops-dev",
            ledger_table_name="mlops-dev-deploy-ledger",
        )


def test_prod_steps_get_autoscaling_and_dev_none(app: App) -> None:
    description = "Cleans up, restores autoscaling, reports the outcome on SNS"
    assert settings_of(app, "prod", description)["autoscaling"] == {
        "min_instances": 2,
        "max_instances": 6,
        "target_invocations_per_instance": 1000,
    }
    assert settings_of(app, "dev", description).get("autoscaling") is None  # null keys are left out


def test_data_capture_goes_under_the_data_capture_prefix(app: App) -> None:
    settings = settings_of(app, "prod", "Creates the Model, EndpointConfig and alarms, starts the rollout")
    assert (
        settings["data_capture_s3_uri"]
        == "s3://mlops-prod-artifacts-<AWS::AccountId>-<AWS::Region>/data-capture/mlops-prod"
    )


# ------------------------------------------------------------------------------------------------ teardown


@pytest.mark.parametrize("environment", ["dev", "stg"])
def test_destroy_environments_tear_the_endpoint_down_with_the_stack(app: App, environment: str) -> None:
    app.template(environment).resource_count_is("Custom::SageMakerEndpointTeardown", 1)


def test_prod_keeps_its_endpoint_when_the_stack_is_deleted(app: App) -> None:
    app.template("prod").resource_count_is("Custom::SageMakerEndpointTeardown", 0)
    assert app.deployments["prod"].teardown is None


def test_the_teardown_runs_before_the_workflow_is_deleted(app: App) -> None:
    (teardown,) = app.template("dev").find_resources("Custom::SageMakerEndpointTeardown").values()
    depends_on = teardown["DependsOn"]
    assert any("StateMachine" in logical_id for logical_id in depends_on)
    assert any("ApprovalRule" in logical_id for logical_id in depends_on)


def test_the_teardown_runs_before_the_endpoint_role_and_its_policy_are_deleted(app: App) -> None:
    # SageMaker needs the execution role's policy until the endpoint is gone, to release its KMS grants.
    (teardown,) = app.template("dev").find_resources("Custom::SageMakerEndpointTeardown").values()
    depends_on = teardown["DependsOn"]
    assert any(logical_id.startswith("ModelDeploymentModelPolicy") for logical_id in depends_on)
    assert any(logical_id.startswith("ModelDeploymentModelRole") for logical_id in depends_on)
