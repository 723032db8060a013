"""Where the removal policy is destroy: a custom resource that, on stack deletion, stops running deployments and
deletes the endpoint with every config, model and rollback alarm the workflow made (`model_deployment_lambda/model_deployment/teardown.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import CustomResource, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from constructs.deployment_step_roles import regional_arn, scalable_target_statements
from constructs.model_deployment_lambda.model_deployment.constants import DEPLOY_SETTINGS_VARIABLE
from constructs.permissions import acknowledge, acknowledge_wildcards_once_resolved


def endpoint_teardown(
    scope: Construct,
    *,
    endpoint_name: str,
    name_prefix: str,
    state_machine: sfn.StateMachine,
    approval_rule: Construct,
    key: kms.IKey,
    deploy_settings: dict[str, Any],
    model_role_parts: list[Construct],
    make_function: Callable[[str, str, str, dict[str, str], iam.Role, int], lambda_.Function],
) -> CustomResource:
    role = iam.Role(
        scope,
        "TeardownRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"Deletes {endpoint_name}, its configs and models when the stack is deleted",
    )
    executions = regional_arn(scope, "states", f"execution:{state_machine.state_machine_name}:*")
    statements = [
        iam.PolicyStatement(
            sid="DeleteOwnEndpointConfigsModels",
            actions=[
                "sagemaker:DescribeEndpoint",
                "sagemaker:DeleteEndpoint",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:DeleteModel",
            ],
            resources=[
                regional_arn(scope, "sagemaker", f"endpoint/{endpoint_name}"),
                regional_arn(scope, "sagemaker", f"endpoint-config/{name_prefix}-v*"),
                regional_arn(scope, "sagemaker", f"model/{name_prefix}-v*"),
            ],
        ),
        iam.PolicyStatement(
            sid="ListModelsAndConfigs",
            actions=["sagemaker:ListEndpointConfigs", "sagemaker:ListModels"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="DeleteRollbackAlarms",
            actions=["cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
            resources=[regional_arn(scope, "cloudwatch", f"alarm:{name_prefix}-v*")],
        ),
        *scalable_target_statements(scope, endpoint_name, ["application-autoscaling:DeregisterScalableTarget"]),
        iam.PolicyStatement(
            sid="StopRunningDeployments",
            actions=["states:ListExecutions"],
            resources=[state_machine.state_machine_arn],
        ),
        iam.PolicyStatement(sid="StopExecution", actions=["states:StopExecution"], resources=[executions]),
        iam.PolicyStatement(sid="DecryptEnvironment", actions=["kms:Decrypt"], resources=[key.key_arn]),
    ]
    policy = iam.Policy(scope, "TeardownPolicy", statements=statements)
    policy.attach_to_role(role)

    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "ListEndpointConfigs, ListModels and DescribeScalableTargets allow no narrower resource",
    )
    acknowledge_wildcards_once_resolved(
        policy,
        [
            (f":endpoint-config/{name_prefix}-v*", "every config the workflow made, all under the prefix"),
            (f":model/{name_prefix}-v*", "every model the workflow made, all under the prefix"),
            (f":alarm:{name_prefix}-v*", "every rollback alarm the workflow made, named after its config"),
            (
                ":scalable-target/*",
                "scalable-target ARNs end in a random id; conditions limit them to this endpoint's tagged variant",
            ),
            (":*", "executions of this state machine are named by EventBridge at run time"),
        ],
    )
    settings = {**deploy_settings, "state_machine_arn": state_machine.state_machine_arn}
    function = make_function(
        "Teardown",
        "model_deployment.teardown.handler",
        "On stack deletion deletes the endpoint, its configs and models",
        {DEPLOY_SETTINGS_VARIABLE: Stack.of(scope).to_json_string(settings)},
        role,
        900,
    )
    function.node.add_dependency(policy)
    resource = CustomResource(
        scope,
        "Teardown",
        service_token=function.function_arn,
        resource_type="Custom::SageMakerEndpointTeardown",
        properties={"EndpointName": endpoint_name, "NamePrefix": name_prefix},
    )
    # Deleted before the workflow, the rule and the roles it needs, so nothing starts a rollout meanwhile; and
    # before the endpoint's execution role and its policy, which SageMaker needs until the endpoint is gone to
    # release its KMS grants (DeleteEndpoint, API reference): the handler waits for that.
    resource.node.add_dependency(state_machine, approval_rule, policy, *model_role_parts)
    return resource
