"""The synthesized deploy state machine, executed: scenarios of docs/deployment-runbook.md ("Scenarios").

Each test takes the state machine definition from the session's synthesized template, runs it in moto's Amazon
States Language interpreter with every Lambda task served in-process by the real handler
(`support/step_functions_harness.py`), and SageMaker endpoints answered by the lifecycle double
(`twin/sagemaker_endpoint_double.py`). Simulated time passes only at Wait states and retries.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from constructs.model_deployment_lambda.model_deployment.endpoint_requests import rollback_alarm_names
from tests.infra.support.deploy_world import World, event_for, settings_for
from tests.infra.support.step_functions_harness import DeployMachine, MachineFactory, deploy_machines
from tests.infra.support.synthesis import Synthesized
from twin.sagemaker_endpoint_double import client_error
from twin.sagemaker_endpoint_lifecycle import Endpoint

MakeMachine = MachineFactory


@pytest.fixture
def deploy_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeMachine]:
    yield from deploy_machines(monkeypatch)


def machine_for(synthesized: Synthesized, make: MakeMachine, environment: str) -> DeployMachine:
    world = World(settings_for(environment))
    return make(synthesized.templates[environment]["Deployment"], world)


def deploy(machine: DeployMachine, auc: str = "0.93") -> str:
    """Approve a new version and run the workflow until every execution has ended; its execution ARN."""
    execution = machine.start(event_for(machine.world.register(auc=auc)))
    machine.run()
    return execution


def outcomes(world: World) -> list[str]:
    return [message["subject"] for message in world.messages()]


def test_the_executed_definition_is_the_synthesized_one(synthesized: Synthesized, deploy_machine: MakeMachine) -> None:
    machine = machine_for(synthesized, deploy_machine, "dev")
    assert machine.definition["StartAt"] == "Prepare"
    tasks = {state["Resource"] for state in machine.definition["States"].values() if state["Type"] == "Task"}
    assert {arn.rsplit(":", 1)[1].removeprefix("ModelDeployment")[:8] for arn in tasks if ":lambda:" in arn} == {
        "PrepareF",
        "StartRol",
        "CheckEnd",
        "Conclude",
    }


def test_first_deploy(synthesized: Synthesized, deploy_machine: MakeMachine) -> None:
    machine = machine_for(synthesized, deploy_machine, "dev")
    execution = deploy(machine)
    assert machine.result(execution)["status"] == "SUCCEEDED"
    assert (machine.world.endpoint()["EndpointStatus"], machine.world.serving_version()) == ("InService", 1)
    assert outcomes(machine.world) == ["[dev] model v1: deployed"]
    assert 60 in machine.time.waits  # the rollout was polled through the Wait state


@pytest.mark.parametrize("environment", ["dev", "stg", "prod"])
def test_update_succeeds(synthesized: Synthesized, deploy_machine: MakeMachine, environment: str) -> None:
    machine = machine_for(synthesized, deploy_machine, environment)
    deploy(machine)
    execution = deploy(machine, auc="0.94")
    assert machine.result(execution)["status"] == "SUCCEEDED"
    assert machine.world.serving_version() == 2
    assert outcomes(machine.world)[-1] == f"[{environment}] model v2: deployed"
    assert machine.world.alarm_names() == []  # the rollout's alarms went with it


def test_alarm_during_the_canary_bake_rolls_back(synthesized: Synthesized, deploy_machine: MakeMachine) -> None:
    machine = machine_for(synthesized, deploy_machine, "prod")
    deploy(machine)
    world = machine.world

    def errors_on_the_new_fleet(endpoint: Endpoint) -> None:
        if endpoint.pending:
            world.set_alarm(rollback_alarm_names(endpoint.pending)[0])

    world.sagemaker.on_bake = errors_on_the_new_fleet
    execution = deploy(machine, auc="0.95")
    result = machine.result(execution)
    assert (result["status"], result["error"]) == ("FAILED", "RolledBack")
    assert (world.endpoint()["EndpointStatus"], world.serving_version()) == ("InService", 1)
    message = world.messages()[-1]
    assert (message["subject"], message["outcome"]) == ("[prod] model v2: rolled_back", "rolled_back")
    assert "5xx-error-rate" in message["reason"]


def test_the_new_model_fails_to_start(synthesized: Synthesized, deploy_machine: MakeMachine) -> None:
    machine = machine_for(synthesized, deploy_machine, "stg")
    deploy(machine)
    world = machine.world
    arn = world.register(auc="0.95")
    world.sagemaker.failing_models.update(
        {
            name: "The primary container for production variant AllTraffic did not pass the ping health check"
            for name in _names_for(world, arn)
        }
    )
    execution = machine.start(event_for(arn))
    machine.run()
    result = machine.result(execution)
    assert (result["status"], result["error"]) == ("FAILED", "DeploymentFailed")
    assert "did not pass the ping health check" in result["cause"]
    assert (world.endpoint()["EndpointStatus"], world.serving_version()) == ("InService", 1)
    assert outcomes(world)[-1] == "[stg] model v2: failed"


def test_endpoint_busy_with_a_manual_update_waits_then_deploys(
    synthesized: Synthesized, deploy_machine: MakeMachine
) -> None:
    machine = machine_for(synthesized, deploy_machine, "dev")
    deploy(machine)
    world = machine.world
    current = world.endpoint()["EndpointConfigName"]
    world.sagemaker.update_endpoint(EndpointName=world.endpoint_name, EndpointConfigName=current)  # by hand
    execution = deploy(machine, auc="0.94")
    assert machine.result(execution)["status"] == "SUCCEEDED"
    assert world.serving_version() == 2
    assert world.sagemaker.accepted_updates == [current, world.endpoint()["EndpointConfigName"]]


def test_two_approvals_a_minute_apart_the_later_serves(synthesized: Synthesized, deploy_machine: MakeMachine) -> None:
    machine = machine_for(synthesized, deploy_machine, "dev")
    deploy(machine)
    world = machine.world
    world.sagemaker.start_system_update(world.endpoint_name, seconds=600)  # both arrive while it is busy
    earlier = machine.start(event_for(world.register(auc="0.94")))
    machine.run(until=machine.time.now + 60)
    later = machine.start(event_for(world.register(auc="0.95")))
    machine.run()
    assert world.serving_version() == 3
    assert [machine.result(e)["status"] for e in (earlier, later)] == ["SUCCEEDED", "SUCCEEDED"]
    assert outcomes(world)[1:] == ["[dev] model v2: superseded", "[dev] model v3: deployed"]
    assert len(world.sagemaker.accepted_updates) == 1


def test_two_approvals_a_minute_apart_on_a_free_endpoint(synthesized: Synthesized, deploy_machine: MakeMachine) -> None:
    machine = machine_for(synthesized, deploy_machine, "dev")
    deploy(machine)
    world = machine.world
    machine.start(event_for(world.register(auc="0.94")))
    machine.run(until=machine.time.now + 60)
    machine.start(event_for(world.register(auc="0.95")))
    machine.run()
    assert world.serving_version() == 3
    assert outcomes(world)[1:] == ["[dev] model v2: deployed", "[dev] model v3: deployed"]


def test_the_same_event_delivered_three_times(synthesized: Synthesized, deploy_machine: MakeMachine) -> None:
    machine = machine_for(synthesized, deploy_machine, "dev")
    deploy(machine)
    world = machine.world
    event = event_for(world.register(auc="0.94"))
    executions = [machine.start(event) for _ in range(3)]
    machine.run()
    assert [machine.result(e)["status"] for e in executions] == ["SUCCEEDED"] * 3
    assert len(world.sagemaker.accepted_updates) == 1
    assert world.serving_version() == 2
    assert sorted(outcomes(world)[1:]) == ["[dev] model v2: deployed", "[dev] model v2: noop", "[dev] model v2: noop"]


def test_the_first_deploy_event_delivered_three_times(synthesized: Synthesized, deploy_machine: MakeMachine) -> None:
    machine = machine_for(synthesized, deploy_machine, "dev")
    event = event_for(machine.world.register())
    for _ in range(3):
        machine.start(event)
    machine.run()
    creates = [name for name, _ in machine.world.sagemaker.calls if name == "create_endpoint"]
    assert len(machine.world.sagemaker.endpoints) == 1 and len(creates) >= 1
    assert "failed" not in " ".join(outcomes(machine.world))
    assert outcomes(machine.world).count("[dev] model v1: deployed") == 1


def test_re_approving_an_older_version(synthesized: Synthesized, deploy_machine: MakeMachine) -> None:
    machine = machine_for(synthesized, deploy_machine, "dev")
    deploy(machine)
    deploy(machine, auc="0.94")
    world = machine.world
    v1 = event_for(
        f"{world.endpoint()['EndpointArn'].split(':endpoint')[0]}:model-package/{world.settings['model_package_group_name']}/1"
    )
    world.approve(v1["detail"]["ModelPackageArn"], status="PendingManualApproval")
    machine.start(event_for(v1["detail"]["ModelPackageArn"], status="PendingManualApproval"))
    world.approve(v1["detail"]["ModelPackageArn"])
    execution = machine.start(event_for(v1["detail"]["ModelPackageArn"]))
    machine.run()
    assert machine.result(execution)["status"] == "SUCCEEDED"
    assert world.serving_version() == 1


def test_a_package_rejected_while_its_deployment_waits(synthesized: Synthesized, deploy_machine: MakeMachine) -> None:
    machine = machine_for(synthesized, deploy_machine, "dev")
    deploy(machine)
    world = machine.world
    world.sagemaker.start_system_update(world.endpoint_name, seconds=600)
    arn = world.register(auc="0.94")
    execution = machine.start(event_for(arn))
    machine.run(until=machine.time.now + 120)
    world.approve(arn, status="Rejected")
    machine.run()
    assert machine.result(execution)["status"] == "SUCCEEDED"
    assert world.serving_version() == 1
    assert outcomes(world)[-1] == "[dev] model v2: skipped"


def test_throttling_on_a_describe_call_is_retried(synthesized: Synthesized, deploy_machine: MakeMachine) -> None:
    machine = machine_for(synthesized, deploy_machine, "dev")
    machine.world.sagemaker.throttle("describe_model_package", times=2)
    execution = deploy(machine)
    assert machine.result(execution)["status"] == "SUCCEEDED"
    assert outcomes(machine.world) == ["[dev] model v1: deployed"]
    assert {2, 4} <= set(machine.time.waits)  # the state machine's Retry backoff, 2 s then 4 s


def test_an_error_after_update_endpoint_was_accepted_is_still_watched(
    synthesized: Synthesized, deploy_machine: MakeMachine
) -> None:
    machine = machine_for(synthesized, deploy_machine, "prod")
    deploy(machine)
    world = machine.world
    world.sagemaker.fail("add_tags", client_error("AddTags", "InternalFailure", "service unavailable", 500), times=2)
    execution = deploy(machine, auc="0.95")
    assert machine.result(execution)["status"] == "SUCCEEDED"
    assert world.serving_version() == 2
    assert outcomes(world)[-1] == "[prod] model v2: deployed"
    (target,) = world.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == "endpoint/mlops-prod/variant/AllTraffic"


def _names_for(world: World, package_arn: str) -> list[str]:
    """The model name the workflow derives for a package (what the double is told will not start)."""
    from constructs.model_deployment_lambda.model_deployment.constants import name_prefix
    from constructs.model_deployment_lambda.model_deployment.deployment_names import resource_name, settings_hash

    version = int(package_arn.rsplit("/", 1)[1])
    return [resource_name(name_prefix(world.endpoint_name), version, settings_hash(world.settings, package_arn))]
