"""What each recorded AWS call needs from IAM, in an environment's names: one rule per call that needs more than its
own action, or a different one, each beside the page that documents it.

Actions and resource types come from AWS's Service Authorization Reference (iam_reference.py checks every need
against it, and a call without a rule maps one to one through it); the functions and their names are
iam_functions.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.infra.support.iam_calls import RecordedCall
from tests.infra.support.iam_policy import Need
from tests.infra.support.iam_reference import check_against_reference, reference_needs
from tests.infra.support.iam_templates import ACCOUNT, PARTITION, Environment

# botocore's service names where IAM's service prefix differs.
IAM_PREFIX = {"stepfunctions": "states", "monitoring": "cloudwatch"}


# A scalable target's ARN ends in an id Application Auto Scaling assigns (architecture notes): a stand-in.
SCALABLE_TARGET_ID = "0123456789abcdef0123456789abcdef"


# Application Auto Scaling names a target-tracking alarm TargetTracking-<resource id>-AlarmHigh|Low-<uuid>.
ALARM_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass
class Context:
    """What the rules look up: the environment's encryption settings, the configs a test created so far."""

    environment: Environment
    region: str
    bucket_keys: Mapping[str, str | None]  # bucket name -> KMS key ARN of its default SSE-KMS encryption
    topic_keys: Mapping[str, str | None]  # topic ARN -> KMS key
    queue_keys: Mapping[str, str | None]  # queue ARN -> KMS key
    config_keys: dict[str, str] = field(default_factory=dict)  # endpoint config name -> its KmsKeyId
    # (test, scalable target ResourceId) -> the tags the handlers' registration gave it (aws:ResourceTag/... from
    # then on), over every function of the test: one step registers, another deregisters
    target_tags: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    current_test: str = ""

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{PARTITION}:{service}:{self.region}:{ACCOUNT}:{resource}"


def encryption_context(environment: Environment) -> Context:
    buckets: dict[str, str | None] = {}
    topics: dict[str, str | None] = {}
    queues: dict[str, str | None] = {}
    for stack_id, logical_id, resource in environment.resources():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::S3::Bucket":
            name = environment.resolve(stack_id, {"Ref": logical_id})
            rules = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
            defaults = [rule.get("ServerSideEncryptionByDefault", {}) for rule in rules]
            keys = [environment.resolve(stack_id, d["KMSMasterKeyID"]) for d in defaults if "KMSMasterKeyID" in d]
            buckets[name] = keys[0] if keys else None
        elif resource["Type"] == "AWS::SNS::Topic":
            arn = environment.resolve(stack_id, {"Ref": logical_id})
            topics[arn] = environment.resolve(stack_id, properties.get("KmsMasterKeyId"))
        elif resource["Type"] == "AWS::SQS::Queue":
            arn = environment.resolve(stack_id, {"Fn::GetAtt": [logical_id, "Arn"]})
            queues[arn] = environment.resolve(stack_id, properties.get("KmsMasterKeyId"))
    return Context(environment, environment.region, buckets, topics, queues)


def _object(bucket: str, key: str) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}/{key}"


def _s3_read(ctx: Context, bucket: str, key: str, version: str | None, action: str, why: str) -> list[Need]:
    # GetObject: "To get a specific version ... you need s3:GetObjectVersion" (Amazon S3 API Reference,
    # GetObject, Permissions). HeadObject: "you must have the s3:GetObject permission" (HeadObject, Permissions).
    # Tagging: GetObjectTagging/PutObjectTagging with versionId need the ...VersionTagging actions (same pages).
    versioned = {
        "s3:GetObject": "s3:GetObjectVersion",
        "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
        "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    }
    needs = [Need(versioned[action] if version else action, _object(bucket, key), why=why)]
    if action == "s3:GetObject":
        needs += kms_needs(ctx.bucket_keys.get(bucket), ["kms:Decrypt"], why + " (SSE-KMS object)")
    return needs


def _s3_write(ctx: Context, bucket: str, key: str, why: str) -> list[Need]:
    # "Protecting data with SSE-KMS" (Amazon S3 User Guide): uploading an object encrypted with a KMS key needs
    # kms:GenerateDataKey on the key; S3 Bucket Keys change how often S3 calls KMS, not the permission.
    return [
        Need("s3:PutObject", _object(bucket, key), why=why),
        *kms_needs(ctx.bucket_keys.get(bucket), ["kms:GenerateDataKey"], why + " (SSE-KMS object)"),
    ]


def kms_needs(key: str | None, actions: list[str], why: str, context: Mapping[str, Any] | None = None) -> list[Need]:
    return [Need(action, key, dict(context or {}), why) for action in actions] if key else []


def _copy_source(params: Mapping[str, Any]) -> tuple[str, str, str | None]:
    source = params["CopySource"]
    if isinstance(source, Mapping):
        return source["Bucket"], source["Key"], source.get("VersionId")
    path, _, query = source.partition("?versionId=")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key, query or None


def _s3_rules() -> dict[str, Rule]:
    def read(action: str) -> Rule:
        return lambda p, ctx, why: _s3_read(ctx, p["Bucket"], p["Key"], p.get("VersionId"), action, why)

    def copy(p: Mapping[str, Any], ctx: Context, why: str) -> list[Need]:
        # CopyObject (Amazon S3 API Reference, Permissions): read access to the source object (s3:GetObject, or
        # s3:GetObjectVersion for a versionId) and s3:PutObject on the destination; with tags in the request,
        # s3:PutObjectTagging too.
        bucket, key, version = _copy_source(p)
        needs = _s3_read(ctx, bucket, key, version, "s3:GetObject", why) + _s3_write(ctx, p["Bucket"], p["Key"], why)
        if p.get("Tagging"):
            needs.append(Need("s3:PutObjectTagging", _object(p["Bucket"], p["Key"]), why=why))
        return needs

    def list_versions(p: Mapping[str, Any], ctx: Context, why: str) -> list[Need]:
        # ListObjectVersions needs s3:ListBucketVersions on the bucket; a Prefix in the request is the
        # s3:prefix condition key (Amazon S3 API Reference, ListObjectVersions, Permissions; Service
        # Authorization Reference, Amazon S3, ListBucketVersions).
        context = {"s3:prefix": p["Prefix"]} if "Prefix" in p else {}
        return [Need("s3:ListBucketVersions", f"arn:{PARTITION}:s3:::{p['Bucket']}", context, why)]

    return {
        "ListObjectVersions": list_versions,
        "GetObject": read("s3:GetObject"),
        "HeadObject": read("s3:GetObject"),
        "GetObjectTagging": read("s3:GetObjectTagging"),
        "PutObjectTagging": read("s3:PutObjectTagging"),
        "PutObject": lambda p, ctx, why: _s3_write(ctx, p["Bucket"], p["Key"], why),
        "CopyObject": copy,
    }


def _sagemaker(ctx: Context, kind: str, name: str) -> str:
    # SageMaker lowercases names in its ARNs.
    return ctx.arn("sagemaker", f"{kind}/{name.lower()}")


def _tags(action_arn: str, params: Mapping[str, Any], why: str) -> list[Need]:
    # The reference lists sagemaker:AddTags as a dependent action of every Create* that takes Tags.
    return [Need("sagemaker:AddTags", action_arn, why=why + " (Tags)")] if params.get("Tags") else []


def _endpoint_needs(p: Mapping[str, Any], ctx: Context, why: str, action: str) -> list[Need]:
    endpoint = _sagemaker(ctx, "endpoint", p["EndpointName"])
    config_name = p["EndpointConfigName"]
    needs = [
        Need(action, endpoint, why=why),
        Need(action, _sagemaker(ctx, "endpoint-config", config_name), why=why),
    ]
    # "the role behind the update needs cloudwatch:DescribeAlarms" on the auto-rollback alarms (SageMaker
    # Developer Guide, "Auto-Rollback Configuration and Monitoring"): SageMaker reads them as the caller.
    alarms = p.get("DeploymentConfig", {}).get("AutoRollbackConfiguration", {}).get("Alarms", [])
    needs += [
        Need("cloudwatch:DescribeAlarms", ctx.arn("cloudwatch", f"alarm:{a['AlarmName']}"), why=why) for a in alarms
    ]
    # An endpoint config with KmsKeyId: SageMaker attaches the key to the instances' volumes through a grant it
    # creates as the caller of CreateEndpoint/UpdateEndpoint (SageMaker API Reference, CreateEndpointConfig,
    # KmsKeyId; AWS KMS Developer Guide, "How AWS services use AWS KMS": grants for AWS resources).
    key = ctx.config_keys.get(config_name)
    needs += kms_needs(key, ["kms:CreateGrant"], why + " (config's KmsKeyId)", {"kms:GrantIsForAWSResource": True})
    return needs + _tags(endpoint, p, why)


def _create_endpoint_config(p: Mapping[str, Any], ctx: Context, why: str) -> list[Need]:
    if p.get("KmsKeyId"):
        ctx.config_keys[p["EndpointConfigName"]] = p["KmsKeyId"]
    arn = _sagemaker(ctx, "endpoint-config", p["EndpointConfigName"])
    return [Need("sagemaker:CreateEndpointConfig", arn, why=why), *_tags(arn, p, why)]


def _create_model(p: Mapping[str, Any], ctx: Context, why: str) -> list[Need]:
    arn = _sagemaker(ctx, "model", p["ModelName"])
    # The reference lists iam:PassRole as CreateModel's dependent action: the execution role is handed to SageMaker.
    passed = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    return [
        Need("sagemaker:CreateModel", arn, why=why),
        Need("iam:PassRole", p["ExecutionRoleArn"], passed, why + " (ExecutionRoleArn)"),
        *_tags(arn, p, why),
    ]


def _create_processing_job(p: Mapping[str, Any], ctx: Context, why: str) -> list[Need]:
    # The reference lists iam:PassRole and sagemaker:AddTags as CreateProcessingJob's dependent actions; the request's
    # Tags are its aws:RequestTag/<key> and aws:TagKeys (IAM User Guide, "Controlling access ... using tags").
    arn = _sagemaker(ctx, "processing-job", p["ProcessingJobName"])
    tags = p.get("Tags") or []
    request: dict[str, Any] = {f"aws:RequestTag/{tag['Key']}": tag["Value"] for tag in tags}
    if tags:
        request["aws:TagKeys"] = [tag["Key"] for tag in tags]
    passed = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    needs = [
        Need("sagemaker:CreateProcessingJob", arn, request, why),
        Need("iam:PassRole", p["RoleArn"], passed, why + " (RoleArn)"),
    ]
    return needs + ([Need("sagemaker:AddTags", arn, request, why + " (Tags)")] if tags else [])


def _sagemaker_rules() -> dict[str, Rule]:
    def on(kind: str, parameter: str) -> Callable[[str], Rule]:
        return lambda action: lambda p, ctx, why: [Need(action, _sagemaker(ctx, kind, p[parameter]), why=why)]

    def on_arn(parameter: str) -> Callable[[str], Rule]:
        return lambda action: lambda p, ctx, why: [Need(action, p[parameter], why=why)]

    def anything(action: str) -> Rule:
        return lambda p, ctx, why: [Need(action, "*", why=why)]

    endpoint, config, model = (
        on("endpoint", "EndpointName"),
        on("endpoint-config", "EndpointConfigName"),
        on("model", "ModelName"),
    )
    return {
        "DescribeModelPackage": lambda p, ctx, why: [
            Need(
                "sagemaker:DescribeModelPackage",
                p["ModelPackageName"].lower()
                if p["ModelPackageName"].startswith("arn:")
                else _sagemaker(ctx, "model-package", p["ModelPackageName"]),
                why=why,
            )
        ],
        "DescribeEndpoint": endpoint("sagemaker:DescribeEndpoint"),
        "DeleteEndpoint": endpoint("sagemaker:DeleteEndpoint"),
        "DescribeEndpointConfig": config("sagemaker:DescribeEndpointConfig"),
        "DeleteEndpointConfig": config("sagemaker:DeleteEndpointConfig"),
        "DescribeModel": model("sagemaker:DescribeModel"),
        "DeleteModel": model("sagemaker:DeleteModel"),
        "CreateModel": _create_model,
        "CreateEndpointConfig": _create_endpoint_config,
        "CreateEndpoint": lambda p, ctx, why: _endpoint_needs(p, ctx, why, "sagemaker:CreateEndpoint"),
        "UpdateEndpoint": lambda p, ctx, why: _endpoint_needs(p, ctx, why, "sagemaker:UpdateEndpoint"),
        "ListTags": on_arn("ResourceArn")("sagemaker:ListTags"),
        "AddTags": on_arn("ResourceArn")("sagemaker:AddTags"),
        "ListEndpointConfigs": anything("sagemaker:ListEndpointConfigs"),
        "ListModels": anything("sagemaker:ListModels"),
        "StartPipelineExecution": on("pipeline", "PipelineName")("sagemaker:StartPipelineExecution"),
        "CreateProcessingJob": _create_processing_job,
        "ListPipelineParametersForExecution": on_arn("PipelineExecutionArn")(
            "sagemaker:ListPipelineParametersForExecution"
        ),
        "ListPipelineExecutionSteps": on_arn("PipelineExecutionArn")("sagemaker:ListPipelineExecutionSteps"),
    }


def _publish(p: Mapping[str, Any], ctx: Context, why: str) -> list[Need]:
    # Amazon SNS Developer Guide, "Key management" (encryption at rest): publishing to a topic encrypted with a
    # customer managed key needs kms:GenerateDataKey and kms:Decrypt on that key.
    topic = p["TopicArn"]
    return [
        Need("sns:Publish", topic, why=why),
        *kms_needs(ctx.topic_keys.get(topic), ["kms:GenerateDataKey", "kms:Decrypt"], why + " (encrypted topic)"),
    ]


def _scaling(
    p: Mapping[str, Any], tags: Mapping[str, str] | None = None, tag_kind: str = "aws:ResourceTag"
) -> dict[str, Any]:
    # A registration's Tags are aws:RequestTag/<key>; a target carries them as aws:ResourceTag/<key> afterwards
    # (Application Auto Scaling User Guide, "Tagging support": control access using tags).
    context = {"application-autoscaling:service-namespace": p.get("ServiceNamespace")}
    if "ScalableDimension" in p:
        context["application-autoscaling:scalable-dimension"] = p["ScalableDimension"]
    context.update({f"{tag_kind}/{key}": value for key, value in (tags or {}).items()})
    return {key: value for key, value in context.items() if value is not None}


def _autoscaling_rules() -> dict[str, Rule]:
    def target(ctx: Context) -> str:
        return ctx.arn("application-autoscaling", f"scalable-target/{SCALABLE_TARGET_ID}")

    def endpoint_of(p: Mapping[str, Any], ctx: Context) -> str:
        return _sagemaker(ctx, "endpoint", p["ResourceId"].split("/")[1])

    def register(p: Mapping[str, Any], ctx: Context, why: str) -> list[Need]:
        # Application Auto Scaling User Guide, "Identity-based policy examples", "Permissions required for API
        # actions on target services and CloudWatch": registering a SageMaker variant needs
        # sagemaker:DescribeEndpoint and sagemaker:UpdateEndpointWeightsAndCapacities; the first registration
        # creates the service-linked role ("Service-linked roles for Application Auto Scaling").
        slr = (
            f"arn:{PARTITION}:iam::{ACCOUNT}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
            "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
        )
        tags = p.get("Tags") or {}
        needs = [
            Need(
                "application-autoscaling:RegisterScalableTarget", target(ctx), _scaling(p, tags, "aws:RequestTag"), why
            ),
            Need("sagemaker:DescribeEndpoint", endpoint_of(p, ctx), why=why + " (target service)"),
            Need("sagemaker:UpdateEndpointWeightsAndCapacities", endpoint_of(p, ctx), why=why + " (target service)"),
            Need(
                "iam:CreateServiceLinkedRole",
                slr,
                {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"},
                why + " (first registration)",
            ),
        ]
        if p.get("Tags"):
            needs.append(
                Need(
                    "application-autoscaling:TagResource",
                    target(ctx),
                    _scaling(p, tags, "aws:RequestTag"),
                    why + " (Tags)",
                )
            )
        return needs

    def put_policy(p: Mapping[str, Any], ctx: Context, why: str) -> list[Need]:
        # Same page: a target-tracking policy needs cloudwatch:DescribeAlarms, PutMetricAlarm and DeleteAlarms
        # on the alarms Application Auto Scaling creates for it.
        alarm = ctx.arn("cloudwatch", f"alarm:TargetTracking-{p['ResourceId']}-AlarmHigh-{ALARM_UUID}")
        own = ctx.target_tags.get((ctx.current_test, p["ResourceId"]))
        needs = [Need("application-autoscaling:PutScalingPolicy", target(ctx), _scaling(p, own), why)]
        if p.get("PolicyType") == "TargetTrackingScaling":
            needs += [
                Need(action, alarm, why=why + " (target-tracking alarms)")
                for action in ("cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms")
            ]
        return needs

    def plain(action: str, on_target: bool = True) -> Rule:
        def rule(p: Mapping[str, Any], ctx: Context, why: str) -> list[Need]:
            own = ctx.target_tags.get((ctx.current_test, p.get("ResourceId", ""))) if on_target else None
            return [Need(action, target(ctx) if on_target else "*", _scaling(p, own), why)]

        return rule

    return {
        "RegisterScalableTarget": register,
        "PutScalingPolicy": put_policy,
        "DeregisterScalableTarget": plain("application-autoscaling:DeregisterScalableTarget"),
        "DescribeScalableTargets": plain("application-autoscaling:DescribeScalableTargets", on_target=False),
        "DescribeScalingPolicies": plain("application-autoscaling:DescribeScalingPolicies", on_target=False),
    }


Rule = Callable[[Mapping[str, Any], Context, str], list[Need]]


RULES: dict[str, dict[str, Rule]] = {
    "s3": _s3_rules(),
    "sagemaker": _sagemaker_rules(),
    "sns": {"Publish": _publish},
    "application-autoscaling": _autoscaling_rules(),
    "stepfunctions": {
        "ListExecutions": lambda p, ctx, why: [Need("states:ListExecutions", p["stateMachineArn"], why=why)],
        "StopExecution": lambda p, ctx, why: [Need("states:StopExecution", p["executionArn"], why=why)],
    },
}


def call_needs(call: RecordedCall, params: Mapping[str, Any], ctx: Context) -> list[Need]:
    why = f"{call.service}.{call.operation} in {call.test}"
    action = f"{IAM_PREFIX.get(call.service, call.service)}:{call.operation}"
    rule = RULES.get(call.service, {}).get(call.operation)
    needs = rule(params, ctx, why) if rule is not None else reference_needs(action, params, ctx, why)
    check_against_reference(action, needs, why)
    return needs
