"""Step Functions and the SageMaker endpoints it drives, as the twin stands them in.

The synthesized state machine runs in moto's Amazon States Language interpreter (inside the local AWS's server),
the way tests/infra/support/step_functions_harness.py runs it: Lambda tasks call the real handlers in this process
(`InProcessLambda`), Wait states and retry intervals move a simulated clock (`SimulatedTime`) instead of sleeping,
and executions take turns in simulated-time order. The endpoint calls of every SageMaker client in this process
(the deploy handlers') are answered by the endpoint-lifecycle double (twin/sagemaker_endpoint_double.py,
which follows AWS's CreateEndpoint / UpdateEndpoint / blue-green pages), whose clock is the same simulated time.

SimulatedTime and InProcessLambda live in twin/simulated_time.py, shared with the harness; the double stays in
tests/infra until the deploy workflow's rewrite (issue 19) has landed, then moves beside the twin.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import boto3
from botocore import xform_name
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from twin.cloudformation import ACCOUNT
from twin.lambda_host import LambdaHost
from twin.local_aws import LocalAws, all_patched
from twin.sagemaker_endpoint_double import SageMakerEndpointDouble
from twin.simulated_time import InProcessLambda, SimulatedTime


class _Answered:
    """What botocore's before-call event needs of an HTTP response the double gave instead."""

    status_code = 200
    headers: dict[str, str] = {}  # noqa: RUF012


class DeployRuntime:
    """Simulated time, the in-process Lambda functions, the endpoint double and moto's interpreter, wired."""

    def __init__(self, aws: LocalAws, lambdas: LambdaHost) -> None:
        endpoint_double = SageMakerEndpointDouble
        own = boto3.Session(region_name=aws.region)  # the double's own clients: not answered by the double
        self.endpoints = endpoint_double(
            aws.client("sagemaker", own), aws.client("cloudwatch", own), aws.region, ACCOUNT
        )
        self.time = SimulatedTime(on_advance=self.endpoints.advance)
        self.lambdas = InProcessLambda(
            {arn: lambdas.handler(arn) for arn in lambdas.functions if arn.startswith("arn:")}
        )
        self.stepfunctions = aws.client("stepfunctions")
        self._calls = threading.local()
        self._operations = {
            name for name in vars(endpoint_double) if not name.startswith("_") and callable(getattr(self.endpoints, name))
        } - {"advance", "settle", "fail", "throttle", "start_system_update"}  # fmt: skip

    def _remember(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        """botocore's before-parameter-build hook: the call's parameters, before they become an HTTP request."""
        self._calls.params = (model.name, dict(params))

    def _answer(self, model: Any, **_: Any) -> tuple[Any, dict[str, Any]] | None:
        """botocore's before-call hook: an endpoint operation is answered by the double, not sent."""
        operation = xform_name(model.name)
        remembered = getattr(self._calls, "params", None)
        if operation not in self._operations or remembered is None or remembered[0] != model.name:
            return None
        try:
            answer = getattr(self.endpoints, operation)(**remembered[1])
        except ClientError as error:
            return _Failed(error), error.response
        return _Answered(), {**json.loads(json.dumps(answer, default=str)), "ResponseMetadata": {"HTTPStatusCode": 200}}

    @contextmanager
    def installed(self) -> Iterator[DeployRuntime]:
        original = lambda_eval_utils.boto_client_for

        def client_for(service: str, region: str, state_credentials: Any) -> Any:
            return self.lambdas if service == "lambda" else original(service, region, state_credentials)

        patches = [
            (lambda_eval_utils, "boto_client_for", client_for),
            (WaitFunction, "_wait_interval", lambda _, env, wait_seconds: self.time.sleep(wait_seconds)),
            (retrier_decl, "time", SimpleNamespace(sleep=self.time.sleep)),
            (ExecutionWorker, "start", lambda worker: self.time.spawn(worker._execution_logic)),
        ]
        events = boto3.DEFAULT_SESSION._session  # type: ignore[union-attr]
        events.register("before-parameter-build.sagemaker", self._remember, unique_id="twin-endpoint-params")
        events.register("before-call.sagemaker", self._answer, unique_id="twin-endpoint-double")
        try:
            with all_patched(patches):
                yield self
        finally:
            events.unregister("before-call.sagemaker", unique_id="twin-endpoint-double")
            events.unregister("before-parameter-build.sagemaker", unique_id="twin-endpoint-params")

    def start(self, state_machine_arn: str, event: dict[str, Any], name: str) -> str:
        """EventBridge's StartExecution with the event as input; the execution runs on `run`."""
        return self.stepfunctions.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(event)
        )["executionArn"]

    def run(self, until: float | None = None) -> None:
        self.time.run(until)

    def result(self, execution_arn: str) -> dict[str, Any]:
        return self.stepfunctions.describe_execution(executionArn=execution_arn)


class _Failed(_Answered):
    def __init__(self, error: ClientError) -> None:
        self.status_code = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
