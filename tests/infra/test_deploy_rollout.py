"""Rollouts and their outcomes: the blue/green update and its rollback alarms, deployed, rolled back or failed,
a busy endpoint, a failed endpoint made again, and autoscaling registered, paused and restored.

Each test drives the steps' `run` functions directly to pin one decision; `test_deploy_workflow_execution.py` runs
the synthesized state machine end to end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from constructs.model_deployment_lambda.model_deployment import (
    check,
    conclude,
    constants,
    prepare,
    rollout,
)
from constructs.model_deployment_lambda.model_deployment import endpoint_requests as requests
from tests.infra.support.deploy_steps import (
    deploy_version,
    make_world,
    moto_env,  # noqa: F401  (a fixture: the tests name it)
    run_to_end,
)
from tests.infra.support.deploy_world import event_for
from twin.sagemaker_endpoint_double import client_error


@pytest.mark.parametrize("environment", ["dev", "stg", "prod"])
@pytest.mark.usefixtures("moto_env")
def test_an_update_sends_the_environments_blue_green_config_with_the_new_fleets_alarms(environment: str) -> None:
    world = make_world(environment)
    first = deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    (update,) = [params for name, params in world.sagemaker.calls if name == "update_endpoint"]
    serving = world.sagemaker.describe_endpoint_config(EndpointConfigName=first["config_name"])
    assert update == requests.update_endpoint_request(world.settings, state["config_name"], serving)
    assert world.alarm_names() == sorted(requests.rollback_alarm_names(state["config_name"]))
    assert world.endpoint()["PendingDeploymentSummary"]["EndpointConfigName"] == state["config_name"]
    assert world.endpoint()["EndpointConfigName"] == first["config_name"]


@pytest.mark.usefixtures("moto_env")
def test_no_update_starts_without_its_rollback_alarms(monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world("dev")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())

    def refuse(**_: Any) -> None:
        raise client_error("PutMetricAlarm", "AccessDenied", "not allowed")

    monkeypatch.setattr(world.cloudwatch, "put_metric_alarm", refuse)
    with pytest.raises(ClientError, match="AccessDenied"):
        rollout.run(state, world.settings, world.clients())
    assert "update_endpoint" not in [name for name, _ in world.sagemaker.calls]


@pytest.mark.usefixtures("moto_env")
def test_an_update_confirmed_serving_is_deployed_and_cleans_up_beyond_the_kept_versions() -> None:
    world = make_world("dev", previous_versions_kept=1)
    served = [deploy_version(world)["config_name"]]
    for auc in ("0.94", "0.95"):
        state = deploy_version(world, auc=auc)
        served.append(state["config_name"])
    remaining = {c["EndpointConfigName"] for c in world.moto_sagemaker.list_endpoint_configs()["EndpointConfigs"]}
    models = {m["ModelName"] for m in world.moto_sagemaker.list_models()["Models"]}
    assert remaining == set(served[1:]) == models  # v1 went once v3 served; v2 is the one kept to roll back to
    assert state["deleted_configs"] == [served[0]]
    assert world.alarm_names() == []  # every rollout's alarms went with its conclusion


@pytest.mark.usefixtures("moto_env")
def test_an_alarm_during_the_bake_is_reported_as_rolled_back() -> None:
    world = make_world("prod")
    first = deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.95")), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    world.set_alarm(requests.rollback_alarm_names(state["config_name"])[0])
    world.sagemaker.settle()
    state = check.run(state, world.settings, world.clients())
    state = conclude.run(state, world.settings, world.clients())
    assert state["outcome"] == "rolled_back"
    message = world.messages()[-1]
    assert message["subject"] == "[prod] model v2: rolled_back"
    assert message["serving_endpoint_config"] == first["config_name"]
    assert "5xx-error-rate" in message["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_new_fleet_that_does_not_start_is_failed_with_sagemakers_reason() -> None:
    world = make_world("stg")
    first = deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.95")), world.settings, world.clients())
    world.sagemaker.failing_models[state["model_name"]] = "The primary container did not pass the ping health check"
    state = run_to_end(world, state)
    assert state["outcome"] == "failed"
    assert "did not pass the ping health check" in state["reason"]
    assert world.endpoint()["EndpointConfigName"] == first["config_name"]


@pytest.mark.usefixtures("moto_env")
def test_a_rollout_followed_by_a_later_one_between_two_checks_is_reported_as_what_it_was() -> None:
    world = make_world("dev")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    world.sagemaker.settle()
    later = prepare.run(event_for(world.register(auc="0.95")), world.settings, world.clients())
    rollout.run(later, world.settings, world.clients())  # the later rollout starts before our next check
    state = check.run(state, world.settings, world.clients())
    assert state["outcome"] == "deployed"
    assert "a later rollout" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_busy_endpoint_makes_the_workflow_wait() -> None:
    world = make_world("dev")
    deploy_version(world)
    world.sagemaker.start_system_update(world.endpoint_name)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    assert (state["action"], state["busy_checks"]) == ("wait", 1)
    world.sagemaker.settle()
    state = prepare.run(state, world.settings, world.clients())
    assert state["action"] == "deploy"


@pytest.mark.usefixtures("moto_env")
def test_an_endpoint_busy_too_long_ends_the_workflow_with_a_clear_reason() -> None:
    world = make_world("dev")
    deploy_version(world)
    world.sagemaker.start_system_update(world.endpoint_name)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    state["busy_checks"] = constants.busy_limit(world.settings)
    state = prepare.run(state, world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "failed")
    assert "still SystemUpdating after" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_failed_endpoint_is_deleted_and_created_again() -> None:
    world = make_world("dev")
    state = prepare.run(event_for(world.register()), world.settings, world.clients())
    world.sagemaker.failing_models[state["model_name"]] = "model.tar.gz not found"
    run_to_end(world, state)
    assert world.endpoint()["EndpointStatus"] == "Failed"
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    assert state["mode"] == "recreate"
    state = rollout.run(state, world.settings, world.clients())
    assert state["rollout"] == "busy"
    world.sagemaker.settle()
    state = prepare.run(state, world.settings, world.clients())
    assert (state["action"], state["mode"]) == ("deploy", "create")


@pytest.mark.usefixtures("moto_env")
def test_a_step_that_failed_is_reported_as_failed_with_its_error() -> None:
    world = make_world("dev")
    arn = world.register()
    caught = {
        **event_for(arn),
        "error": {"Error": "ClientError", "Cause": json.dumps({"errorMessage": "AccessDenied on CreateModel"})},
    }
    state = conclude.run(caught, world.settings, world.clients())
    assert state["outcome"] == "failed"
    (message,) = world.messages()
    assert message["reason"] == "the workflow failed: ClientError: AccessDenied on CreateModel"
    assert message["model_package_arn"] == arn


@pytest.mark.usefixtures("moto_env")
def test_prod_registers_tagged_autoscaling_on_the_variant_once_serving() -> None:
    world = make_world("prod")
    deploy_version(world)
    (target,) = world.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == "endpoint/mlops-prod/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    (policy,) = world.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 1000.0


@pytest.mark.usefixtures("moto_env")
def test_autoscaling_paused_for_an_instance_type_change_is_restored_after_a_rollback() -> None:
    world = make_world("prod")
    deploy_version(world)
    world.settings = {**world.settings, "instance_type": "ml.m5.2xlarge"}
    state = prepare.run(event_for(world.register(auc="0.95")), world.settings, world.clients())
    state = rollout.run(state, world.settings, world.clients())
    assert state["autoscaling_paused"] is True
    assert world.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    world.set_alarm(requests.rollback_alarm_names(state["config_name"])[1])
    world.sagemaker.settle()
    state = conclude.run(check.run(state, world.settings, world.clients()), world.settings, world.clients())
    assert state["outcome"] == "rolled_back"
    assert len(world.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]) == 1


@pytest.mark.usefixtures("moto_env")
def test_dev_registers_no_autoscaling() -> None:
    world = make_world("dev")
    deploy_version(world)
    assert world.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
