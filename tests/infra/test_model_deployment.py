"""The ModelDeployment construct as the stages wire it (the session's synthesized app).

Per environment from cdk.json: the approval rule (and its pattern against AWS's documented sample event), the
rollback alarms, the workflow definition, settings, IAM scoping, encryption, the teardown custom resource.
cdk-nag and cfn-lint cover it with the whole app (test_cdk_nag.py, test_cfn_lint.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from constructs.deployment_step_roles import STEP_GRANTS, STEPS, step_actions
from constructs.model_deployment import ModelDeployment
from settings.loading import load_environments
from tests.infra.support.eventbridge import matches as matches_pattern
from tests.infra.support.sample_events import model_package_state_change
from tests.infra.support.synthesis import Synthesized, cdk_json_context

CONFIGS = {config.name: config for config in load_environments(cdk_json_context())}
ENVIRONMENTS = tuple(CONFIGS)
PLACEHOLDER = "TOKEN"
STEP_FUNCTIONS = {
    "Prepare": "Prepare",
    "StartRollout": "StartRollout",
    "CheckEndpoint": "CheckEndpoint",
    "Conclude": "Conclude",
    "ReportError": "Conclude",
}


@dataclass(frozen=True)
class App:
    outdir: Path
    deployments: dict[str, ModelDeployment]
    templates: dict[str, dict[str, dict[str, Any]]]  # environment -> "Data" | "Deployment" -> template

    def template(self, environment: str, stack: str = "Deployment") -> Template:
        return Template.from_json(self.templates[environment][stack])

    def resources(self, environment: str, resource_type: str) -> dict[str, Any]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[environment]["Deployment"]["Resources"].items()
            if resource["Type"] == resource_type
        }


@pytest.fixture(scope="module")
def app(synthesized: Synthesized) -> App:
    """The session's synthesized app: each stage's Deployment stack and the Data stack whose key it uses."""
    return App(
        outdir=synthesized.outdir,
        deployments={name: stage.deployment.deployment for name, stage in synthesized.stages.items()},
        templates={
            name: {stack_id: synthesized.templates[name][stack_id] for stack_id in ("Data", "Deployment")}
            for name in synthesized.stages
        },
    )


def render(value: Any) -> str:
    """A template string with its tokens spelt <LogicalId.Attr> / <Ref>, other intrinsics as a placeholder."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    return PLACEHOLDER


def definition(app: App, environment: str) -> dict[str, Any]:
    (machine,) = app.resources(environment, "AWS::StepFunctions::StateMachine").values()
    return json.loads(render(machine["Properties"]["DefinitionString"]))


def settings_of(app: App, environment: str, function_description: str) -> dict[str, Any]:
    for function in app.resources(environment, "AWS::Lambda::Function").values():
        if function["Properties"]["Description"].endswith(function_description):
            return json.loads(render(function["Properties"]["Environment"]["Variables"]["DEPLOY_SETTINGS"]))
    raise AssertionError(f"no function described {function_description!r}")


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
    statement = _by_sid(key["Properties"]["KeyPolicy"]["Statement"], "EndpointAlarmsToTopicprod")
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


# ------------------------------------------------------------------------------------- workflow definition


def test_the_workflow_starts_by_preparing_and_decides_what_to_do(app: App) -> None:
    states = definition(app, "dev")
    assert states["StartAt"] == "Prepare"
    assert states["States"]["Prepare"]["Next"] == "WhatToDo"
    choices = states["States"]["WhatToDo"]
    assert [(c["StringEquals"], c["Next"]) for c in choices["Choices"]] == [
        ("deploy", "StartRollout"),
        ("wait", "WaitWhileEndpointBusy"),
    ]
    assert choices["Default"] == "Conclude"


def test_a_busy_endpoint_loops_through_a_wait_state_back_to_prepare(app: App) -> None:
    states = definition(app, "dev")["States"]
    wait = states["WaitWhileEndpointBusy"]
    assert (wait["Type"], wait["Seconds"], wait["Next"]) == ("Wait", 60, "Prepare")
    started = states["RolloutStarted"]
    assert [(c["StringEquals"], c["Next"]) for c in started["Choices"]] == [
        ("busy", "WaitWhileEndpointBusy"),
        ("concluded", "Conclude"),
    ]
    assert started["Default"] == "WaitForRollout"


def test_the_rollout_is_polled_with_a_wait_state_until_it_finishes(app: App) -> None:
    states = definition(app, "dev")["States"]
    assert (states["WaitForRollout"]["Seconds"], states["WaitForRollout"]["Next"]) == (60, "CheckEndpoint")
    finished = states["RolloutFinished"]
    assert [(c["StringEquals"], c["Next"]) for c in finished["Choices"]] == [("in_progress", "WaitForRollout")]
    assert finished["Default"] == "Conclude"


def test_the_outcome_decides_how_the_execution_ends(app: App) -> None:
    states = definition(app, "dev")["States"]
    choice = states["Outcome"]
    (succeed, rolled_back) = choice["Choices"]
    assert sorted(c["StringEquals"] for c in succeed["Or"]) == [
        "deployed",
        "ignored",
        "kept_serving",
        "noop",
        "skipped",
        "superseded",
    ]
    assert succeed["Next"] == "Done"
    assert (rolled_back["StringEquals"], rolled_back["Next"]) == ("rolled_back", "RolledBack")
    assert choice["Default"] == "DeploymentFailed"
    assert states["Done"]["Type"] == "Succeed"
    assert states["RolledBack"] == {"Type": "Fail", "Error": "RolledBack", "CausePath": "$.reason"}
    assert states["DeploymentFailed"] == {"Type": "Fail", "Error": "DeploymentFailed", "CausePath": "$.reason"}


@pytest.mark.parametrize("state", ["Prepare", "StartRollout", "CheckEndpoint", "Conclude", "ReportError"])
def test_every_step_retries_lambda_service_errors_and_throttling(app: App, state: str) -> None:
    task = definition(app, "dev")["States"][state]
    errors = {error for retry in task["Retry"] for error in retry["ErrorEquals"]}
    assert {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.TooManyRequestsException"} <= errors
    # What a step raises when AWS still throttles, answers 5XX, or has not caught up after botocore's retries.
    assert {"AwsThrottled", "AwsUnavailable", "NotYetConsistent"} <= errors
    assert "Lambda.Unknown" in errors  # a function timeout: the step may have done its work
    # payload_response_only: the task calls the function directly (Resource = its ARN).
    assert re.fullmatch(f"<ModelDeployment{STEP_FUNCTIONS[state]}Function[0-9A-F]{{8}}.Arn>", task["Resource"])


def test_prepare_gets_the_execution_name_as_its_identity_in_the_ledger(app: App) -> None:
    prepare = definition(app, "dev")["States"]["Prepare"]
    assert prepare["Parameters"] == {"input.$": "$", "execution_id.$": "$$.Execution.Name"}


def test_the_deploy_ledger_is_on_demand_with_point_in_time_recovery_and_ttl(app: App) -> None:
    app.template("prod").has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "purge_at", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


@pytest.mark.parametrize("state", ["Prepare", "StartRollout", "CheckEndpoint"])
def test_a_failing_step_is_caught_and_reported(app: App, state: str) -> None:
    (catch,) = definition(app, "dev")["States"][state]["Catch"]
    assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReportError"}


def test_the_error_report_goes_through_the_outcome_choice(app: App) -> None:
    states = definition(app, "dev")["States"]
    assert states["ReportError"]["Next"] == "Outcome"
    assert states["Conclude"]["Next"] == "Outcome"


@pytest.mark.parametrize("state", ["Conclude", "ReportError"])
def test_a_failing_report_still_reaches_the_topic_directly(app: App, state: str) -> None:
    states = definition(app, "dev")["States"]
    (catch,) = states[state]["Catch"]
    assert catch["Next"] == "ReportUnreportedFailure"
    assert states["ReportUnreportedFailure"]["Resource"].endswith(":states:::sns:publish")
    assert states["ReportUnreportedFailure"]["Next"] == "ReportingFailed"


def test_the_workflow_is_a_logged_traced_standard_state_machine(app: App) -> None:
    app.template("prod").has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": "mlops-prod-deploy",
            "StateMachineType": "STANDARD",
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
            "TracingConfiguration": {"Enabled": True},
        },
    )


# ------------------------------------------------------------------------------------ encryption and IAM


def test_every_log_group_is_encrypted_with_the_environment_key(app: App) -> None:
    groups = app.resources("dev", "AWS::Logs::LogGroup")
    assert len(groups) == 6  # four steps, teardown, state machine
    assert all("KmsKeyId" in group["Properties"] for group in groups.values())


def test_lambda_environments_are_encrypted_with_the_environment_key(app: App) -> None:
    functions = app.resources("dev", "AWS::Lambda::Function")
    assert functions
    assert all("KmsKeyArn" in function["Properties"] for function in functions.values())


def test_the_dead_letter_queue_is_encrypted_with_the_environment_key(app: App) -> None:
    app.template("dev").has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": Match.any_value()})


def test_the_key_lets_cloudwatch_logs_use_it_for_these_log_groups_only(app: App) -> None:
    app.template("dev", "Data").has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "logs.eu-west-1.amazonaws.com"},
                                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": Match.any_value()}},
                            }
                        )
                    ]
                )
            }
        },
    )


def _statements(app: App, environment: str, policy_prefix: str) -> list[dict[str, Any]]:
    for logical_id, policy in app.resources(environment, "AWS::IAM::Policy").items():
        if logical_id.startswith(policy_prefix):
            return policy["Properties"]["PolicyDocument"]["Statement"]
    raise AssertionError(f"no policy {policy_prefix}")


def _by_sid(statements: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    return next(statement for statement in statements if statement.get("Sid") == sid)


def test_the_workflow_passes_only_the_model_role_and_only_to_sagemaker(app: App) -> None:
    statement = _by_sid(_statements(app, "dev", "ModelDeploymentStartRolloutPolicy"), "PassModelRole")
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    (role, attribute) = statement["Resource"]["Fn::GetAtt"]
    assert (role.startswith("ModelDeploymentModelRole"), attribute) == (True, "Arn")


def test_sagemaker_write_actions_are_scoped_to_this_endpoints_names(app: App) -> None:
    statement = _by_sid(_statements(app, "dev", "ModelDeploymentStartRolloutPolicy"), "ManageOwnModelsConfigsEndpoint")
    assert sorted(render(resource).rsplit(":", 1)[1] for resource in statement["Resource"]) == [
        "endpoint-config/mlops-dev-v*",
        "endpoint/mlops-dev",
        "model/mlops-dev-v*",
    ]


def test_the_workflow_is_not_granted_what_it_never_calls(app: App) -> None:
    actions = json.dumps([_statements(app, "dev", f"ModelDeployment{name}Policy") for name, *_ in STEPS])
    for unused in ("DescribeScalingPolicies", "sagemaker:ListModels"):
        assert unused not in actions


@pytest.mark.parametrize("policy", ["ModelDeploymentStartRolloutPolicy", "ModelDeploymentModelPolicy"])
def test_the_rollback_alarms_are_readable_by_the_caller_and_the_execution_role(app: App, policy: str) -> None:
    statements = _statements(app, "dev", policy)
    readable = [
        render(resource)
        for statement in statements
        if "cloudwatch:DescribeAlarms" in statement["Action"]
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    ]
    assert any(resource.endswith(":alarm:mlops-dev-v*") for resource in readable)


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_autoscaling_is_limited_to_this_endpoints_tagged_sagemaker_variant(app: App, environment: str) -> None:
    statements = _statements(app, environment, "ModelDeploymentConcludePolicy")
    register = _by_sid(statements, "RegisterOwnScalableTarget")
    change = _by_sid(statements, "ChangeOwnScalableTarget")
    common = {
        "application-autoscaling:service-namespace": "sagemaker",
        "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
    }
    assert register["Condition"] == {
        "StringEquals": {**common, "aws:RequestTag/mlops:endpoint": f"mlops-{environment}"}
    }
    assert change["Condition"] == {"StringEquals": {**common, "aws:ResourceTag/mlops:endpoint": f"mlops-{environment}"}}
    assert sorted(change["Action"]) == [
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
    ]
    assert sorted(register["Action"]) == [
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:TagResource",
    ]
    find = _by_sid(statements, "FindOwnScalableTarget")
    assert find["Action"] == "application-autoscaling:DescribeScalableTargets"
    assert find["Condition"] == {"StringEquals": {"application-autoscaling:service-namespace": "sagemaker"}}
    for statement in (register, change):
        assert render(statement["Resource"]).endswith(":scalable-target/*")


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}


@pytest.mark.parametrize("environment", ["dev", "stg", "prod"])
def test_each_step_has_its_own_role_holding_nothing_only_another_step_needs(app: App, environment: str) -> None:
    functions = app.resources(environment, "AWS::Lambda::Function")
    for name, handler, *_ in STEPS:
        (function,) = [f for f in functions.values() if f["Properties"]["Handler"] == handler]
        assert function["Properties"]["Role"]["Fn::GetAtt"][0].startswith(f"ModelDeployment{name}Role")
        held = _actions(_statements(app, environment, f"ModelDeployment{name}Policy"))
        assert held == step_actions(name)
        statements = _statements(app, environment, f"ModelDeployment{name}Policy")
        assert {statement["Sid"] for statement in statements} == set(STEP_GRANTS[name])
        only_others = set().union(*(step_actions(other) for other, *_ in STEPS if other != name)) - held
        assert not held & only_others
    # The headline cases, spelled out.
    check = _actions(_statements(app, environment, "ModelDeploymentCheckEndpointPolicy"))
    assert check == {"sagemaker:DescribeEndpoint", "cloudwatch:DescribeAlarms", "kms:Decrypt"}  # kms: its variables
    for step in ("Prepare", "CheckEndpoint", "Conclude"):
        held = _actions(_statements(app, environment, f"ModelDeployment{step}Policy"))
        assert not held & {"sagemaker:UpdateEndpoint", "sagemaker:DeleteEndpoint", "iam:PassRole"}, step
    for step in ("Prepare", "StartRollout", "CheckEndpoint"):
        held = _actions(_statements(app, environment, f"ModelDeployment{step}Policy"))
        assert not held & {"sns:Publish", "sagemaker:DeleteModel", "sagemaker:DeleteEndpointConfig"}, step


def test_the_teardown_deregisters_only_this_endpoints_tagged_variant(app: App) -> None:
    statement = _by_sid(_statements(app, "dev", "ModelDeploymentTeardownPolicy"), "ChangeOwnScalableTarget")
    assert statement["Action"] == "application-autoscaling:DeregisterScalableTarget"
    assert statement["Condition"]["StringEquals"]["aws:ResourceTag/mlops:endpoint"] == "mlops-dev"


def test_the_model_role_writes_only_under_the_data_capture_prefix(app: App) -> None:
    statement = _by_sid(_statements(app, "prod", "ModelDeploymentModelPolicy"), "WriteDataCapture")
    assert statement["Action"] == "s3:PutObject"
    assert render(statement["Resource"]).endswith("/data-capture/*")


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
