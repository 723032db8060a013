"""What the deploy workflow removes and what it keeps: cleanup after a conclusion (claimed configs, alarms in
flight, alarms a stopped execution left) and the teardown custom resource when the stack is deleted.

Each test drives the steps' `run` functions directly to pin one decision; `test_deploy_workflow_execution.py` runs
the synthesized state machine end to end.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from constructs.model_deployment_lambda.model_deployment import (
    aws_clients,
    check,
    conclude,
    prepare,
    rollout,
    teardown,
)
from constructs.model_deployment_lambda.model_deployment import endpoint_requests as requests
from constructs.model_deployment_lambda.model_deployment.aws_clients import Clients
from constructs.model_deployment_lambda.model_deployment.ledger import Ledger
from tests.infra.support.deploy_steps import (
    announce,
    deploy_version,
    make_world,
    moto_env,  # noqa: F401  (a fixture: the tests name it)
)
from tests.infra.support.deploy_world import ACCOUNT, event_for, settings_for


@pytest.mark.usefixtures("moto_env")
def test_cleanup_keeps_a_config_another_execution_has_claimed() -> None:
    world = make_world("dev", previous_versions_kept=0)
    v1 = deploy_version(world)
    v2 = rollout.run(
        prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients()),
        world.settings,
        world.clients(),
    )
    # While v2 rolls out, v1 is approved again (the runbook's rollback); its execution claims v1's config.
    world.approve(v1["package_arn"], status="PendingManualApproval")
    announce(world, event_for(v1["package_arn"], status="PendingManualApproval"))
    world.approve(v1["package_arn"])
    again = prepare.run(event_for(v1["package_arn"]), world.settings, world.clients())
    Ledger(world.dynamodb, world.settings["ledger_table_name"]).claim(
        again["deployment_key"], again["run_id"], again["config_name"], time.time() + 3600
    )
    world.sagemaker.settle()
    state = conclude.run(check.run(v2, world.settings, world.clients()), world.settings, world.clients())
    assert state["outcome"] == "deployed"
    assert v1["config_name"] not in state["deleted_configs"]
    assert world.moto_sagemaker.describe_model(ModelName=v1["model_name"])
    assert world.moto_sagemaker.describe_endpoint_config(EndpointConfigName=v1["config_name"])


@pytest.mark.usefixtures("moto_env")
def test_conclude_keeps_the_alarms_of_a_rollout_still_in_flight() -> None:
    world = make_world("dev")
    deploy_version(world)
    event = event_for(world.register(auc="0.94"))
    state = rollout.run(prepare.run(event, world.settings, world.clients()), world.settings, world.clients())
    twin = conclude.run(prepare.run(event, world.settings, world.clients()), world.settings, world.clients())
    assert twin["outcome"] == "noop"
    assert world.alarm_names() == sorted(requests.rollback_alarm_names(state["config_name"]))


@pytest.mark.usefixtures("moto_env")
def test_rollback_alarms_left_by_a_stopped_execution_go_with_the_next_conclusion() -> None:
    world = make_world("dev")
    first = deploy_version(world)
    for request in requests.rollback_alarm_requests(world.settings, first["config_name"]):
        world.cloudwatch.put_metric_alarm(**request)  # as if an execution had been stopped mid-rollout
    deploy_version(world, auc="0.94")
    assert world.alarm_names() == []


@pytest.mark.usefixtures("moto_env")
def test_teardown_deletes_the_endpoint_and_every_config_model_and_alarm_it_made_only() -> None:
    world = make_world("dev")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    rollout.run(state, world.settings, world.clients())
    world.sagemaker.settle()
    world.moto_sagemaker.create_model(
        ModelName="someone-elses-model", ExecutionRoleArn=world.settings["model_role_arn"]
    )
    removed = teardown.run(world.settings, world.clients(), deadline=float("inf"), sleep=world.sagemaker.advance)
    assert "endpoint/mlops-dev" in removed
    assert world.endpoint_name not in world.sagemaker.endpoints  # waited until SageMaker had deleted it
    assert world.moto_sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert [m["ModelName"] for m in world.moto_sagemaker.list_models()["Models"]] == ["someone-elses-model"]
    assert world.alarm_names() == []


@pytest.mark.usefixtures("moto_env")
def test_teardown_stops_running_deployments_first() -> None:
    world = make_world("dev")
    machine = world.stepfunctions.create_state_machine(
        name="mlops-dev-deploy",
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
    )["stateMachineArn"]
    execution = world.stepfunctions.start_execution(stateMachineArn=machine)["executionArn"]
    teardown.run(
        {**world.settings, "state_machine_arn": machine},
        world.clients(),
        deadline=float("inf"),
        sleep=world.sagemaker.advance,
    )
    assert world.stepfunctions.describe_execution(executionArn=execution)["status"] == "ABORTED"


@pytest.mark.usefixtures("moto_env")
def test_teardown_waits_until_the_endpoint_is_deleted_before_answering() -> None:
    world = make_world("dev")
    deploy_version(world)
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        world.sagemaker.advance(seconds)

    teardown.run(world.settings, world.clients(), deadline=float("inf"), sleep=sleep)
    assert waited and world.endpoint_name not in world.sagemaker.endpoints


@pytest.mark.usefixtures("moto_env")
def test_teardown_gives_up_on_an_endpoint_still_updating_with_a_clear_message() -> None:
    world = make_world("dev")
    deploy_version(world)
    world.sagemaker.start_system_update(world.endpoint_name)
    with pytest.raises(RuntimeError, match="still SystemUpdating: retry the deletion"):
        teardown.run(world.settings, world.clients(), deadline=0, sleep=lambda _: None)


class _Context:
    log_stream_name = "stream"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def _cfn_event(request_type: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://example.invalid/response",
        "StackId": "stack",
        "RequestId": "request",
        "LogicalResourceId": "Teardown",
    }


@pytest.mark.usefixtures("moto_env")
@pytest.mark.parametrize(
    ("request_type", "answer", "endpoint_left"),
    [("Delete", "removed 3 SageMaker resources", False), ("Create", "nothing to do", True)],
)
def test_the_teardown_handler_answers_cloudformation(
    monkeypatch: pytest.MonkeyPatch, request_type: str, answer: str, endpoint_left: bool
) -> None:
    world = make_world("dev")
    deploy_version(world)
    answers: list[tuple[str, str]] = []
    monkeypatch.setenv("DEPLOY_SETTINGS", json.dumps(world.settings))
    monkeypatch.setattr(aws_clients, "clients", world.clients)
    monkeypatch.setattr(
        teardown, "send_cfn_response", lambda event, context, status, reason: answers.append((status, reason))
    )
    monkeypatch.setattr(teardown.time, "sleep", world.sagemaker.advance)  # simulated time passes while it waits
    teardown.handler(_cfn_event(request_type), _Context())
    assert answers == [("SUCCESS", answer)]
    assert (world.endpoint_name in world.sagemaker.endpoints) is endpoint_left


@pytest.mark.usefixtures("moto_env")
def test_the_teardown_handler_reports_a_failure_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[tuple[str, str]] = []
    monkeypatch.setenv("DEPLOY_SETTINGS", json.dumps(settings_for("dev")))

    def broken() -> Clients:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeEndpoint")

    monkeypatch.setattr(aws_clients, "clients", broken)
    monkeypatch.setattr(
        teardown, "send_cfn_response", lambda event, context, status, reason: answers.append((status, reason))
    )
    teardown.handler(_cfn_event("Delete"), _Context())
    assert answers[0][0] == "FAILED"
    assert "AccessDenied" in answers[0][1]
