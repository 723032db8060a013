"""What the deploy workflow's roles and the endpoint's execution role may do, and what is encrypted with the
environment's key (constructs/deployment_step_roles.py, deployment_model_role.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from constructs.deployment_step_roles import STEP_GRANTS, STEPS, step_actions
from tests.infra.support.deployment_app import (
    App,
    by_sid,
    deployment_app,
    render,
)
from tests.infra.support.synthesis import Synthesized


@pytest.fixture(scope="module")
def app(synthesized: Synthesized) -> App:
    return deployment_app(synthesized)


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


def test_the_workflow_passes_only_the_model_role_and_only_to_sagemaker(app: App) -> None:
    statement = by_sid(_statements(app, "dev", "ModelDeploymentStartRolloutPolicy"), "PassModelRole")
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    (role, attribute) = statement["Resource"]["Fn::GetAtt"]
    assert (role.startswith("ModelDeploymentModelRole"), attribute) == (True, "Arn")


def test_sagemaker_write_actions_are_scoped_to_this_endpoints_names(app: App) -> None:
    statement = by_sid(_statements(app, "dev", "ModelDeploymentStartRolloutPolicy"), "ManageOwnModelsConfigsEndpoint")
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
    register = by_sid(statements, "RegisterOwnScalableTarget")
    change = by_sid(statements, "ChangeOwnScalableTarget")
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
    find = by_sid(statements, "FindOwnScalableTarget")
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
    statement = by_sid(_statements(app, "dev", "ModelDeploymentTeardownPolicy"), "ChangeOwnScalableTarget")
    assert statement["Action"] == "application-autoscaling:DeregisterScalableTarget"
    assert statement["Condition"]["StringEquals"]["aws:ResourceTag/mlops:endpoint"] == "mlops-dev"


def test_the_model_role_writes_only_under_the_data_capture_prefix(app: App) -> None:
    statement = by_sid(_statements(app, "prod", "ModelDeploymentModelPolicy"), "WriteDataCapture")
    assert statement["Action"] == "s3:PutObject"
    assert render(statement["Resource"]).endswith("/data-capture/*")
