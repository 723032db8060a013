"""What the pipeline's role and the endpoint's model role need, derived from the synthesized templates.

No test runs a SageMaker job or an endpoint, so nothing is recorded for these roles: their needs come from what
the synthesized pipeline definition and the deploy workflow's settings tell SageMaker to do, following the
SageMaker Developer Guide, "How to use SageMaker AI execution roles" (the permission lists for CreateProcessingJob,
CreateTrainingJob and CreateModel execution roles) and the API reference of each argument.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from constructs.training_pipeline_definition import CODE_CHANNEL_FOLDER
from tests.infra.support.iam_needs import Context
from tests.infra.support.iam_network import network_needs
from tests.infra.support.iam_policy import Need
from tests.infra.support.iam_reference import check_against_reference
from tests.infra.support.iam_templates import PARTITION, Environment

EXECUTION_ID = "a1b2c3d4e5f6"  # a pipeline execution id: every run writes under its own
JOB_SUFFIX = "0123456789"  # SageMaker Pipelines names jobs pipelines-<execution id>-<step name>-<suffix>
SAGEMAKER = {"iam:PassedToService": "sagemaker.amazonaws.com"}
GRANT_FOR_RESOURCE = {"kms:GrantIsForAWSResource": True}
# Where SageMaker extracts a model's ModelDataUrl in the serving container (CreateModel, ContainerDefinition).
MODEL_DIRECTORY = "/opt/ml/model/"


class UnknownPipelineValue(ValueError):
    """The definition uses an expression the derivation does not know: extend it, do not guess."""


@dataclass(frozen=True)
class Pipeline:
    role: str  # the pipeline's RoleArn
    definition: Mapping[str, Any]
    pinned_input_uri: str  # what the trigger passes as InputDataUri


def pipelines(environment: Environment) -> list[Pipeline]:
    found = []
    for stack_id, _, resource in environment.resources():
        if resource["Type"] != "AWS::SageMaker::Pipeline":
            continue
        properties = resource["Properties"]
        body = environment.resolve(stack_id, properties["PipelineDefinition"]["PipelineDefinitionBody"])
        found.append(
            Pipeline(
                role=environment.resolve(stack_id, properties["RoleArn"]),
                definition=json.loads(body),
                pinned_input_uri=_trigger_input_uri(environment),
            )
        )
    return found


def _trigger_input_uri(environment: Environment) -> str:
    """The trigger starts every run on s3://<PINNED_INPUT_BUCKET>/<PINNED_INPUT_PREFIX><token>/ (its handler)."""
    for stack_id, _, resource in environment.resources():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if resource["Type"] == "AWS::Lambda::Function" and "PINNED_INPUT_BUCKET" in variables:
            resolved = environment.resolve(stack_id, variables)
            return f"s3://{resolved['PINNED_INPUT_BUCKET']}/{resolved['PINNED_INPUT_PREFIX']}0123abcd/"
    raise UnknownPipelineValue("no function passes InputDataUri (PINNED_INPUT_BUCKET) in this environment")


def _steps(steps: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for step in steps:
        yield step
        arguments = step.get("Arguments", {})
        yield from _steps(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))


class _Values:
    """Evaluates the definition's expressions to the values one execution would see."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.steps = {step["Name"]: step for step in _steps(list(pipeline.definition["Steps"]))}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, (str, int, float)):
            return value
        if isinstance(value, Mapping) and set(value) == {"Get"}:
            return self.get(value["Get"])
        if isinstance(value, Mapping) and set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return join["On"].join(str(self(item)) for item in join["Values"])
        raise UnknownPipelineValue(f"cannot evaluate {json.dumps(value)[:200]}")

    def get(self, path: str) -> Any:
        if path == "Execution.PipelineExecutionId":
            return EXECUTION_ID
        if path == "Parameters.InputDataUri":
            return self.pipeline.pinned_input_uri
        if path.startswith("Parameters."):
            (parameter,) = [p for p in self.pipeline.definition["Parameters"] if p["Name"] == path.split(".", 1)[1]]
            return parameter.get("DefaultValue")
        if path.startswith("Steps."):
            _, step_name, rest = path.split(".", 2)
            arguments = self.steps[step_name]["Arguments"]
            if rest.startswith("ProcessingOutputConfig.Outputs['"):
                name = rest.split("'")[1]
                (output,) = [o for o in arguments["ProcessingOutputConfig"]["Outputs"] if o["OutputName"] == name]
                return self(output["S3Output"]["S3Uri"])
            if rest == "ModelArtifacts.S3ModelArtifacts":
                # CreateTrainingJob, OutputDataConfig: SageMaker writes <S3OutputPath>/<job name>/output/model.tar.gz.
                path = self(arguments["OutputDataConfig"]["S3OutputPath"])
                return f"{path}/{job_name(step_name)}/output/model.tar.gz"
        raise UnknownPipelineValue(f"cannot evaluate Get {path}")


def job_name(step_name: str) -> str:
    return f"pipelines-{EXECUTION_ID}-{step_name}-{JOB_SUFFIX}"


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _read_prefix(ctx: Context, uri: str, why: str) -> list[Need]:
    """An S3Prefix input: SageMaker lists the prefix and downloads each object under it as the job's role."""
    bucket, prefix = _split(uri)
    objects = f"{prefix.rstrip('/')}/part-00000.csv" if uri.endswith("/") or "." not in prefix else prefix
    needs = [
        Need("s3:ListBucket", f"arn:{PARTITION}:s3:::{bucket}", {"s3:prefix": prefix}, why),
        Need("s3:GetObject", f"arn:{PARTITION}:s3:::{bucket}/{objects}", why=why),
    ]
    key = ctx.bucket_keys.get(bucket)
    return needs + ([Need("kms:Decrypt", key, why=why + " (SSE-KMS object)")] if key else [])


def _read_object(ctx: Context, uri: str, why: str) -> list[Need]:
    bucket, key_name = _split(uri)
    needs = [Need("s3:GetObject", f"arn:{PARTITION}:s3:::{bucket}/{key_name}", why=why)]
    key = ctx.bucket_keys.get(bucket)
    return needs + ([Need("kms:Decrypt", key, why=why + " (SSE-KMS object)")] if key else [])


def _write_prefix(ctx: Context, uri: str, kms_key: str | None, why: str) -> list[Need]:
    bucket, prefix = _split(uri)
    needs = [Need("s3:PutObject", f"arn:{PARTITION}:s3:::{bucket}/{prefix.rstrip('/')}/output.bin", why=why)]
    # CreateProcessingJob / CreateTrainingJob, KmsKeyId of the outputs: "the SageMaker execution role must include
    # permissions to call kms:Encrypt"; S3 then needs kms:GenerateDataKey for the SSE-KMS upload (S3 User Guide,
    # "Protecting data with SSE-KMS").
    key = kms_key or ctx.bucket_keys.get(bucket)
    if kms_key:
        needs.append(Need("kms:Encrypt", kms_key, why=why + " (output KmsKeyId)"))
    return needs + ([Need("kms:GenerateDataKey", key, why=why + " (SSE-KMS object)")] if key else [])


def _image(ctx: Context, image_uri: str, why: str) -> list[Need]:
    # Execution role permission lists: ecr:GetAuthorizationToken (no resource) and the three pull actions on the
    # image's repository.
    registry, _, repository = image_uri.partition("/")
    account, region = registry.split(".")[0], registry.split(".")[3]
    repository_arn = f"arn:{PARTITION}:ecr:{region}:{account}:repository/{repository.split(':')[0]}"
    return [Need("ecr:GetAuthorizationToken", "*", why=why)] + [
        Need(action, repository_arn, why=why)
        for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")
    ]


def _logs_and_metrics(ctx: Context, group: str, stream: str, namespace: str, why: str) -> list[Need]:
    # Execution role permission lists: logs:CreateLogGroup, CreateLogStream, PutLogEvents, DescribeLogStreams and
    # cloudwatch:PutMetricData (the job's or endpoint's metrics in its /aws/sagemaker/... namespace).
    group_arn = ctx.arn("logs", f"log-group:{group}")
    stream_arn = f"{group_arn}:log-stream:{stream}"
    return [
        Need("logs:CreateLogGroup", group_arn, why=why),
        Need("logs:DescribeLogStreams", group_arn, why=why),
        Need("logs:CreateLogStream", stream_arn, why=why),
        Need("logs:PutLogEvents", stream_arn, why=why),
        Need("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace}, why=why),
    ]


def _volume_key(key: str | None, why: str) -> list[Need]:
    # VolumeKmsKeyId (ProcessingClusterConfig, ResourceConfig): SageMaker attaches the key to the instance
    # volumes through a grant it creates with the caller's permissions (kms:CreateGrant for an AWS resource).
    return [Need("kms:CreateGrant", key, GRANT_FOR_RESOURCE, why + " (VolumeKmsKeyId)")] if key else []


def pipeline_needs(pipeline: Pipeline, ctx: Context) -> list[Need]:
    """The pipeline service's calls (as the pipeline's role) and its jobs' needs (jobs run as RoleArn)."""
    values = _Values(pipeline)
    needs: list[Need] = []
    for step in _steps(list(pipeline.definition["Steps"])):
        arguments, name, kind = step.get("Arguments", {}), step["Name"], step["Type"]
        why = f"pipeline step {name} ({kind})"
        if kind == "Processing":
            needs += _job(ctx, "processing-job", name, arguments["RoleArn"], arguments.get("Tags", []), why)
            cluster = arguments["ProcessingResources"]["ClusterConfig"]
            needs += _volume_key(cluster.get("VolumeKmsKeyId"), why)
            needs += _image(ctx, arguments["AppSpecification"]["ImageUri"], why)
            needs += _in_vpc(ctx, arguments.get("NetworkConfig", {}).get("VpcConfig"), why)
            for item in arguments.get("ProcessingInputs", []):
                needs += _read_prefix(ctx, values(item["S3Input"]["S3Uri"]), why + f" input {item['InputName']}")
            outputs = arguments["ProcessingOutputConfig"]
            for item in outputs["Outputs"]:
                uri = values(item["S3Output"]["S3Uri"])
                needs += _write_prefix(ctx, uri, outputs.get("KmsKeyId"), why + f" output {item['OutputName']}")
            group, namespace = "/aws/sagemaker/ProcessingJobs", "/aws/sagemaker/ProcessingJobs"
            needs += _logs_and_metrics(ctx, group, f"{job_name(name)}/algo-1", namespace, why)
        elif kind == "Training":
            needs += _job(ctx, "training-job", name, arguments["RoleArn"], arguments.get("Tags", []), why)
            needs += _volume_key(arguments["ResourceConfig"].get("VolumeKmsKeyId"), why)
            needs += _image(ctx, arguments["AlgorithmSpecification"]["TrainingImage"], why)
            for channel in arguments["InputDataConfig"]:
                uri = values(channel["DataSource"]["S3DataSource"]["S3Uri"])
                needs += _read_prefix(ctx, uri, why + f" channel {channel['ChannelName']}")
            needs += _in_vpc(ctx, arguments.get("VpcConfig"), why)
            # Script mode: the container downloads sagemaker_submit_directory (a JSON string) as the job's role;
            # an isolated job finds it in its "code" channel instead, read above like the others.
            code = json.loads(arguments["HyperParameters"]["sagemaker_submit_directory"])
            if not code.startswith(CODE_CHANNEL_FOLDER + "/"):
                needs += _read_object(ctx, code, why + " code")
            elif not any(channel["ChannelName"] == "code" for channel in arguments["InputDataConfig"]):
                raise UnknownPipelineValue(f"{why}: the code is in a code channel the job does not have")
            output = arguments["OutputDataConfig"]
            needs += _write_prefix(ctx, values(output["S3OutputPath"]), output.get("KmsKeyId"), why + " model")
            group, namespace = "/aws/sagemaker/TrainingJobs", "/aws/sagemaker/TrainingJobs"
            needs += _logs_and_metrics(ctx, group, f"{job_name(name)}/algo-1-1700000000", namespace, why)
        elif kind == "RegisterModel":
            group = arguments["ModelPackageGroupName"]
            package = ctx.arn("sagemaker", f"model-package/{group.lower()}/1")
            status = {"sagemaker:ModelApprovalStatus": arguments["ModelApprovalStatus"]}
            needs.append(Need("sagemaker:CreateModelPackage", package, status, why))
            needs.append(
                Need(
                    "sagemaker:CreateModelPackage",
                    ctx.arn("sagemaker", f"model-package-group/{group.lower()}"),
                    status,
                    why,
                )
            )
        elif kind not in ("Condition", "Fail"):
            raise UnknownPipelineValue(f"no needs model for pipeline step type {kind} ({name})")
    for need in needs:
        check_against_reference(need.action, [need], need.why)
    return needs


def _job(ctx: Context, kind: str, step_name: str, role: str, tags: list[dict[str, str]], why: str) -> list[Need]:
    # The pipeline creates, polls and (on StopPipelineExecution) stops each job, tags it with the execution's ARN,
    # and passes the job's role to SageMaker (the reference lists iam:PassRole and sagemaker:AddTags as dependent
    # actions of CreateProcessingJob and CreateTrainingJob). The step's Tags are the create request's tags
    # (aws:RequestTag/<key>, aws:TagKeys) and from then on the job's own (aws:ResourceTag/<key>): IAM User Guide,
    # "Controlling access to AWS resources using tags"; SageMaker Developer Guide, "Control access by tags".
    verb = "ProcessingJob" if kind == "processing-job" else "TrainingJob"
    arn = ctx.arn("sagemaker", f"{kind}/{job_name(step_name).lower()}")
    request = {f"aws:RequestTag/{tag['Key']}": tag["Value"] for tag in tags}
    request["aws:TagKeys"] = [tag["Key"] for tag in tags]
    resource = {f"aws:ResourceTag/{tag['Key']}": tag["Value"] for tag in tags}
    return [
        Need(f"sagemaker:Create{verb}", arn, request, why=why),
        Need(f"sagemaker:Describe{verb}", arn, resource, why=why),
        Need(f"sagemaker:Stop{verb}", arn, resource, why=why),
        Need("sagemaker:AddTags", arn, request, why=why),
        Need("iam:PassRole", role, SAGEMAKER, why + " (RoleArn)"),
    ]


def _in_vpc(ctx: Context, vpc_config: Mapping[str, Any] | None, why: str) -> list[Need]:
    """A job or model with a VpcConfig: SageMaker's network interfaces in its subnets, as its role."""
    if not vpc_config:
        return []
    return network_needs(ctx, "sagemaker", vpc_config["Subnets"], vpc_config["SecurityGroupIds"], why + " (VPC)")


def model_role_needs(pipeline: Pipeline, settings: Mapping[str, Any], ctx: Context) -> list[Need]:
    """What the endpoint's instances do as the model role (CreateModel ExecutionRoleArn): pull the image, download
    the model and the inference code, log, publish metrics, and write captured data."""
    values = _Values(pipeline)
    needs: list[Need] = []
    why = f"endpoint {settings['endpoint_name']} (model role)"
    (register,) = [s for s in _steps(list(pipeline.definition["Steps"])) if s["Type"] == "RegisterModel"]
    for container in register["Arguments"]["InferenceSpecification"]["Containers"]:
        needs += _image(ctx, container["Image"], why)
        needs += _read_object(ctx, values(container["ModelDataUrl"]), why + " model.tar.gz")
        needs += _inference_code(ctx, container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"], why + " inference code")
    group = f"/aws/sagemaker/Endpoints/{settings['endpoint_name']}"
    needs += _logs_and_metrics(
        ctx, group, f"{settings['variant_name']}/i-0123456789abcdef0", "/aws/sagemaker/Endpoints", why
    )
    needs += _in_vpc(ctx, settings.get("model_vpc_config"), why)
    if settings.get("data_capture_percent"):
        # DataCaptureConfig: SageMaker writes captured requests under DestinationS3Uri, encrypted with KmsKeyId.
        needs += _write_prefix(ctx, settings["data_capture_s3_uri"], settings["kms_key_arn"], why + " data capture")
    for need in needs:
        check_against_reference(need.action, [need], need.why)
    return needs


def _inference_code(ctx: Context, directory: str, why: str) -> list[Need]:
    """SAGEMAKER_SUBMIT_DIRECTORY: an S3 tarball the container downloads as the model role, or a folder inside
    /opt/ml/model, where SageMaker extracts ModelDataUrl (read above), so nothing more is read."""
    if directory.startswith("s3://"):
        return _read_object(ctx, directory, why)
    if directory.startswith(MODEL_DIRECTORY):
        return []
    raise UnknownPipelineValue(
        f"SAGEMAKER_SUBMIT_DIRECTORY {directory!r} is neither an S3 URI nor in {MODEL_DIRECTORY}"
    )


def deploy_settings(environment: Environment) -> Mapping[str, Any] | None:
    for stack_id, _, resource in environment.resources():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if resource["Type"] == "AWS::Lambda::Function" and "DEPLOY_SETTINGS" in variables:
            return json.loads(environment.resolve(stack_id, variables["DEPLOY_SETTINGS"]))
    return None


def monitor_settings(environment: Environment) -> Mapping[str, Any] | None:
    """The monitoring launcher's settings (MONITOR_SETTINGS, constructs/model_monitoring.py), resolved."""
    for stack_id, _, resource in environment.resources():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if resource["Type"] == "AWS::Lambda::Function" and "MONITOR_SETTINGS" in variables:
            return json.loads(environment.resolve(stack_id, variables["MONITOR_SETTINGS"]))
    return None


def monitor_job_needs(settings: Mapping[str, Any], pipeline: Pipeline, ctx: Context) -> list[Need]:
    """What the monitoring job does as its role: what SageMaker does for the processing job the launcher requests
    (the same request the launcher builds, model_monitoring.launcher.job_request), and what ml_code/monitor.py does
    itself with boto3: list and read the window's capture, the labels and the serving version's baseline, and
    publish its figures."""
    from constructs.model_monitoring_lambda.model_monitoring.launcher import job_request

    values = _Values(pipeline)
    (register,) = [s for s in _steps(list(pipeline.definition["Steps"])) if s["Type"] == "RegisterModel"]
    baseline = values(register["Arguments"]["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"])
    package = {"ModelPackageVersion": 3, "ModelPackageArn": ctx.arn("sagemaker", "model-package/group/3")}
    job = f"{settings['job_name_prefix']}-202601010000"
    request = job_request(dict(settings), job, "2026-01-01T00:00:00+00:00", package, baseline)
    why = f"monitoring job {job}"
    cluster = request["ProcessingResources"]["ClusterConfig"]
    needs = _volume_key(cluster.get("VolumeKmsKeyId"), why)
    needs += _image(ctx, request["AppSpecification"]["ImageUri"], why)
    needs += _in_vpc(ctx, request.get("NetworkConfig", {}).get("VpcConfig"), why)
    for item in request["ProcessingInputs"]:
        needs += _read_prefix(ctx, item["S3Input"]["S3Uri"], why + f" input {item['InputName']}")
    outputs = request["ProcessingOutputConfig"]
    for item in outputs["Outputs"]:
        needs += _write_prefix(ctx, item["S3Output"]["S3Uri"], outputs.get("KmsKeyId"), why + " report")
    needs += _logs_and_metrics(
        ctx, "/aws/sagemaker/ProcessingJobs", f"{job}/algo-1", "/aws/sagemaker/ProcessingJobs", why
    )
    # monitor.py: each hour's capture prefix (<uri>/<variant>/yyyy/mm/dd/hh/), the labels, the baseline file.
    capture = f"{settings['capture_uri']}/{settings['variant_name']}/2026/01/01/00/"
    needs += _read_prefix(ctx, capture, why + " data capture")
    needs += _read_prefix(ctx, settings["labels_uri"], why + " labels")
    needs += _read_prefix(ctx, baseline, why + " baseline")
    needs.append(
        Need("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": settings["metrics_namespace"]}, why=why)
    )
    for need in needs:
        check_against_reference(need.action, [need], need.why)
    return needs
