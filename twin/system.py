"""The twin assembled: a local AWS seeded from cdk.out, and the stand-ins for Lambda, SageMaker Pipelines, Step
Functions and endpoints wired to it. Events flow as in AWS; `settle()` delivers them until nothing is left.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.sagemaker.models import sagemaker_backends

from twin.botocore_loaders import share_botocore_loaders
from twin.cloudformation import ACCOUNT, Assembly
from twin.endpoint_host import EndpointHost
from twin.job_runner import REPO_ROOT, JobRunner, common_environment
from twin.lambda_host import LambdaHost
from twin.local_aws import PIPELINE_STATUS_CHANGE, Delivery, LocalAws, PipelineRun, now, put_event, seed
from twin.pipeline_interpreter import Execution, PipelineInterpreter
from twin.step_functions import DeployRuntime
from twin.warm_python import WarmPython

INBOX_QUEUE = "twin-inbox"


@dataclass
class Record:
    """What happened, for scenarios and tests to read."""

    deliveries: list[Delivery] = field(default_factory=list)  # events matched by rules, as delivered
    handler_results: list[tuple[str, Any]] = field(default_factory=list)  # (function, result or error)
    pipeline_runs: list[tuple[str, str, str | None]] = field(default_factory=list)  # (arn, status, reason)
    deployments: list[dict[str, Any]] = field(default_factory=list)  # DescribeExecution answers
    notices: list[dict[str, str]] = field(default_factory=list)  # SNS messages: subject, message


class Twin:
    def __init__(self, cdk_out: Path, environment: str, work_dir: Path, say: Callable[[str, str], None]) -> None:
        self.assembly = Assembly(cdk_out, environment)
        self.environment = environment
        self.work_dir = work_dir
        self.say = say
        self.record = Record()
        self._stack = ExitStack()
        self._deliveries = 0

    # ------------------------------------------------------------------------------------------ set-up

    def __enter__(self) -> Twin:
        share_botocore_loaders()
        # First: it imports the ML libraries while the local AWS starts and is seeded.
        python = self._stack.enter_context(WarmPython(self.work_dir / "python", common_environment()))
        self.aws = self._stack.enter_context(LocalAws(self.assembly.region))
        self.say(
            "local AWS",
            f"moto server at {self.aws.endpoint_url}, region {self.aws.region}, corrected where moto differs from "
            "AWS's documentation (docs/local-twin.md)",
        )
        seed(
            self.aws,
            self.assembly,
            lambda text: self.say("seeded", f"from cdk.out/assembly-{self.environment}: {text}"),
        )
        self.s3, self.sqs, self.sns = self.aws.client("s3"), self.aws.client("sqs"), self.aws.client("sns")
        self.sagemaker = self.aws.client("sagemaker")
        (self.work_dir / "logs").mkdir(parents=True, exist_ok=True)
        lambda_log = self._stack.enter_context((self.work_dir / "logs" / "lambda.log").open("a", encoding="utf-8"))
        self.lambdas = LambdaHost(self.assembly, lambda_log)
        jobs = JobRunner(self.s3, self.work_dir / "jobs", python.bin)
        self.pipelines = PipelineInterpreter(jobs, self.s3, self.sagemaker, lambda text: self.say("pipeline", text))
        self.deploy = self._stack.enter_context(DeployRuntime(self.aws, self.lambdas).installed())
        self.endpoints = EndpointHost(self.sagemaker, self.s3, self.aws.corrections, self.work_dir, python.bin)
        self._stack.callback(self.endpoints.close)
        self._inbox = self.sqs.create_queue(QueueName=INBOX_QUEUE)["QueueUrl"]
        inbox_arn = self.sqs.get_queue_attributes(QueueUrl=self._inbox, AttributeNames=["QueueArn"])["Attributes"]
        for topic in self.sns.list_topics()["Topics"]:
            self.sns.subscribe(TopicArn=topic["TopicArn"], Protocol="sqs", Endpoint=inbox_arn["QueueArn"])
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.__exit__(*exc)

    # ------------------------------------------------------------------------------------------ what the templates name

    def upload_location(self) -> tuple[str, str]:
        """The bucket and key prefix of the rule that watches uploads (the one matching S3's Object Created)."""
        for rule in self.assembly.resources("AWS::Events::Rule"):
            pattern = rule.resolved("EventPattern") or {}  # a scheduled rule has none
            if pattern.get("source") == ["aws.s3"]:
                detail = pattern["detail"]
                return detail["bucket"]["name"][0], detail["object"]["key"][0]["prefix"]
        raise LookupError("no rule watches S3 uploads in the templates")

    # ------------------------------------------------------------------------------------------ acting as users

    def upload(self, data: Path, name: str | None = None) -> str:
        bucket, prefix = self.upload_location()
        key = f"{prefix}{name or data.name}"
        self.s3.upload_file(str(data), bucket, key)
        self.say("upload", f"s3://{bucket}/{key} ({data.stat().st_size:,} bytes)")
        return key

    def approver(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """The project's approver CLI in its own process, against the local AWS (AWS_ENDPOINT_URL)."""
        command = [sys.executable, "-m", "tools.approver", *arguments]
        completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        for line in (completed.stdout + completed.stderr).strip().splitlines():
            self.say("approver", line)
        return completed

    def approve(self, version: int, note: str = "approved in the local twin") -> None:
        completed = self.approver("approve", self.environment, str(version), "--note", note)
        if completed.returncode != 0:
            raise RuntimeError(f"the approver failed: {completed.stderr.strip()}")

    def invoke(self, endpoint_name: str, body: bytes, content_type: str = "text/csv") -> tuple[str, str]:
        runtime = self.aws.client("sagemaker-runtime")
        answer = runtime.invoke_endpoint(EndpointName=endpoint_name, Body=body, ContentType=content_type)
        return answer["ContentType"], answer["Body"].read().decode("utf-8")

    # ------------------------------------------------------------------------------------------ the event loop

    def settle(self) -> None:
        """Deliver events, run pipelines and state machines until nothing is left to do."""
        while (work := self.aws.next_work()) is not None:
            if isinstance(work, Delivery):
                self.record.deliveries.append(work)
            if isinstance(work, PipelineRun):
                self._run_pipeline(work)
            elif work.target_arn.split(":")[2] == "lambda":
                self._run_function(work)
            else:
                self._run_state_machine(work)
            self._read_notices()

    def _run_function(self, delivery: Delivery) -> None:
        function = self.lambdas.functions[delivery.target_arn]
        self.say("event", f"{delivery.event['detail-type']} matched rule {delivery.rule} -> Lambda {function.name}")
        try:
            result: Any = self.lambdas.invoke(delivery.target_arn, delivery.event)
        except Exception as error:  # Lambda reports it; EventBridge would retry, then dead-letter
            result = {"errorType": type(error).__name__, "errorMessage": str(error)}
        self.record.handler_results.append((function.name, result))
        self.say("lambda", f"{function.handler} answered {json.dumps(result, default=str)[:300]}")

    def _run_state_machine(self, delivery: Delivery) -> None:
        self._deliveries += 1
        name = delivery.target_arn.rsplit(":", 1)[1]
        self.say("event", f"{delivery.event['detail-type']} matched rule {delivery.rule} -> state machine {name}")
        execution = self.deploy.start(delivery.target_arn, delivery.event, f"twin-delivery-{self._deliveries}")
        started = self.deploy.time.now
        self.deploy.run()
        result = self.deploy.result(execution)
        self.record.deployments.append(result)
        output = json.loads(result.get("output") or "{}")
        waited = self.deploy.time.now - started
        outcome = output.get("outcome") or result.get("error") or result.get("cause")
        self.say("deploy", f"{name}: {result['status']} after {waited:.0f} simulated seconds, outcome {outcome}")
        for change in self.endpoints.sync(self.deploy.endpoints.endpoints):
            self.say("endpoint", change)

    def _run_pipeline(self, run: PipelineRun) -> None:
        backend = sagemaker_backends[ACCOUNT][self.aws.region]
        fake = backend.pipelines[run.pipeline_name].pipeline_executions[run.execution_arn]
        parameters = {p["Name"]: p["Value"] for p in fake.pipeline_parameters or []}
        execution = Execution(
            run.pipeline_name, run.execution_arn, json.loads(fake.pipeline_definition_for_execution), parameters
        )
        self.aws.corrections.execution_steps[run.execution_arn] = execution.steps
        self.say("pipeline", f"{run.pipeline_name} execution {execution.execution_id} started with {parameters}")
        status, reason = self.pipelines.run(execution)
        fake.pipeline_execution_status, fake.pipeline_execution_failure_reason = status, reason
        self.record.pipeline_runs.append((run.execution_arn, status, reason))
        self.say("pipeline", f"execution {status}" + (f": {reason}" if reason else ""))
        detail = {
            "pipelineArn": backend.pipelines[run.pipeline_name].arn,
            "pipelineExecutionArn": run.execution_arn,
            "pipelineExecutionDisplayName": fake.pipeline_execution_display_name,
            "pipelineExecutionDescription": fake.pipeline_execution_description,
            "currentPipelineExecutionStatus": status,
            "previousPipelineExecutionStatus": "Executing",
            "executionStartTime": execution.started.isoformat(),
            "executionEndTime": now().isoformat(),
        }
        put_event(self.aws.region, {"Source": "aws.sagemaker", "DetailType": PIPELINE_STATUS_CHANGE,
                                    "Detail": json.dumps(detail), "Resources": [run.execution_arn]})  # fmt: skip

    def _read_notices(self) -> None:
        while messages := self.sqs.receive_message(QueueUrl=self._inbox, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                envelope = json.loads(message["Body"])
                notice = {"subject": envelope.get("Subject") or "", "message": envelope.get("Message", "")}
                self.record.notices.append(notice)
                self.say("notice", notice["subject"] or notice["message"][:200])
                self.sqs.delete_message(QueueUrl=self._inbox, ReceiptHandle=message["ReceiptHandle"])
