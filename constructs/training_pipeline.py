"""The SageMaker Pipeline, its execution role and the Model Package Group it registers into."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import ArnFormat, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker

from constructs import Construct
from constructs.ml_code_bundle import MlCodeBundle
from constructs.permissions import acknowledge_wildcard_resource, allow, allow_key_use, allow_wildcard
from constructs.pipeline_definition_check import check_pipeline_definition
from constructs.private_network import NetworkPlacement, allow_sagemaker_network_interfaces
from constructs.removal_policies import environment_removal_policy
from constructs.training_pipeline_settings import ENVIRONMENT_TAG_KEY, PipelineSettings
from constructs.xgboost_image import xgboost_image_repository_arn
from settings import resource_names
from settings.schema import TrainingConfig

# The log groups SageMaker writes job logs to, and the metric namespaces it publishes job metrics under
# (the SageMaker SDK reads training metrics from /aws/sagemaker/TrainingJobs: sagemaker.analytics).
JOB_LOG_GROUPS = ("ProcessingJobs", "TrainingJobs")
JOB_METRIC_NAMESPACES = ("/aws/sagemaker/ProcessingJobs", "/aws/sagemaker/TrainingJobs")

# Valid for the SDK's parsers, impossible in real values; each is swapped back for its CDK token.
PLACEHOLDERS = {
    "role_arn": "arn:aws:iam::000000000000:role/mlops-placeholder-role",
    "artifacts_bucket": "mlops-placeholder-artifacts-bucket",
    "code_uri": "s3://mlops-placeholder-code-bucket/mlops-placeholder-code.tar.gz",
    "kms_key_arn": "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-000000000000",
}


def model_package_group_description(pipeline_name: str) -> str:
    """Frozen: ModelPackageGroupDescription is create-only ("Update requires: Replacement", CloudFormation
    reference, AWS::SageMaker::ModelPackageGroup), and a group with a fixed name cannot be replaced, so a changed
    description fails the update. Everything else about the group (tags, policy) updates in place.
    tests/infra/test_stack_life_rules.py holds every environment's text: changing it fails there first."""
    return f"Models trained by {pipeline_name}; approve one to deploy it"


class PlaceholderError(RuntimeError):
    """A placeholder went missing from, or survived in, the pipeline definition."""


# Every placeholder carries one of these, so a fragment the SDK split off one is still caught.
PLACEHOLDER_MARKERS = ("mlops-placeholder", "000000000000")


def substitute_tokens(text: str, tokens: Mapping[str, str]) -> str:
    """`text` with each placeholder replaced by its CDK token, rendered by CDK as one Fn::Join."""
    parts = [text]
    for placeholder, token in tokens.items():
        if placeholder not in text:
            raise PlaceholderError(f"placeholder {placeholder!r} does not appear in the pipeline definition")
        parts = [piece for part in parts for piece in _replace(part, placeholder, token)]
    for part in parts:
        if part not in tokens.values() and any(marker in part for marker in PLACEHOLDER_MARKERS):
            raise PlaceholderError(f"a placeholder was altered and left in the pipeline definition: {part[:200]!r}")
    return Fn.join("", parts)


def _replace(part: str, placeholder: str, token: str) -> list[str]:
    pieces = part.split(placeholder)
    replaced = [pieces[0]]
    for piece in pieces[1:]:
        replaced += [token, piece]
    return [piece for piece in replaced if piece]


def _network_tokens(network: NetworkPlacement | None) -> dict[str, list[tuple[str, str]]]:
    """(placeholder, token) pairs of the jobs' subnets and security groups; none outside a private network."""
    if network is None:
        return {"subnet_ids": [], "security_group_ids": []}
    return {
        "subnet_ids": [
            (f"mlops-placeholder-subnet-{index}-id", token) for index, token in enumerate(network.subnet_ids)
        ],
        "security_group_ids": [
            (f"mlops-placeholder-security-group-{index}-id", token)
            for index, token in enumerate(network.workload_security_group_ids)
        ],
    }


class TrainingPipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        settings: TrainingConfig,
        auc_thresholds: dict[str, float],
        artifacts_bucket: s3.IBucket,
        key: kms.IKey,
        code: MlCodeBundle,
        destroy_on_removal: bool,
        network: NetworkPlacement | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        self.pipeline_name = resource_names.training_pipeline_name(environment_name)
        self.model_package_group_name = resource_names.model_package_group_name(environment_name)

        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=self.model_package_group_name,
            model_package_group_description=model_package_group_description(self.pipeline_name),
        )
        # The group holds every version the environment trained: what served, what may be re-approved to roll back.
        # Kept with the environment's data where that is retained (its packages' model.tar.gz stay in the
        # retained artifacts bucket); deleted with the stacks elsewhere. docs/deployment-runbook.md, "Life of the
        # stacks", says what each environment keeps and how a redeploy takes a kept group back.
        self.model_package_group.apply_removal_policy(environment_removal_policy(destroy_on_removal))
        self.role = self._execution_role(environment_name, artifacts_bucket, key, code, region)
        # Private network mode: the jobs' subnets and security groups are tokens too (another stack's, or ids).
        network_tokens = _network_tokens(network)
        if network is not None:
            allow_sagemaker_network_interfaces(self.role)

        # Imported here, not at the top: it loads the SageMaker SDK (a second of CPU), which only building a
        # pipeline needs; `cdk synth` with a bad cdk.json then reports it without loading the SDK.
        from constructs.training_pipeline_definition import build_pipeline_definition

        definition = build_pipeline_definition(
            PipelineSettings(
                pipeline_name=self.pipeline_name,
                environment_name=environment_name,
                region=region,
                model_package_group_name=self.model_package_group_name,
                training=settings,
                auc_thresholds=tuple(auc_thresholds.items()),
                subnet_ids=tuple(placeholder for placeholder, _ in network_tokens["subnet_ids"]),
                security_group_ids=tuple(placeholder for placeholder, _ in network_tokens["security_group_ids"]),
                code_file_name=code.file_name,
                **PLACEHOLDERS,
            )
        )
        # What the SDK accepts, SageMaker may still refuse: synth fails here, naming the documented limit.
        check_pipeline_definition(json.loads(definition), definition)
        tokens = {
            "role_arn": self.role.role_arn,
            "artifacts_bucket": artifacts_bucket.bucket_name,
            "code_uri": code.s3_uri,
            "kms_key_arn": key.key_arn,
        }
        placeholders = {PLACEHOLDERS[name]: token for name, token in tokens.items()}
        placeholders.update(pair for pairs in network_tokens.values() for pair in pairs)
        body = substitute_tokens(definition, placeholders)
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=self.pipeline_name,
            pipeline_description="Preprocess, train XGBoost, evaluate ROC-AUC, register if it passes the quality gate",
            role_arn=self.role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": body},
        )
        self.pipeline.node.add_dependency(self.model_package_group)
        self.pipeline_arn = Stack.of(self).format_arn(
            service="sagemaker", resource="pipeline", resource_name=self.pipeline_name
        )

    def _execution_role(
        self, environment_name: str, artifacts_bucket: s3.IBucket, key: kms.IKey, code: MlCodeBundle, region: str
    ) -> iam.Role:
        """The pipeline's role, also passed to its jobs: what those jobs touch and nothing more.

        Environments may share an account. SageMaker names a pipeline's jobs pipelines-<execution id>-...,
        the same pattern in every environment, so job permissions are narrowed by the environment tag every
        job carries (training_pipeline_settings.ENVIRONMENT_TAG_KEY): created only with it, described and
        stopped only when the job has it.
        """
        role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Runs the training pipeline and its processing and training jobs",
        )
        stack = Stack.of(self)
        code.grant_job_read(role)
        allow(role, ["s3:ListBucket"], [artifacts_bucket.bucket_arn])
        allow_wildcard(
            role,
            ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            artifacts_bucket.arn_for_objects("*"),
            "Jobs read pinned inputs and write each run's outputs under keys that name the run.",
        )
        allow_key_use(role, key)
        # Jobs' encrypted volumes are attached through grants SageMaker creates on the role's behalf.
        allow(
            role,
            ["kms:CreateGrant"],
            [key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": True}},
        )
        environment_tag = {ENVIRONMENT_TAG_KEY: environment_name}
        for kind in ("processing-job", "training-job"):
            jobs = stack.format_arn(service="sagemaker", resource=kind, resource_name="pipelines-*")
            job_type = kind.title().replace("-", "")
            # Tags in a Create request may also be authorized as sagemaker:AddTags on the new job: same condition.
            allow(
                role,
                [f"sagemaker:Create{job_type}", "sagemaker:AddTags"],
                [jobs],
                conditions={"StringEquals": _tag_condition("aws:RequestTag", environment_tag)},
            )
            allow(
                role,
                [f"sagemaker:Describe{job_type}", f"sagemaker:Stop{job_type}"],
                [jobs],
                conditions={"StringEquals": _tag_condition("aws:ResourceTag", environment_tag)},
            )
            acknowledge_wildcard_resource(
                role,
                jobs,
                "Pipelines name each job pipelines-<execution id>-<step>-<suffix> at run time, in every environment;"
                f" the {ENVIRONMENT_TAG_KEY} tag condition limits the role to this environment's jobs.",
            )
        allow(
            role,
            ["sagemaker:DescribeModelPackageGroup"],
            [self.model_package_group.attr_model_package_group_arn],
        )
        # Registered for review only: a job of this role can never register a package as Approved (which
        # would start a deployment). sagemaker:ModelApprovalStatus is CreateModelPackage's condition key for it.
        pending_approval = {"StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}}
        packages = stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{self.model_package_group_name}/*"
        )
        allow(
            role,
            ["sagemaker:CreateModelPackage"],
            [packages, self.model_package_group.attr_model_package_group_arn],
            conditions=pending_approval,
        )
        acknowledge_wildcard_resource(role, packages, "Each registration creates a new package version in this group.")
        allow(
            role,
            ["iam:PassRole"],
            [role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
        allow(
            role,
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            [xgboost_image_repository_arn(region)],
        )
        # Jobs log to SageMaker's fixed groups, shared by every job in the account and region; a stream is
        # named <job name>/<instance>. CloudWatch Logs offers only aws:ResourceTag (on the shared group) to
        # narrow further: the streams of pipeline jobs are as narrow as one account allows.
        log_groups = [
            stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"/aws/sagemaker/{group}",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for group in JOB_LOG_GROUPS
        ]
        allow(role, ["logs:CreateLogGroup", "logs:DescribeLogStreams"], log_groups)
        job_streams = [f"{group}:log-stream:pipelines-*" for group in log_groups]
        allow(role, ["logs:CreateLogStream", "logs:PutLogEvents"], job_streams)
        for streams in job_streams:
            acknowledge_wildcard_resource(
                role,
                streams,
                "One log stream per job instance, named after the job SageMaker names pipelines-<execution id>-...",
            )
        allow(
            role,
            ["cloudwatch:PutMetricData"],
            ["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": list(JOB_METRIC_NAMESPACES)}},
        )
        allow(role, ["ecr:GetAuthorizationToken"], ["*"])
        acknowledge_wildcard_resource(
            role,
            "*",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData allow no resource;"
            " PutMetricData is limited to the namespaces SageMaker jobs publish under.",
        )
        return role


def _tag_condition(key_type: str, tags: Mapping[str, str]) -> dict[str, str]:
    return {f"{key_type}/{key}": value for key, value in tags.items()}
