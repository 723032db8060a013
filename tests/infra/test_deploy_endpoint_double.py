"""The endpoint-lifecycle double's rules (twin/sagemaker_endpoint_double.py) as the deploy steps meet them:
instance counts across updates, the requests SageMaker refuses, an endpoint left UPDATE_ROLLBACK_FAILED.

Each test drives the steps' `run` functions directly to pin one decision; `test_deploy_workflow_execution.py` runs
the synthesized state machine end to end.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from constructs.model_deployment_lambda.model_deployment import (
    constants,
    prepare,
)
from constructs.model_deployment_lambda.model_deployment import deployment_names as names
from constructs.model_deployment_lambda.model_deployment import endpoint_requests as requests
from tests.infra.support.deploy_steps import (
    deploy_version,
    make_world,
    moto_env,  # noqa: F401  (a fixture: the tests name it)
    run_to_end,
)
from tests.infra.support.deploy_world import World, event_for


@pytest.mark.usefixtures("moto_env")
def test_an_update_keeps_the_autoscaled_instance_count_when_it_retains_variant_properties() -> None:
    world = make_world("prod")
    deploy_version(world)
    world.sagemaker.set_instance_count(world.endpoint_name, 5)  # autoscaling scaled out
    deploy_version(world, auc="0.94")
    assert world.endpoint()["ProductionVariants"][0]["CurrentInstanceCount"] == 5


@pytest.mark.usefixtures("moto_env")
def test_an_update_changing_data_capture_starts_from_the_configs_count() -> None:
    world = make_world("prod")
    deploy_version(world)
    world.sagemaker.set_instance_count(world.endpoint_name, 5)
    world.settings["data_capture_percent"] = 5  # the new config captures differently: nothing retained
    deploy_version(world, auc="0.94")
    assert world.endpoint()["ProductionVariants"][0]["CurrentInstanceCount"] == world.settings["instance_count"]


@pytest.mark.usefixtures("moto_env")
def test_the_double_refuses_a_canary_larger_than_half_the_capacity() -> None:
    world = make_world("prod")
    first = deploy_version(world)
    request = requests.update_endpoint_request(world.settings, first["config_name"])
    request["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["CanarySize"]["Value"] = 60
    for alarm in requests.rollback_alarm_requests(world.settings, first["config_name"]):
        world.cloudwatch.put_metric_alarm(**alarm)
    with pytest.raises(ClientError, match="outside 1-50 %"):
        world.sagemaker.update_endpoint(**request)


@pytest.mark.usefixtures("moto_env")
def test_the_double_refuses_an_update_whose_rollback_alarms_do_not_exist() -> None:
    world = make_world("dev")
    first = deploy_version(world)
    with pytest.raises(ClientError, match="Could not find CloudWatch alarms"):
        world.sagemaker.update_endpoint(**requests.update_endpoint_request(world.settings, first["config_name"]))


@pytest.mark.usefixtures("moto_env")
def test_the_double_refuses_to_delete_a_busy_endpoint() -> None:
    world = make_world("dev")
    deploy_version(world)
    world.sagemaker.start_system_update(world.endpoint_name)
    with pytest.raises(ClientError, match="Cannot delete in-progress endpoint"):
        world.sagemaker.delete_endpoint(EndpointName=world.endpoint_name)


@pytest.mark.usefixtures("moto_env")
def test_an_endpoint_left_update_rollback_failed_is_updated_out_of_it_by_the_next_approval() -> None:
    world = make_world("dev")
    deploy_version(world)
    world.sagemaker.rollbacks_fail = True
    arn = world.register(auc="0.94")
    world.sagemaker.failing_models.update({name: "ping health check failed" for name in _model_names(world, arn)})
    state = run_to_end(world, prepare.run(event_for(arn), world.settings, world.clients()))
    assert (state["outcome"], world.endpoint()["EndpointStatus"]) == ("failed", "UpdateRollbackFailed")
    assert "rollback failed too" in state["reason"]
    world.sagemaker.rollbacks_fail = False
    state = deploy_version(world, auc="0.95")
    assert (world.endpoint()["EndpointStatus"], world.serving_version()) == ("InService", 3)


def _model_names(world: World, package_arn: str) -> list[str]:
    version = int(package_arn.rsplit("/", 1)[1])
    return [
        names.resource_name(
            constants.name_prefix(world.endpoint_name), version, names.settings_hash(world.settings, package_arn)
        )
    ]
