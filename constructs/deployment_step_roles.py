"""The deploy workflow's Lambda steps and what each step's role may do.

STEPS names the four functions; workflow_statements is every statement the workflow needs, and STEP_GRANTS cuts it
down per step (step_statements) to what that step's code calls. The state machine that runs the steps is
deployment_workflow.py.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns

from constructs import Construct
from constructs.model_deployment_lambda.model_deployment.constants import ENDPOINT_TAG, SCALABLE_DIMENSION
from constructs.permissions import acknowledge, acknowledge_wildcards_once_resolved

# The steps: (construct id prefix, handler, description, timeout seconds).
STEPS = (
    (
        "Prepare",
        "model_deployment.prepare.handler",
        "Reads the approved package and decides: deploy, wait or conclude",
        60,
    ),
    (
        "StartRollout",
        "model_deployment.rollout.handler",
        "Creates the Model, EndpointConfig and alarms, starts the rollout",
        120,
    ),
    ("CheckEndpoint", "model_deployment.check.handler", "Judges the rollout from the endpoint itself", 60),
    (
        "Conclude",
        "model_deployment.conclude.handler",
        "Cleans up, restores autoscaling, reports the outcome on SNS",
        300,
    ),
)
# What each step's handler calls (model_deployment/<module>.py), and so all its role holds: statement id (in
# workflow_statements) -> the actions of it the step gets. An action goes to a step only if that step's code calls
# it or a service checks it on that step's request; every step decrypts its environment variables (Lambda does it
# as the function's role). The least-privilege check (tests/infra/test_iam_least_privilege.py) proves each both ways.
_KEY_FOR_ENVIRONMENT = {"UseEnvironmentKey": frozenset({"kms:Decrypt"})}
STEP_GRANTS: dict[str, dict[str, frozenset[str]]] = {
    # The approval, the group's history (seeding the ledger), the endpoint's state, the claim.
    "Prepare": {
        "ReadApprovedPackages": frozenset({"sagemaker:DescribeModelPackage"}),
        "ListApprovedPackages": frozenset({"sagemaker:ListModelPackages"}),
        "ManageOwnModelsConfigsEndpoint": frozenset({"sagemaker:DescribeEndpoint"}),
        "DeployLedger": frozenset({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"}),
        **_KEY_FOR_ENVIRONMENT,
    },
    # Model, config, rollback alarms, CreateEndpoint/UpdateEndpoint (passing the model role, granting the key to
    # SageMaker, which reads the alarms as the caller), deleting an endpoint that failed to create, pausing
    # autoscaling before an update that changes the instance type.
    "StartRollout": {
        "ManageOwnModelsConfigsEndpoint": frozenset(
            {
                "sagemaker:CreateModel",
                "sagemaker:DescribeModel",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:CreateEndpoint",
                "sagemaker:UpdateEndpoint",
                "sagemaker:DescribeEndpoint",
                "sagemaker:DeleteEndpoint",
                "sagemaker:AddTags",
            }
        ),
        "PassModelRole": frozenset({"iam:PassRole"}),
        "OwnRollbackAlarms": frozenset({"cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms"}),
        "FindOwnScalableTarget": frozenset({"application-autoscaling:DescribeScalableTargets"}),
        "ChangeOwnScalableTarget": frozenset({"application-autoscaling:DeregisterScalableTarget"}),
        "UseEnvironmentKey": frozenset({"kms:Decrypt", "kms:DescribeKey"}),
        "GrantKeyToSageMaker": frozenset({"kms:CreateGrant"}),
        "DeployLedger": frozenset({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"}),
    },
    # Reads only: the endpoint and its rollback alarms.
    "CheckEndpoint": {
        "ManageOwnModelsConfigsEndpoint": frozenset({"sagemaker:DescribeEndpoint"}),
        "OwnRollbackAlarms": frozenset({"cloudwatch:DescribeAlarms"}),
        **_KEY_FOR_ENVIRONMENT,
    },
    # Cleanup of superseded models, configs and rollback alarms, the serving config tagged, autoscaling restored
    # (or deregistered where none is configured any more), the report on the encrypted topic.
    "Conclude": {
        "ManageOwnModelsConfigsEndpoint": frozenset(
            {
                "sagemaker:DescribeEndpoint",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DeleteModel",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:AddTags",
                "sagemaker:ListTags",
                "sagemaker:UpdateEndpointWeightsAndCapacities",
            }
        ),
        "ListConfigs": frozenset({"sagemaker:ListEndpointConfigs"}),
        "OwnRollbackAlarms": frozenset({"cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"}),
        "TargetTrackingAlarms": frozenset(
            {"cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"}
        ),
        "RegisterOwnScalableTarget": frozenset(
            {"application-autoscaling:RegisterScalableTarget", "application-autoscaling:TagResource"}
        ),
        "FindOwnScalableTarget": frozenset({"application-autoscaling:DescribeScalableTargets"}),
        "ChangeOwnScalableTarget": frozenset(
            {"application-autoscaling:PutScalingPolicy", "application-autoscaling:DeregisterScalableTarget"}
        ),
        "AutoscalingServiceLinkedRole": frozenset({"iam:CreateServiceLinkedRole"}),
        "UseEnvironmentKey": frozenset({"kms:Decrypt", "kms:GenerateDataKey"}),
        "ReportOutcome": frozenset({"sns:Publish"}),
        "DeployLedger": frozenset({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Scan"}),
    },
}


def step_actions(step: str) -> frozenset[str]:
    """Every action `step`'s role holds, whatever the resource."""
    return frozenset().union(*STEP_GRANTS[step].values())


def regional_arn(scope: Construct, service: str, resource: str) -> str:
    return f"arn:{Aws.PARTITION}:{service}:{Stack.of(scope).region}:{Stack.of(scope).account}:{resource}"


def scalable_target_statements(scope: Construct, endpoint_name: str, actions: list[str]) -> list[iam.PolicyStatement]:
    """Application Auto Scaling on this endpoint's variants only, in the narrowest form the service documents.

    Scalable-target ARNs end in an id unknown at synth time, so the resource stays `scalable-target/*`; what
    narrows it is the namespace, the dimension and the tag the workflow puts on the targets it registers
    (aws:RequestTag when registering, aws:ResourceTag afterwards). Service Authorization Reference, Application
    Auto Scaling (https://docs.aws.amazon.com/service-authorization/latest/reference/list_applicationautoscaling.html).
    """
    targets = regional_arn(scope, "application-autoscaling", "scalable-target/*")
    base = {
        "application-autoscaling:service-namespace": "sagemaker",
        "application-autoscaling:scalable-dimension": SCALABLE_DIMENSION,
    }
    statements = []
    if "application-autoscaling:RegisterScalableTarget" in actions:
        statements.append(
            iam.PolicyStatement(
                sid="RegisterOwnScalableTarget",
                # Tags in RegisterScalableTarget are authorized as TagResource too (Application Auto Scaling User
                # Guide, "Tagging support": permissions for tagging), with the same request-tag condition.
                actions=["application-autoscaling:RegisterScalableTarget", "application-autoscaling:TagResource"],
                resources=[targets],
                conditions={"StringEquals": {**base, f"aws:RequestTag/{ENDPOINT_TAG}": endpoint_name}},
            )
        )
    others = [action for action in actions if action != "application-autoscaling:RegisterScalableTarget"]
    if "application-autoscaling:DeregisterScalableTarget" in others:
        # Deregistering looks the target up first (an absent target has no tag to match): a read of SageMaker
        # targets only, and the Describe action takes no resource.
        statements.append(
            iam.PolicyStatement(
                sid="FindOwnScalableTarget",
                actions=["application-autoscaling:DescribeScalableTargets"],
                resources=["*"],
                conditions={"StringEquals": {"application-autoscaling:service-namespace": "sagemaker"}},
            )
        )
    if others:
        statements.append(
            iam.PolicyStatement(
                sid="ChangeOwnScalableTarget",
                actions=others,
                resources=[targets],
                conditions={"StringEquals": {**base, f"aws:ResourceTag/{ENDPOINT_TAG}": endpoint_name}},
            )
        )
    return statements


def step_statements(step: str, statements: list[iam.PolicyStatement]) -> list[iam.PolicyStatement]:
    """The workflow's statements cut down to what `step` calls (STEP_GRANTS); statements left empty dropped."""
    kept = []
    for statement in statements:
        granted = STEP_GRANTS[step].get(statement.sid or "", frozenset())
        actions = [action for action in statement.actions if action in granted]
        if actions:
            kept.append(
                iam.PolicyStatement(
                    sid=statement.sid,
                    actions=actions,
                    resources=statement.resources,
                    conditions=statement.conditions or None,
                )
            )
    return kept


def workflow_statements(
    scope: Construct,
    *,
    endpoint_name: str,
    name_prefix: str,
    model_package_group_name: str,
    model_role: iam.IRole,
    key: kms.IKey,
    topic: sns.ITopic,
    ledger: dynamodb.ITable,
) -> list[iam.PolicyStatement]:
    group = model_package_group_name
    group_in_arn = group if Token.is_unresolved(group) else group.lower()  # SageMaker ARNs are lowercase
    owned = [
        regional_arn(scope, "sagemaker", f"endpoint/{endpoint_name}"),
        regional_arn(scope, "sagemaker", f"endpoint-config/{name_prefix}-v*"),
        regional_arn(scope, "sagemaker", f"model/{name_prefix}-v*"),
    ]
    return [
        # Which approval is the latest: every version of the group (ListModelPackages authorizes on packages).
        iam.PolicyStatement(
            sid="ReadApprovedPackages",
            actions=["sagemaker:DescribeModelPackage"],
            resources=[regional_arn(scope, "sagemaker", f"model-package/{group_in_arn}/*")],
        ),
        # Which approval is the latest: a ListModelPackages request names no package (the group is a filter), and
        # whether SageMaker narrows it to a group's ARN is not documented; "*" works either way.
        iam.PolicyStatement(sid="ListApprovedPackages", actions=["sagemaker:ListModelPackages"], resources=["*"]),
        iam.PolicyStatement(
            sid="ManageOwnModelsConfigsEndpoint",
            actions=[
                "sagemaker:CreateModel",
                "sagemaker:DescribeModel",
                "sagemaker:DeleteModel",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:CreateEndpoint",
                "sagemaker:UpdateEndpoint",
                "sagemaker:DescribeEndpoint",
                "sagemaker:DeleteEndpoint",
                # Registering the variant as a scalable target needs it on the endpoint (Application Auto Scaling
                # User Guide, "Identity-based policy examples": permissions for target services, SageMaker).
                "sagemaker:UpdateEndpointWeightsAndCapacities",
                "sagemaker:AddTags",
                "sagemaker:ListTags",
            ],
            resources=owned,
        ),
        iam.PolicyStatement(
            # The cleanup finds this endpoint's configs by name prefix; models share the configs' names.
            sid="ListConfigs",
            actions=["sagemaker:ListEndpointConfigs"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="PassModelRole",
            actions=["iam:PassRole"],
            resources=[model_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
        # The per-rollout alarms; SageMaker also reads them with the permissions of the UpdateEndpoint caller.
        iam.PolicyStatement(
            sid="OwnRollbackAlarms",
            actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
            resources=[regional_arn(scope, "cloudwatch", f"alarm:{name_prefix}-v*")],
        ),
        # PutScalingPolicy (target tracking) needs these on the alarms Application Auto Scaling makes.
        iam.PolicyStatement(
            sid="TargetTrackingAlarms",
            actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
            resources=[regional_arn(scope, "cloudwatch", f"alarm:TargetTracking-endpoint/{endpoint_name}/*")],
        ),
        *scalable_target_statements(
            scope,
            endpoint_name,
            [
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:DeregisterScalableTarget",
                "application-autoscaling:PutScalingPolicy",
            ],
        ),
        iam.PolicyStatement(
            sid="AutoscalingServiceLinkedRole",
            actions=["iam:CreateServiceLinkedRole"],
            resources=[
                f"arn:{Aws.PARTITION}:iam::{Stack.of(scope).account}:role/aws-service-role/"
                "sagemaker.application-autoscaling.amazonaws.com/"
                "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
            ],
            conditions={"StringEquals": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}},
        ),
        # Publishing to the encrypted topic, and the endpoint config's volume key (SageMaker takes a grant).
        iam.PolicyStatement(
            sid="UseEnvironmentKey",
            actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            resources=[key.key_arn],
        ),
        iam.PolicyStatement(
            sid="GrantKeyToSageMaker",
            actions=["kms:CreateGrant"],
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
        iam.PolicyStatement(sid="ReportOutcome", actions=["sns:Publish"], resources=[topic.topic_arn]),
        iam.PolicyStatement(
            sid="DeployLedger",
            actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Scan"],
            resources=[ledger.table_arn],
        ),
    ]


def acknowledge_workflow_policy(
    policy: iam.Policy,
    statements: list[iam.PolicyStatement],
    *,
    endpoint_name: str,
    name_prefix: str,
    group: str,
) -> None:
    group_in_arn = group if Token.is_unresolved(group) else group.lower()
    unscoped = sorted({a for s in statements if "*" in s.resources for a in s.actions})
    if unscoped:
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            f"{', '.join(unscoped)} allow no narrower resource (ListModelPackages names no package)",
        )
    acknowledge_wildcards_once_resolved(
        policy,
        [
            (
                f":endpoint-config/{name_prefix}-v*",
                "configs are named per package version at run time, under the prefix",
            ),
            (f":model/{name_prefix}-v*", "models are named per package version at run time, under the prefix"),
            (f":alarm:{name_prefix}-v*", "rollback alarms are named after the config being rolled out"),
            (f":model-package/{group_in_arn}/*", "any version of this environment's model package group"),
            (
                f":alarm:TargetTracking-endpoint/{endpoint_name}/*",
                "Application Auto Scaling names its target-tracking alarms after the scalable target",
            ),
            (
                ":scalable-target/*",
                "scalable-target ARNs end in a random id; conditions limit them to this endpoint's tagged variant",
            ),
        ],
    )
