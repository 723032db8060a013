"""Approvals through the deploy steps: a first approval, later ones overtaking earlier ones, re-approvals,
events out of order or in the same second, rejections and packages that are not this workflow's.

Each test drives the steps' `run` functions directly to pin one decision; `test_deploy_workflow_execution.py` runs
the synthesized state machine end to end.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from constructs.model_deployment_lambda.model_deployment import (
    conclude,
    prepare,
    rollout,
)
from constructs.model_deployment_lambda.model_deployment import deployment_names as names
from constructs.model_deployment_lambda.model_deployment.ledger import Ledger
from tests.infra.support.deploy_steps import (
    announce,
    deploy_version,
    make_world,
    moto_env,  # noqa: F401  (a fixture: the tests name it)
    run_to_end,
)
from tests.infra.support.deploy_world import event_for


@pytest.mark.usefixtures("moto_env")
def test_first_approval_creates_the_model_config_and_a_tagged_endpoint() -> None:
    world = make_world("dev")
    arn = world.register()
    state = prepare.run(event_for(arn), world.settings, world.clients())
    assert (state["action"], state["mode"]) == ("deploy", "create")
    state = rollout.run(state, world.settings, world.clients())
    assert state["rollout"] == "started"
    model = world.moto_sagemaker.describe_model(ModelName=state["model_name"])
    assert model["Containers"] == [{"ModelPackageName": arn}]
    endpoint = world.endpoint()
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("Creating", state["config_name"])
    tags = world.sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]
    assert {"Key": names.DEPLOYMENT_KEY_TAG, "Value": state["deployment_key"]} in tags


@pytest.mark.usefixtures("moto_env")
def test_first_approval_is_reported_as_deployed_with_version_and_auc() -> None:
    world = make_world("dev")
    state = deploy_version(world)
    (message,) = world.messages()
    assert message["subject"] == "[dev] model v1: deployed"
    assert (message["outcome"], message["model_package_version"], message["auc"]) == ("deployed", 1, "0.93")
    assert message["serving_endpoint_config"] == state["config_name"]


@pytest.mark.usefixtures("moto_env")
def test_an_approval_overtaken_by_a_later_one_is_superseded() -> None:
    world = make_world("dev")
    deploy_version(world)
    older_event = event_for(world.register(auc="0.94"))
    announce(world, event_for(world.register(auc="0.95")))  # its own execution records it first
    state = prepare.run(older_event, world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "superseded")
    assert "version 3 was approved later" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_an_approval_overtaken_while_starting_is_superseded_before_updating() -> None:
    world = make_world("dev")
    deploy_version(world)
    state = prepare.run(event_for(world.register(auc="0.94")), world.settings, world.clients())
    announce(world, event_for(world.register(auc="0.95")))  # approved between Prepare and StartRollout
    state = rollout.run(state, world.settings, world.clients())
    assert (state["rollout"], state["outcome"]) == ("concluded", "superseded")
    assert "update_endpoint" not in [name for name, _ in world.sagemaker.calls]


@pytest.mark.usefixtures("moto_env")
def test_re_approving_an_older_version_deploys_it_again() -> None:
    world = make_world("dev")
    v1 = deploy_version(world)
    deploy_version(world, auc="0.94")
    world.approve(v1["package_arn"], status="PendingManualApproval")
    announce(world, event_for(v1["package_arn"], status="PendingManualApproval"))
    world.approve(v1["package_arn"])
    state = prepare.run(event_for(v1["package_arn"]), world.settings, world.clients())
    assert (state["action"], state["mode"]) == ("deploy", "update")
    assert run_to_end(world, state)["outcome"] == "deployed"
    assert world.serving_version() == 1


@pytest.mark.usefixtures("moto_env")
def test_an_edit_of_an_older_approved_package_deploys_nothing() -> None:
    world = make_world("dev")
    v1 = deploy_version(world)
    deploy_version(world, auc="0.94")
    # Editing v1 (here its approval description) moves its LastModifiedTime and sends the same event, Approved.
    world.approve(v1["package_arn"])
    state = prepare.run(event_for(v1["package_arn"]), world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "noop")
    assert world.serving_version() == 2


@pytest.mark.usefixtures("moto_env")
def test_events_delivered_out_of_order_keep_the_newest_status() -> None:
    world = make_world("dev")
    arn = world.register()
    earlier = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert announce(world, event_for(arn))["action"] == "deploy"
    pending = event_for(arn, status="PendingManualApproval", at=earlier)  # made before the approval, late
    assert announce(world, pending)["outcome"] == "ignored"
    record = Ledger(world.dynamodb, world.settings["ledger_table_name"]).package(arn)
    assert record is not None and record.status == "Approved"


@pytest.mark.usefixtures("moto_env")
def test_a_re_approval_whose_approved_event_arrives_first_is_rolled_out_by_the_late_event() -> None:
    world = make_world("dev")
    v1 = deploy_version(world)
    deploy_version(world, auc="0.94")
    pending_at = datetime.now(timezone.utc)
    world.approve(v1["package_arn"], status="PendingManualApproval")
    world.approve(v1["package_arn"])
    approved = prepare.run(event_for(v1["package_arn"]), world.settings, world.clients())
    assert approved["outcome"] == "noop"  # without the Pending event it looks like an edit of v1
    late = prepare.run(
        event_for(v1["package_arn"], status="PendingManualApproval", at=pending_at), world.settings, world.clients()
    )
    assert late["action"] == "deploy"
    assert run_to_end(world, late)["outcome"] == "deployed"
    assert world.serving_version() == 1


@pytest.mark.usefixtures("moto_env")
def test_a_registration_and_an_approval_in_the_same_second_read_as_registered_then_approved() -> None:
    # An event's `time` has one-second resolution: a registration and an approval made in the same second tie.
    world = make_world("dev")
    arn = world.register(approve=False)
    second = datetime.now(timezone.utc).replace(microsecond=0)
    registered = prepare.run(event_for(arn, status="PendingManualApproval", at=second), world.settings, world.clients())
    assert registered["action"] == "conclude"
    world.approve(arn)
    state = prepare.run(event_for(arn, at=second), world.settings, world.clients())
    assert state["action"] == "deploy"
    assert run_to_end(world, state)["outcome"] == "deployed"


@pytest.mark.usefixtures("moto_env")
def test_rejecting_the_serving_version_keeps_it_serving_and_says_so() -> None:
    world = make_world("dev")
    v1 = deploy_version(world)
    world.approve(v1["package_arn"], status="Rejected")
    state = prepare.run(event_for(v1["package_arn"], status="Rejected"), world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "kept_serving")
    assert "still serves" in state["reason"] and "approve another version" in state["reason"]
    conclude.run(state, world.settings, world.clients())
    assert world.messages()[-1]["subject"] == "[dev] model v1: kept_serving"
    assert world.serving_version() == 1


@pytest.mark.usefixtures("moto_env")
def test_registering_or_rejecting_a_version_not_serving_publishes_nothing() -> None:
    world = make_world("dev")
    deploy_version(world)
    before = len(world.messages())
    arn = world.register(approve=False)
    for status in ("PendingManualApproval", "Rejected"):
        state = prepare.run(event_for(arn, status=status), world.settings, world.clients())
        assert state["outcome"] == "ignored"
        conclude.run(state, world.settings, world.clients())
    assert len(world.messages()) == before


@pytest.mark.usefixtures("moto_env")
def test_a_package_no_longer_approved_is_skipped() -> None:
    world = make_world("dev")
    arn = world.register()
    world.approve(arn, status="Rejected")
    state = prepare.run(event_for(arn), world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "skipped")
    assert "Rejected" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_package_of_another_group_is_skipped() -> None:
    world = make_world("dev")
    world.moto_sagemaker.create_model_package_group(ModelPackageGroupName="someone-else")
    arn = world.register(group="someone-else")
    state = prepare.run(event_for(arn, group="someone-else"), world.settings, world.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "skipped")


@pytest.mark.usefixtures("moto_env")
def test_an_event_without_a_package_arn_is_an_error() -> None:
    world = make_world("dev")
    with pytest.raises(ValueError, match="ModelPackageArn"):
        prepare.run({"detail": {}}, world.settings, world.clients())
