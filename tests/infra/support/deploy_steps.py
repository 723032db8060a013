"""The deploy workflow's Lambda steps driven one at a time over a World (support/deploy_world.py): the moves the
step tests (tests/infra/test_deploy_*.py) share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from constructs.model_deployment_lambda.model_deployment import (
    check,
    conclude,
    prepare,
    rollout,
)
from tests.infra.support.deploy_world import World, event_for, settings_for


@pytest.fixture
def moto_env() -> Iterator[None]:
    with mock_aws():
        yield


def make_world(environment: str, **overrides: Any) -> World:
    return World(settings_for(environment, **overrides))


def run_to_end(world: World, state: dict[str, Any]) -> dict[str, Any]:
    """StartRollout, let SageMaker finish, CheckEndpoint, Conclude."""
    state = rollout.run(state, world.settings, world.clients())
    world.sagemaker.settle()
    state = check.run(state, world.settings, world.clients())
    return conclude.run(state, world.settings, world.clients())


def announce(world: World, event: dict[str, Any]) -> dict[str, Any]:
    """The first Prepare of an event's own execution, which records it in the ledger."""
    return prepare.run(event, world.settings, world.clients())


def deploy_version(world: World, auc: str = "0.93") -> dict[str, Any]:
    """Register, approve and deploy a new version to the end; the endpoint ends InService on it."""
    state = prepare.run(event_for(world.register(auc=auc)), world.settings, world.clients())
    assert state["action"] == "deploy", state["reason"]
    state = run_to_end(world, state)
    assert state["outcome"] == "deployed", state["reason"]
    return state
