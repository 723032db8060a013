"""A local AWS: moto 5.2.5 in server mode, seeded from one environment's templates, with moto corrected where it
differs from AWS's documentation.

The server runs in this process (`ThreadedMotoServer`), so the project's handlers and CLIs reach it over HTTP with
`AWS_ENDPOINT_URL`, and the corrections below (patches of moto's backends) apply to every client. Each correction
names the page it follows:

- S3 -> EventBridge: moto's "Object Created" detail says `eTag`; AWS says `etag`
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html). Renamed before rules match.
- Event `time`: moto writes Unix seconds; EventBridge writes ISO 8601 in UTC, e.g. "2017-12-22T18:43:48Z"
  (EventBridge User Guide, "Amazon EventBridge events", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html).
  Rewritten before rules match.
- EventBridge targets: moto delivers only to SQS, logs, archives, buses and API destinations. Lambda and Step
  Functions targets are handed to the twin (`Delivery`), which runs the function or starts the execution.
- UpdateModelPackage without CustomerMetadataProperties: moto clears them; SageMaker keeps them and merges the
  ones given (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html).
- "SageMaker Model Package State Change": moto emits none; SageMaker emits one when a package is created and
  when its approval changes (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html),
  its detail shaped like DescribeModelPackage.
- CreatePipeline: moto accepts any definition; the twin refuses what SageMaker documents it refuses
  (constructs/pipeline_definition_check.py).
- StartPipelineExecution: moto marks the execution Succeeded at once and runs nothing; the twin marks it
  Executing and hands it to the pipeline interpreter (`PipelineRun`), which sets the outcome, records the steps
  for ListPipelineExecutionSteps (not in moto) and emits "SageMaker Model Building Pipeline Execution Status
  Change" as documented on the same EventBridge page.
- InvokeEndpoint: moto answers canned data; the twin forwards the request to the endpoint host serving the model.
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import boto3
import requests
from botocore.config import Config
from moto.core.config import default_user_config
from moto.events import models as events_models
from moto.sagemaker import models as sagemaker_models
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.server import ThreadedMotoServer

from constructs.pipeline_definition_check import PipelineDefinitionError, check_pipeline_definition
from twin.cloudformation import ACCOUNT, Assembly, Resource

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "twin", "AWS_SECRET_ACCESS_KEY": "twin", "AWS_SESSION_TOKEN": "twin"}
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
PIPELINE_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"


@dataclass(frozen=True)
class Delivery:
    """An event a rule matched, for a target moto does not deliver to (a Lambda function or a state machine)."""

    rule: str
    target_arn: str
    event: dict[str, Any]


@dataclass(frozen=True)
class PipelineRun:
    pipeline_name: str
    execution_arn: str


@dataclass
class Corrections:
    """What the patched backends hand to the twin, and what the twin hands back to them."""

    work: queue.Queue[Delivery | PipelineRun] = field(default_factory=queue.Queue)
    execution_steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # execution ARN -> steps
    endpoint_urls: dict[str, str] = field(default_factory=dict)  # endpoint name -> the host serving it


def _model_package_event(package: Any, region: str) -> dict[str, Any]:
    detail = json.loads(json.dumps(package.gen_response_object(), default=_json_time))
    detail = {key: value for key, value in detail.items() if value not in (None, {}, [])}
    return {
        "Source": "aws.sagemaker",
        "DetailType": MODEL_PACKAGE_STATE_CHANGE,
        "Detail": json.dumps(detail),
        "Resources": [package.arn],
    }


def _event_time(seconds: float) -> str:
    """An event's `time` as EventBridge writes it: ISO 8601 in UTC to the second (moto writes Unix seconds)."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_time(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def put_event(region: str, entry: Mapping[str, Any]) -> None:
    """An event as the service itself puts it on the default bus (rules then match it)."""
    events_models.events_backends[ACCOUNT][region].put_events([dict(entry)])


@contextmanager
def _patched(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    had, original = hasattr(owner, name), getattr(owner, name, None)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        if had:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


@contextmanager
def corrected_moto(corrections: Corrections, region: str) -> Iterator[None]:
    """moto's backends, corrected as the module docstring lists; undone on exit."""
    send_to_targets = events_models.Rule.send_to_targets
    builder = sagemaker_models.SageMakerModelBackend
    create_package, update_package = builder.create_model_package, builder.update_model_package
    create_pipeline, start_execution = builder.create_pipeline, builder.start_pipeline_execution

    def deliver(rule: Any, event: dict[str, Any], transform_input: bool = True) -> None:
        detail = event.get("detail")
        if event.get("source") == "aws.s3" and isinstance(detail, dict) and "eTag" in detail.get("object", {}):
            detail["object"]["etag"] = detail["object"].pop("eTag")
        if isinstance(event.get("time"), int | float):
            event["time"] = _event_time(event["time"])
        targets = rule.targets
        ours = [target for target in targets if target["Arn"].split(":")[2] in ("lambda", "states")]
        rule.targets = [target for target in targets if target not in ours]  # moto raises on the others
        try:
            send_to_targets(rule, event, transform_input)
        finally:
            rule.targets = targets
        if rule.state == "ENABLED" and rule.event_pattern.matches_event(event):
            for target in ours:
                corrections.work.put(Delivery(rule.name, target["Arn"], json.loads(json.dumps(event, default=str))))

    def create_model_package(backend: Any, *args: Any, **kwargs: Any) -> str:
        arn = create_package(backend, *args, **kwargs)
        put_event(region, _model_package_event(_package(backend, arn), region))
        return arn

    def update_model_package(
        backend: Any, model_package_arn: str, model_approval_status: str | None, approval_description: str | None,
        customer_metadata_properties: dict[str, str] | None, *args: Any, **kwargs: Any,
    ) -> str:  # fmt: skip
        package = _package(backend, model_package_arn)
        kept = dict(package.customer_metadata_properties or {}) if package else {}
        merged = {**kept, **(customer_metadata_properties or {})} or None
        arn = update_package(
            backend, model_package_arn, model_approval_status, approval_description, merged, *args, **kwargs
        )
        put_event(region, _model_package_event(_package(backend, arn), region))
        return arn

    def create_pipeline_checked(backend: Any, *args: Any, **kwargs: Any) -> Any:
        text = kwargs.get("pipeline_definition") or (args[2] if len(args) > 2 else None)
        if text:
            try:
                check_pipeline_definition(json.loads(text), text)
            except PipelineDefinitionError as error:
                raise ValidationError(str(error)) from error
        return create_pipeline(backend, *args, **kwargs)

    def start_pipeline_execution(backend: Any, pipeline_name: str, *args: Any, **kwargs: Any) -> dict[str, str]:
        started = start_execution(backend, pipeline_name, *args, **kwargs)
        arn = started["PipelineExecutionArn"]
        execution = backend.pipelines[pipeline_name].pipeline_executions[arn]
        execution.pipeline_execution_status = "Executing"
        corrections.execution_steps[arn] = []
        corrections.work.put(PipelineRun(pipeline_name, arn))
        return started

    def list_pipeline_execution_steps(response: Any) -> str:
        arn = json.loads(response.body)["PipelineExecutionArn"]
        steps = corrections.execution_steps.get(arn, [])
        return json.dumps({"PipelineExecutionSteps": steps[::-1]}, default=_json_time)  # newest first, as AWS lists

    def invoke_endpoint(response: Any) -> tuple[int, dict[str, str], bytes | str]:
        name = response.path.split("/")[2]  # POST /endpoints/{EndpointName}/invocations
        url = corrections.endpoint_urls.get(name)
        if url is None:
            message = f"Endpoint {name} of account {ACCOUNT} not found."
            return 400, {"x-amzn-ErrorType": "ValidationError"}, json.dumps({"message": message})
        headers = {k: v for k, v in response.headers.items() if k.lower() in ("content-type", "accept")}
        answer = requests.post(f"{url}/invocations", data=response.body, headers=headers, timeout=60)
        if answer.status_code >= 400:  # InvokeEndpoint's ModelError: the container's own status and message
            body = {"message": f"Received client error ({answer.status_code}) from primary with message "
                    f'"{answer.text}".', "OriginalStatusCode": answer.status_code, "OriginalMessage": answer.text}  # fmt: skip
            return 424, {"x-amzn-ErrorType": "ModelError"}, json.dumps(body)
        content_type = answer.headers.get("Content-Type", "application/octet-stream")
        return 200, {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": "AllTraffic"}, answer.content

    patches = [
        (events_models.Rule, "send_to_targets", deliver),
        (builder, "create_model_package", create_model_package),
        (builder, "update_model_package", update_model_package),
        (builder, "create_pipeline", create_pipeline_checked),
        (builder, "start_pipeline_execution", start_pipeline_execution),
        (SageMakerResponse, "list_pipeline_execution_steps", list_pipeline_execution_steps),
        (SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint),
    ]
    with all_patched(patches):
        yield


@contextmanager
def all_patched(patches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    if not patches:
        yield
        return
    (owner, name, replacement), *rest = patches
    with _patched(owner, name, replacement), all_patched(rest):
        yield


def _package(backend: Any, arn: str) -> Any:
    return backend.model_packages.get(backend.model_package_name_mapping.get(arn, arn))


class LocalAws:
    """The server, clients for it, and the environment variables that point every AWS SDK call at it."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.corrections = Corrections()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""

    def __enter__(self) -> LocalAws:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        # The twin reports each execution's outcome; moto's interpreter would log every failed state as an error.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        self._corrected = corrected_moto(self.corrections, self.region)
        self._corrected.__enter__()
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self._saved_environment = dict(os.environ)
        os.environ.update(self.environment())
        os.environ["MOTO_PORT"] = str(port)  # where moto's Step Functions interpreter sends its own calls
        boto3.setup_default_session()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        self._corrected.__exit__(*exc)
        os.environ.clear()
        os.environ.update(self._saved_environment)
        boto3.setup_default_session()
        default_user_config["stepfunctions"]["execute_state_machine"] = False

    def environment(self) -> dict[str, str]:
        """What a process needs to reach this AWS and no other: endpoint, region, dummy credentials."""
        return {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self, service: str, session: boto3.Session | None = None) -> Any:
        """A client of its own session: the twin's instruments are not the handlers' clients."""
        session = session or boto3.Session(region_name=self.region)
        return session.client(service, endpoint_url=self.endpoint_url, config=Config(retries={"max_attempts": 2}))

    def next_work(self) -> Delivery | PipelineRun | None:
        try:
            return self.corrections.work.get_nowait()
        except queue.Empty:
            return None


# ------------------------------------------------------------------------------------------ seeding from templates


def _api_parameters(client: Any, operation: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """The template properties that are also the API's parameters (CloudFormation mostly names them alike)."""
    members = client.meta.service_model.operation_model(operation).input_shape.members
    return {key: value for key, value in properties.items() if key in members and value is not None}


def seed(aws: LocalAws, assembly: Assembly, say: Callable[[str], None]) -> None:
    """Create what the templates declare, in dependency order of kinds; say what was created."""
    created: dict[str, int] = {}

    def count(kind: str) -> None:
        created[kind] = created.get(kind, 0) + 1

    s3, sns, sqs = aws.client("s3"), aws.client("sns"), aws.client("sqs")
    sagemaker, events, stepfunctions = aws.client("sagemaker"), aws.client("events"), aws.client("stepfunctions")
    cloudwatch, dynamodb = aws.client("cloudwatch"), aws.client("dynamodb")
    location = {"CreateBucketConfiguration": {"LocationConstraint": aws.region}} if aws.region != "us-east-1" else {}

    for bucket in assembly.resources("AWS::S3::Bucket"):
        s3.create_bucket(Bucket=bucket.name, **location)
        if (bucket.resolved("VersioningConfiguration") or {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
        notifications = bucket.resolved("NotificationConfiguration") or {}
        if "EventBridgeConfiguration" in notifications:
            s3.put_bucket_notification_configuration(
                Bucket=bucket.name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        count("bucket")
    for asset in assembly.file_assets():
        if asset.bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket=asset.bucket, **location)
        s3.put_object(Bucket=asset.bucket, Key=asset.key, Body=_asset_bytes(asset.source, asset.packaging))
        count("asset")
    for topic in assembly.resources("AWS::SNS::Topic"):
        sns.create_topic(Name=topic.name)
        count("topic")
    for queue_resource in assembly.resources("AWS::SQS::Queue"):
        sqs.create_queue(QueueName=queue_resource.name)
        count("queue")
    for table in assembly.resources("AWS::DynamoDB::Table"):
        # The properties CreateTable shares with the template (SSESpecification, for one, is spelt differently).
        shared = ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "LocalSecondaryIndexes",
                  "BillingMode", "ProvisionedThroughput")  # fmt: skip
        properties = {key: table.resolved(key) for key in shared if key in table.properties}
        properties.setdefault("BillingMode", "PAY_PER_REQUEST")
        dynamodb.create_table(TableName=table.name, **properties)
        count("table")
    for group in assembly.resources("AWS::SageMaker::ModelPackageGroup"):
        sagemaker.create_model_package_group(ModelPackageGroupName=group.name)
        count("model package group")
    for pipeline in assembly.resources("AWS::SageMaker::Pipeline"):
        body = pipeline.resolved("PipelineDefinition")["PipelineDefinitionBody"]
        sagemaker.create_pipeline(
            PipelineName=pipeline.name, PipelineDefinition=body, RoleArn=pipeline.resolved("RoleArn")
        )
        count("pipeline")
    for machine in assembly.resources("AWS::StepFunctions::StateMachine"):
        stepfunctions.create_state_machine(
            name=machine.name, definition=machine.resolved("DefinitionString"), roleArn=machine.resolved("RoleArn")
        )
        count("state machine")
    for alarm in assembly.resources("AWS::CloudWatch::Alarm"):
        properties = {**_resolved_all(alarm), "AlarmName": alarm.name}
        cloudwatch.put_metric_alarm(**_api_parameters(cloudwatch, "PutMetricAlarm", properties))
        count("alarm")
    for rule in assembly.resources("AWS::Events::Rule"):
        # A rule has an event pattern, a schedule (the monitoring job's), or both; the twin runs no schedules.
        trigger = {key: rule.resolved(key) for key in ("EventPattern", "ScheduleExpression") if key in rule.properties}
        if "EventPattern" in trigger:
            trigger["EventPattern"] = json.dumps(trigger["EventPattern"])
        events.put_rule(Name=rule.name, State=rule.resolved("State", "ENABLED"), **trigger)
        targets = [{"Id": target["Id"], "Arn": target["Arn"]} for target in rule.resolved("Targets", [])]
        if targets:
            events.put_targets(Rule=rule.name, Targets=targets)
        count("rule")
    say(", ".join(f"{number} {kind}{'s' if number > 1 else ''}" for kind, number in created.items()))


def _resolved_all(resource: Resource) -> dict[str, Any]:
    return {key: resource.resolved(key) for key in resource.properties}


def _asset_bytes(source: Any, packaging: str) -> bytes:
    if packaging != "zip":
        return source.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(source).as_posix())
    return buffer.getvalue()


def now() -> datetime:
    return datetime.now(timezone.utc)
