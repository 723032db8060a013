"""Runs the synthesized deploy state machine in moto's Amazon States Language interpreter, deterministically.

moto 5.2.5 (pinned in requirements-dev.txt) executes definitions with
`mock_aws(config={"stepfunctions": {"execute_state_machine": True}})`, one thread per execution. Three of its
internals are replaced here, all in `deploy_machines` (the fixture of the tests that use this module):

- `lambda_eval_utils.boto_client_for`: a Lambda task's `invoke` runs the real handler in-process (moto's Lambda
  would run the code in Docker), answering as Lambda does: the returned JSON as `Payload`, or
  `FunctionError: Unhandled` with `{"errorType", "errorMessage"}` for an exception.
- `WaitFunction._wait_interval` and the retrier's `time.sleep`: instead of sleeping, the execution hands control
  to `SimulatedTime`, which moves the endpoint double's clock on.
- `ExecutionWorker.start`: executions run one at a time, each until it waits or ends, woken in order of
  simulated time (ties: the order they began waiting). Concurrent executions interleave at their Wait states,
  as they would in AWS, but in one reproducible order.

Faults (`FaultPlan`), applied by the harness to whatever the workflow does, not written into each test:
- a task runs twice: Lambda runs the handler (its side effects happen), then the invocation answers
  `Lambda.ServiceException`, and Step Functions' Retry runs it again ("Handle Lambda service exceptions");
- an AWS call of a handler answers once with throttling, a 5xx, or the eventual-consistency error its API
  reference documents, before doing anything;
- an execution is preempted at an AWS call of a handler: the other executions ready at that simulated moment
  run (until they wait or end, or are preempted in turn) before it goes on, so executions interleave at any call,
  not only at Wait states.
Calls and invocations are numbered in the order they happen in the run, over all executions, so a plan names a
point of a schedule ("the 7th AWS call") and `FaultPlan.recorded` of a fault-free run lists every such point.
"""

from __future__ import annotations

import functools
import importlib
import io
import json
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from constructs.model_deployment_lambda.model_deployment import aws_clients
from tests.infra.support.deploy_world import ACCOUNT, REGION, World
from twin.sagemaker_endpoint_double import client_error
from twin.simulated_time import SimulatedTime

LAMBDA_PACKAGE = "constructs.model_deployment_lambda"
HORIZON_SECONDS = 2 * 24 * 3600  # longer than any execution may run (the state machine's timeout)


@dataclass
class FaultPlan:
    """Which task invocations run twice, which AWS calls fail once (and how), where executions are preempted."""

    task_retries: set[int] = field(default_factory=set)  # invocation indices
    aws_faults: dict[int, str] = field(default_factory=dict)  # call index -> "throttle" | "5xx" | "consistency"
    preempt_at: set[int] = field(default_factory=set)  # call indices
    # The same, named by occurrence rather than by index, so that they stay put when earlier faults add calls:
    # (function name part, n) runs twice at the n-th invocation of that function (1-based);
    # (service, operation, n) -> kind fails the n-th call of that operation; "*" stands for any operation, and the
    # kind "alternate" for throttling and a 5xx in turn over the operations, in the order they are first called.
    task_retries_by_occurrence: set[tuple[str, int]] = field(default_factory=set)
    aws_faults_by_occurrence: dict[tuple[str, str, int], str] = field(default_factory=dict)
    preempt_every: int = 0  # preempt at every n-th call (0: never)
    active: bool = True  # counted and applied only while active (not while a test sets the scene up)
    # What the run did, in order: the function of each Lambda invocation, and (execution, service, operation) of
    # each AWS call of a handler; the executions are numbered in the order they started.
    invocations: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)


# The documented eventual-consistency errors, by (service, operation): what the call answers when its read
# does not see the write just made (API references of CreateEndpoint and of PutScalingPolicy; model_deployment/aws_answers.py).
CONSISTENCY_ERRORS = {
    ("sagemaker", "CreateEndpoint"): ("ValidationException", 'Could not find endpoint configuration "{name}".'),
    ("application-autoscaling", "PutScalingPolicy"): (
        "ObjectNotFoundException",
        "No scalable target registered for service namespace: sagemaker",
    ),
}
_in_handler = threading.local()


def fault_error(kind: str, service: str, operation: str) -> ClientError:
    if kind == "throttle":
        return client_error(operation, "ThrottlingException", "Rate exceeded", 400)
    if kind == "5xx":
        return client_error(operation, "InternalFailure", "We encountered an internal error. Please try again.", 500)
    code, message = CONSISTENCY_ERRORS[(service, operation)]
    return client_error(operation, code, message)


def _primary_call() -> bool:
    """False for the moto call the endpoint double makes while answering a call of its own (counted once)."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.endswith(("sagemaker_endpoint_double.py", "sagemaker_endpoint_lifecycle.py")):
            return frame.f_code.co_name == "_call"
        frame = frame.f_back
    return True


def _by_occurrence(faults: Mapping[tuple[str, str, int], str], service: str, operation: str, n: int) -> str | None:
    return faults.get((service, operation, n)) or faults.get(("*", "*", n))


def install_faults(clients: list[Any], plan: FaultPlan, time: SimulatedTime) -> None:
    """Number every AWS call a handler makes through `clients`; fail or preempt it as `plan` says."""

    def on_call(params: Mapping[str, Any], model: Any, **_: Any) -> None:
        if not plan.active or not getattr(_in_handler, "active", False) or not _primary_call():
            return
        service, operation = model.service_model.service_name, model.name
        index = len(plan.calls)
        occurrence = sum(1 for _, s, o in plan.calls if (s, o) == (service, operation)) + 1
        plan.calls.append((getattr(_in_handler, "execution", "?"), service, operation))
        if index in plan.preempt_at or (plan.preempt_every and index % plan.preempt_every == 0):
            time.yield_turn()
        kind = plan.aws_faults.get(index) or _by_occurrence(
            plan.aws_faults_by_occurrence, service, operation, occurrence
        )
        if kind == "alternate":
            operations = list(dict.fromkeys((s, o) for _, s, o in plan.calls))
            kind = ("throttle", "5xx")[(operations.index((service, operation)) + occurrence) % 2]
            if (service, operation) in CONSISTENCY_ERRORS and occurrence == 1:
                kind = "consistency"  # where the API reference documents it, its first call meets it
        if kind is not None:
            plan.injected.append(f"call {index} {service}.{operation}: {kind}")
            raise fault_error(kind, service, operation)

    for client in clients:  # a reused client: this plan's hook replaces the previous one
        client.meta.events.unregister("provide-client-params.*.*", unique_id="fault-plan")
        client.meta.events.register("provide-client-params.*.*", on_call, unique_id="fault-plan")


class FaultInjectingLambda:
    """What Lambda's Invoke answers, from the handler named in the template, run in this process, with the
    plan's task faults (twin.simulated_time.InProcessLambda is the same without faults)."""

    def __init__(self, handlers: Mapping[str, Callable[[Any, Any], Any]], plan: FaultPlan) -> None:
        self._handlers = handlers
        self._plan = plan
        self.invocations: list[str] = []

    def invoke(self, FunctionName: str, Payload: Any = None, **_: Any) -> dict[str, Any]:
        self.invocations.append(FunctionName)
        plan = self._plan
        index = len(plan.invocations) if plan.active else -1
        occurrence = sum(1 for name in plan.invocations if name == FunctionName) + 1
        if plan.active:
            plan.invocations.append(FunctionName)
        event = json.loads(Payload) if Payload else {}
        _in_handler.active = True
        # Which execution: its run id once Prepare made one, else the event's id (one per delivery).
        _in_handler.execution = event.get("run_id") or event.get("id") or "?"
        try:
            result = self._handlers[FunctionName](event, None)
        except Exception as error:  # Lambda reports any exception of the handler this way
            return _function_error(type(error).__name__, str(error))
        finally:
            _in_handler.active = False
        retried = index in plan.task_retries or any(
            part in FunctionName and n == occurrence for part, n in plan.task_retries_by_occurrence
        )
        if plan.active and retried:
            # The function ran and did its work; the invocation still fails as a Lambda service error would.
            self._plan.injected.append(f"invocation {index} {FunctionName}: ran, then Lambda.ServiceException")
            return _function_error("Lambda.ServiceException", "injected: the function ran, the answer was lost")
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result, default=str).encode())}


def _function_error(error_type: str, message: str) -> dict[str, Any]:
    body = {"errorType": error_type, "errorMessage": message}
    return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}


def function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"


def resolve(value: Any, topic_arn: str) -> Any:
    """The template's intrinsics as CloudFormation would resolve them in the test account."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(part, topic_arn) for part in parts)
    if "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn":
        return function_arn(value["Fn::GetAtt"][0])
    if value.get("Ref") in ("AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix"):
        return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}.get(
            value["Ref"], "amazonaws.com"
        )
    if "Fn::GetStackOutput" in value or "Fn::ImportValue" in value:  # the Notifications stack's topic
        return topic_arn
    raise AssertionError(f"unexpected intrinsic in the definition: {value}")


def lambda_handlers(template: Mapping[str, Any]) -> dict[str, Callable[[Any, Any], Any]]:
    """Function ARN -> the handler its `Handler` property names, imported from the construct's code folder."""
    handlers = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function" and "Handler" in resource["Properties"]:
            module, _, function = resource["Properties"]["Handler"].rpartition(".")
            handlers[function_arn(logical_id)] = getattr(
                importlib.import_module(f"{LAMBDA_PACKAGE}.{module}"), function
            )
    return handlers


class DeployMachine:
    """The synthesized state machine of one environment, created in moto and run under SimulatedTime."""

    def __init__(self, template: Mapping[str, Any], world: World, time: SimulatedTime, lambdas: FaultInjectingLambda):
        self.world = world
        self.time = time
        self.lambdas = lambdas
        self.stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        ((name, machine),) = [
            (r["Properties"]["StateMachineName"], r)
            for r in template["Resources"].values()
            if r["Type"] == "AWS::StepFunctions::StateMachine"
        ]
        definition = resolve(machine["Properties"]["DefinitionString"], world.settings["topic_arn"])
        self.definition = json.loads(definition)
        self.arn = self.stepfunctions.create_state_machine(
            name=name, definition=definition, roleArn=f"arn:aws:iam::{ACCOUNT}:role/deploy-workflow"
        )["stateMachineArn"]
        self.executions: list[str] = []
        self.plan = FaultPlan()

    def start(self, event: Mapping[str, Any]) -> str:
        """EventBridge's StartExecution (a fresh name each time) with the event as input; it runs on `run`."""
        execution = self.stepfunctions.start_execution(
            stateMachineArn=self.arn, name=f"delivery-{len(self.executions) + 1}", input=json.dumps(event)
        )
        self.executions.append(execution["executionArn"])
        return execution["executionArn"]

    def run(self, until: float | None = None) -> None:
        """Run until every execution has ended, or `until`; at most HORIZON_SECONDS of simulated time, so that a
        workflow that never ends fails its test (executions left RUNNING) instead of hanging it."""
        self.time.run(until if until is not None else self.time.now + HORIZON_SECONDS)

    def result(self, execution_arn: str) -> dict[str, Any]:
        return self.stepfunctions.describe_execution(executionArn=execution_arn)


class MachineFactory:
    """From an environment's synthesized template and a World, its state machine in moto (see `deploy_machines`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, mock: Any) -> None:
        self._monkeypatch = monkeypatch
        self._mock = mock
        self._boto_client_for = lambda_eval_utils.boto_client_for
        # One parse of the definition for every execution (moto parses it again for each; the parsed program keeps
        # no state of its own: an execution's state lives in its Environment).
        monkeypatch.setattr(
            AmazonStateLanguageParser, "parse", staticmethod(functools.cache(AmazonStateLanguageParser.parse))
        )

    def __call__(self, template: Mapping[str, Any], world: World, plan: FaultPlan | None = None) -> DeployMachine:
        monkeypatch = self._monkeypatch
        time = SimulatedTime(on_advance=world.sagemaker.advance)
        plan = plan or FaultPlan()
        install_faults(world.fault_clients(), plan, time)
        lambdas = FaultInjectingLambda(lambda_handlers(template), plan)
        original = self._boto_client_for

        def client_for(service: str, region: str, state_credentials: Any) -> Any:
            return lambdas if service == "lambda" else original(service, region, state_credentials)

        monkeypatch.setattr(lambda_eval_utils, "boto_client_for", client_for)
        monkeypatch.setattr(WaitFunction, "_wait_interval", lambda self, env, wait_seconds: time.sleep(wait_seconds))
        monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=time.sleep))
        monkeypatch.setattr(ExecutionWorker, "start", lambda worker: time.spawn(worker._execution_logic))
        monkeypatch.setenv("DEPLOY_SETTINGS", json.dumps(world.settings))
        monkeypatch.setattr(aws_clients, "clients", world.clients)
        machine = DeployMachine(template, world, time, lambdas)
        machine.plan = plan
        return machine

    def reset(self) -> None:
        """Empty every moto backend: the next World starts in a fresh account (runs of one test stay apart)."""
        self._mock.reset()


def deploy_machines(monkeypatch: pytest.MonkeyPatch) -> Iterator[MachineFactory]:
    """For a fixture: a factory from an environment's synthesized template and a World to its state machine.

    Every patch of moto's internals is made here, undone by `monkeypatch` when the test ends.
    """
    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    with mock:
        yield MachineFactory(monkeypatch, mock)
