"""The endpoint's execution role: what the served models may read and write (SageMaker assumes it for the endpoint)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.deployment_step_roles import regional_arn
from constructs.permissions import acknowledge, acknowledge_wildcards_once_resolved
from constructs.xgboost_image import xgboost_image_repository_arn
from settings import resource_names as names


def endpoint_model_role(
    scope: Construct,
    *,
    endpoint_name: str,
    environment_name: str,
    name_prefix: str,
    key: kms.IKey,
    artifacts_bucket: s3.IBucket,
    data_capture_prefix: str,
) -> iam.Role:
    """The role the endpoint's models run as ("ModelRole", its policy "ModelPolicy", both in `scope`)."""
    role = iam.Role(
        scope,
        "ModelRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description=f"Execution role of the models served by {endpoint_name}",
    )
    log_group = f"log-group:/aws/sagemaker/Endpoints/{endpoint_name}"
    statements = [
        iam.PolicyStatement(
            sid="ReadModelArtifacts",
            actions=["s3:GetObject"],
            # Every model version this environment's pipeline trained, each with its serving code inside
            # (SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code): nothing of the CDK assets bucket, whose code
            # bundles change with every deploy of ml_code and may be removed by `cdk gc`.
            resources=[
                artifacts_bucket.arn_for_objects(
                    names.model_artifact_keys(names.training_pipeline_name(environment_name))
                )
            ],
        ),
        iam.PolicyStatement(
            sid="WriteDataCapture",
            actions=["s3:PutObject"],
            resources=[artifacts_bucket.arn_for_objects(f"{data_capture_prefix}*")],
        ),
        iam.PolicyStatement(
            sid="UseEnvironmentKey",
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            resources=[key.key_arn],
        ),
        iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
        iam.PolicyStatement(
            sid="PullXgboostImage",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[xgboost_image_repository_arn(Stack.of(scope).region)],
        ),
        iam.PolicyStatement(
            sid="EndpointLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[
                regional_arn(scope, "logs", log_group),
                regional_arn(scope, "logs", f"{log_group}:log-stream:*"),
            ],
        ),
        # "Ensure that your IAM execution role has permission to perform the cloudwatch:DescribeAlarms action on
        # the auto-rollback alarms you specify" (Auto-Rollback Configuration and Monitoring).
        iam.PolicyStatement(
            sid="ReadRollbackAlarms",
            actions=["cloudwatch:DescribeAlarms"],
            resources=[regional_arn(scope, "cloudwatch", f"alarm:{name_prefix}-v*")],
        ),
        iam.PolicyStatement(
            sid="EndpointMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
        ),
    ]
    policy = iam.Policy(scope, "ModelPolicy", statements=statements)
    policy.attach_to_role(role)
    _acknowledge_wildcards(
        policy,
        {
            "Resource::*": "ecr:GetAuthorizationToken and cloudwatch:PutMetricData allow no resource; "
            "PutMetricData is limited by a namespace condition",
        },
        dynamic_reasons=[
            (
                "/output/model.tar.gz",
                "every model version's model.tar.gz, under its training job's folder of this environment's pipeline",
            ),
            (f"/{data_capture_prefix}*", "SageMaker writes data capture files under dated keys of this prefix"),
            (":log-stream:*", "SageMaker names one log stream per instance of this endpoint"),
            (f":alarm:{name_prefix}-v*", "rollback alarms are named after the config being rolled out"),
        ],
    )
    return role


def _acknowledge_wildcards(policy: iam.Policy, fixed: dict[str, str], dynamic_reasons: list[tuple[str, str]]) -> None:
    for finding, reason in fixed.items():
        acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)
    acknowledge_wildcards_once_resolved(policy, dynamic_reasons)
