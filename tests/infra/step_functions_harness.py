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
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from constructs.model_deployment_lambda.deploy import aws as deploy_aws
from tests.infra.deploy_world import ACCOUNT, REGION, World
from twin.simulated_time import InProcessLambda, SimulatedTime

LAMBDA_PACKAGE = "constructs.model_deployment_lambda"


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

    def __init__(self, template: Mapping[str, Any], world: World, time: SimulatedTime, lambdas: InProcessLambda):
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

    def start(self, event: Mapping[str, Any]) -> str:
        """EventBridge's StartExecution (a fresh name each time) with the event as input; it runs on `run`."""
        execution = self.stepfunctions.start_execution(
            stateMachineArn=self.arn, name=f"delivery-{len(self.executions) + 1}", input=json.dumps(event)
        )
        self.executions.append(execution["executionArn"])
        return execution["executionArn"]

    def run(self, until: float | None = None) -> None:
        self.time.run(until)

    def result(self, execution_arn: str) -> dict[str, Any]:
        return self.stepfunctions.describe_execution(executionArn=execution_arn)


def deploy_machines(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Mapping[str, Any], World], DeployMachine]]:
    """For a fixture: a factory from an environment's synthesized template and a World to its state machine.

    Every patch of moto's internals is made here, undone by `monkeypatch` when the test ends.
    """
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):

        def make(template: Mapping[str, Any], world: World) -> DeployMachine:
            time = SimulatedTime(on_advance=world.sagemaker.advance)
            lambdas = InProcessLambda(lambda_handlers(template))
            original = lambda_eval_utils.boto_client_for

            def client_for(service: str, region: str, state_credentials: Any) -> Any:
                return lambdas if service == "lambda" else original(service, region, state_credentials)

            monkeypatch.setattr(lambda_eval_utils, "boto_client_for", client_for)
            monkeypatch.setattr(
                WaitFunction, "_wait_interval", lambda self, env, wait_seconds: time.sleep(wait_seconds)
            )
            monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=time.sleep))
            monkeypatch.setattr(ExecutionWorker, "start", lambda worker: time.spawn(worker._execution_logic))
            monkeypatch.setenv("DEPLOY_SETTINGS", json.dumps(world.settings))
            monkeypatch.setattr(deploy_aws, "aws_clients", world.clients)
            return DeployMachine(template, world, time, lambdas)

        yield make
