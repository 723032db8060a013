"""Every deploy step runs at least once: duplicate executions and events, a step run again after its call was
accepted, reads not yet consistent, an endpoint unreadable for a moment, throttling that outlasts botocore.

Each test drives the steps' `run` functions directly to pin one decision; `test_deploy_workflow_execution.py` runs
the synthesized state machine end to end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from constructs.model_deployment_lambda.model_deployment import (
    check,
    conclude,
    constants,
    prepare,
    rollout,
)
from constructs.model_deployment_lambda.model_deployment.aws_answers import (
    AwsThrottled,
    AwsUnavailable,
    NotYetConsistent,
)
from constructs.model_deployment_lambda.model_deployment.aws_clients import Clients
from constructs.model_deployment_lambda.model_deployment.step_handler import step_handler
from tests.infra.support.deploy_steps import (
    deploy_version,
    make_world,
    moto_env,  # noqa: F401  (a fixture: the tests name it)
    run_to_end,
)
from tests.infra.support.deploy_world import REGION, event_for, settings_for
from twin.sagemaker_endpoint_double import client_error


@pytest.mark.usefixtures("moto_env")
def test_a_model_and_config_already_made_by_a_duplicate_execution_are_used_as_they_are() -> None:
    world = make_world("dev")
    state = prepare.run(event_for(world.register()), world.settings, world.clients())
    rollout.ensure_model(world.sagemaker, world.settings, state)  # the twin execution got there first
    rollout.ensure_endpoint_config(world.sagemaker, world.settings, state)
    state = rollout.run(state, world.settings, world.clients())
    assert state["rollout"] == "started"
    created = [name for name, _ in world.sagemaker.calls if name in ("create_model", "create_endpoint_config")]
    assert created == ["create_model", "create_endpoint_config"] * 2  # the second pair was refused, and accepted


@pytest.mark.usefixtures("moto_env")
def test_start_rollout_run_again_after_its_create_was_accepted_watches_its_own_create() -> None:
    world = make_world("dev")
    state = prepare.run(event_for(world.register()), world.settings, world.clients())
    rollout.run(dict(state), world.settings, world.clients())  # accepted; then Lambda.ServiceException
    again = rollout.run(dict(state), world.settings, world.clients())  # Step Functions' retry, same input
    assert again["rollout"] == "started"
    assert [name for name, _ in world.sagemaker.calls].count("create_endpoint") == 1


@pytest.mark.usefixtures("moto_env")
def test_a_duplicate_execution_that_reaches_start_rollout_second_ends_noop() -> None:
    world = make_world("dev")
    event = event_for(world.register())
    first = prepare.run(event, world.settings, world.clients())
    twin = prepare.run(event, world.settings, world.clients())  # another delivery: another execution
    rollout.run(first, world.settings, world.clients())
    state = rollout.run(twin, world.settings, world.clients())
    assert (state["rollout"], state["outcome"]) == ("concluded", "noop")
    assert "duplicate event" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_duplicate_event_of_a_rolled_out_approval_is_a_noop() -> None:
    world = make_world("dev")
    first = deploy_version(world)
    state = prepare.run(event_for(first["package_arn"]), world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "noop")
    assert "duplicate event" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_duplicate_while_its_twin_rolls_out_is_a_noop() -> None:
    world = make_world("dev")
    deploy_version(world)
    event = event_for(world.register(auc="0.94"))
    state = prepare.run(event, world.settings, world.clients())
    rollout.run(state, world.settings, world.clients())
    twin = prepare.run(event, world.settings, world.clients())
    assert (twin["outcome"], world.endpoint()["EndpointStatus"]) == ("noop", "Updating")
    assert "duplicate event" in twin["reason"]


@pytest.mark.usefixtures("moto_env")
def test_start_rollout_run_again_after_its_update_was_accepted_watches_its_own_update() -> None:
    world = make_world("prod")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    rollout.run(dict(state), world.settings, world.clients())  # accepted; then the task is retried
    again = rollout.run(dict(state), world.settings, world.clients())
    assert again["rollout"] == "started"
    assert len(world.sagemaker.accepted_updates) == 1
    assert run_to_end(world, again)["outcome"] == "deployed"


@pytest.mark.usefixtures("moto_env")
def test_conclude_run_again_after_it_published_does_not_publish_twice() -> None:
    world = make_world("dev")
    state = prepare.run(event_for(world.register()), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    world.sagemaker.settle()
    state = check.run(state, world.settings, world.clients())
    first = conclude.run(dict(state), world.settings, world.clients())
    again = conclude.run(dict(state), world.settings, world.clients())
    assert (first["outcome"], again["outcome"]) == ("deployed", "deployed")
    assert [m["subject"] for m in world.messages()] == ["[dev] model v1: deployed"]


@pytest.mark.usefixtures("moto_env")
def test_create_endpoint_not_seeing_the_new_config_yet_runs_the_step_again() -> None:
    world = make_world("dev")
    state = prepare.run(event_for(world.register()), world.settings, world.clients())
    world.sagemaker.fail("create_endpoint", world.sagemaker.not_yet_consistent("CreateEndpoint", "endpoint-config"))
    with pytest.raises(NotYetConsistent):
        rollout.run(dict(state), world.settings, world.clients())
    assert rollout.run(dict(state), world.settings, world.clients())["rollout"] == "started"


@pytest.mark.usefixtures("moto_env")
def test_an_unreadable_endpoint_is_one_more_check_not_a_failure() -> None:
    world = make_world("dev")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    world.sagemaker.throttle("describe_endpoint", times=1)
    state = check.run(state, world.settings, world.clients())
    assert state["rollout"] == "in_progress"
    assert "could not read the endpoint" in state["reason"]


def test_the_state_machine_retries_exactly_the_errors_the_steps_raise_for_a_retry() -> None:
    # The construct reads the names from constants.py; the steps raise these classes.
    raised = (AwsThrottled, AwsUnavailable, NotYetConsistent)
    assert tuple(error.__name__ for error in raised) == constants.RETRIED_STEP_ERRORS


@pytest.mark.usefixtures("moto_env")
def test_throttling_that_outlasts_botocore_becomes_the_retried_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(event: Any, settings: Any, aws: Clients) -> dict[str, Any]:
        raise client_error("DescribeModelPackage", "ThrottlingException", "Rate exceeded")

    monkeypatch.setenv("DEPLOY_SETTINGS", json.dumps(settings_for("dev")))
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with pytest.raises(AwsThrottled):
        step_handler(throttled)({}, None)
