"""The synthesized deploy state machine under systematic faults: at-least-once tasks, failing calls, interleaving.

Every run of every scenario must satisfy the same invariants (`assert_invariants`): the endpoint ends on the latest
approval (or on the previous version with a report saying why); exactly one true report per approval; rollback
alarms exist whenever an update runs and no config or model in use is deleted (the endpoint double records both);
nothing the workflow made is leaked; autoscaling ends as configured; every request is one the API references
support. The harness applies the faults (`support/step_functions_harness.py`, `FaultPlan`); no handler knows about them.

The fault space, kept small enough for the normal suite (README, "Tests"). Faults are named by occurrence ("the
first call of each operation"), so one run covers every task and every AWS call of its scenario at once:
- every task state runs twice at its first and second invocation (its work done, then Lambda.ServiceException);
- the first call of every operation fails, throttled or with a 5xx in turn over the operations, and with the
  eventual-consistency error where the API reference documents one (CreateEndpoint, PutScalingPolicy); in
  another run the second call of every operation fails, each with the other kind (later calls: a retried step's,
  a poll's);
- with several executions, each is preempted at every AWS call, then at every second call (two different
  interleavings, none only at Wait states).
Three scenarios cover the workflow's paths: a first deploy delivered twice (create, duplicates, autoscaling),
two approvals and a duplicate on a serving prod endpoint (update, supersession, canary), and the runbook's rollback
approved while a rollout runs (the clean-up race). With MLOPS_EXHAUSTIVE_FAULTS=1 every single point of each
scenario's fault-free schedule is also tried alone (one task repeated, one call failing, one preemption): some
hundreds of runs, minutes, not for every `make test`. What neither mode searches: two faults at one operation in
one run beyond the above, a fault inside moto's own Step Functions service, and timing AWS has but the double lacks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest

from constructs.model_deployment_lambda.model_deployment.deployment_names import SERVED_TAG
from tests.infra.support.deploy_world import World, event_for, settings_for
from tests.infra.support.step_functions_harness import (
    CONSISTENCY_ERRORS,
    DeployMachine,
    FaultPlan,
    MachineFactory,
    deploy_machines,
)
from tests.infra.support.synthesis import Synthesized

MakeMachine = MachineFactory


@pytest.fixture
def deploy_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeMachine]:
    yield from deploy_machines(monkeypatch)


@dataclass
class Scenario:
    """Events to deliver (all at one simulated moment) after `setup` versions were deployed without faults."""

    environment: str
    setup: int  # versions deployed first, in order
    build: Callable[[World, list[str]], list[dict[str, Any]]]  # the events, from the world and the setup arns
    expected: Callable[[list[str], list[dict[str, Any]]], int]  # the version that must serve at the end
    executions: int  # how many the events start
    overrides: Mapping[str, Any] | None = None
    delays: tuple[float, ...] = ()  # simulated seconds after the first event each event arrives (default 0)


def _first_deploy_delivered_twice(world: World, arns: list[str]) -> list[dict[str, Any]]:
    event = event_for(world.register())
    return [event, event]


def _two_approvals_and_a_duplicate(world: World, arns: list[str]) -> list[dict[str, Any]]:
    second = event_for(world.register(auc="0.94"))
    third = event_for(world.register(auc="0.95"))
    return [second, third, third]


def _roll_back_while_a_rollout_runs(world: World, arns: list[str]) -> list[dict[str, Any]]:
    """The runbook's rollback: v1 approved again while v3 rolls out (events in that order)."""
    third = event_for(world.register(auc="0.95"))
    world.approve(arns[0], status="PendingManualApproval")
    pending = event_for(arns[0], status="PendingManualApproval")
    world.approve(arns[0])
    return [third, pending, event_for(arns[0])]


SCENARIOS = {
    "first-deploy-delivered-twice-prod": Scenario("prod", 0, _first_deploy_delivered_twice, lambda a, e: 1, 2),
    "two-approvals-and-a-duplicate-prod": Scenario("prod", 1, _two_approvals_and_a_duplicate, lambda a, e: 3, 3),
    "roll-back-while-a-rollout-runs-dev": Scenario(
        "dev",
        2,
        _roll_back_while_a_rollout_runs,
        lambda a, e: 1,
        3,
        {"previous_versions_kept": 1},  # v1 is old enough to be cleaned up, v2 is kept
        # v1's events arrive while v3 rolls out, on the minute: its polls meet v3's checks at the same moments.
        (0, 120, 120),
    ),
}
TASKS = ("Prepare", "StartRollout", "CheckEndpoint", "Conclude")


class Before(NamedTuple):
    """The scene when the scenario's events are delivered."""

    published: int  # messages on the topic so far
    serving_version: int | None  # None: no endpoint yet


def run_scenario(
    synthesized: Synthesized, make: MakeMachine, scenario: Scenario, plan: FaultPlan
) -> tuple[DeployMachine, list[dict[str, Any]], list[str], Before]:
    """Set the scene without faults, then deliver the scenario's events under `plan`; also the scene before them."""
    reused = getattr(make, "reused_clients", None)
    make.reset()
    world = World(settings_for(scenario.environment, **(scenario.overrides or {})), clients=reused)
    make.reused_clients = world.reused_clients
    plan.active = False
    machine = make(synthesized.templates[scenario.environment]["Deployment"], world, plan)
    arns = []
    for index in range(scenario.setup):
        arns.append(world.register(auc=f"0.9{index}"))
        machine.start(event_for(arns[-1]))
        machine.run()
    events = scenario.build(world, arns)
    serving = world.serving_version() if world.endpoint_name in world.sagemaker.endpoints else None
    before = Before(len(world.messages()), serving)
    plan.active = True
    start = machine.time.now
    for index, event in enumerate(events):
        delay = scenario.delays[index] if index < len(scenario.delays) else 0
        if delay:
            machine.run(until=start + delay)
        machine.start(event)
    machine.run()
    plan.active = False
    return machine, events, arns, before


def fault_plans(executions: int) -> list[tuple[str, FaultPlan]]:
    """The normal suite's fault space of a scenario with `executions` executions (see the module's docstring)."""
    plans = [
        ("every task runs twice", FaultPlan(task_retries_by_occurrence={(t, n) for t in TASKS for n in (1, 2)})),
        ("the first call of each operation fails", FaultPlan(aws_faults_by_occurrence={("*", "*", 1): "alternate"})),
        ("the second call of each operation fails", FaultPlan(aws_faults_by_occurrence={("*", "*", 2): "alternate"})),
    ]
    if executions > 1:
        plans += [(f"preempted every {n} calls", FaultPlan(preempt_every=n)) for n in (1, 2)]
    return plans


def exhaustive_fault_plans(baseline: FaultPlan) -> list[tuple[str, FaultPlan]]:
    """Every single point of a fault-free schedule, one per run (MLOPS_EXHAUSTIVE_FAULTS=1)."""
    plans = [(f"invocation {i} runs twice", FaultPlan(task_retries={i})) for i in range(len(baseline.invocations))]
    for index, (_, service, operation) in enumerate(baseline.calls):
        kinds = ["throttle", "5xx"] + (["consistency"] if (service, operation) in CONSISTENCY_ERRORS else [])
        plans += [(f"call {index} {operation}: {kind}", FaultPlan(aws_faults={index: kind})) for kind in kinds]
        plans.append((f"preempted at call {index} {operation}", FaultPlan(preempt_at={index})))
    return plans


def assert_invariants(
    machine: DeployMachine, events: list[dict[str, Any]], expected_version: int, before: Before
) -> None:
    world = machine.world
    where = f"faults: {machine.plan.injected or machine.plan.preempt_at}"
    messages = world.messages()[before.published :]
    # Exactly one true report per approval (duplicates and non-approvals say nothing or noop).
    approvals = {(e["detail"]["ModelPackageVersion"], e["time"]) for e in events if _is_approval(e)}
    reports: dict[int, list[str]] = {}
    for message in messages:
        # ReportUnreportedFailure's message names no version: it is a report lost, never acceptable here.
        assert "model_package_version" in message, f"Conclude failed: {message}; {where}"
        duplicate = message["outcome"] == "noop" and message["reason"].startswith("duplicate event")
        if not duplicate:
            reports.setdefault(message["model_package_version"], []).append(message["outcome"])
    for version, _ in approvals:
        assert len(reports.get(version, [])) == 1, f"v{version} reported {reports.get(version)}; {where}"
    # The endpoint ends on the latest approval, or on the previous version with a report saying why.
    assert world.endpoint_name in world.sagemaker.endpoints, f"no endpoint {reports}; {where}"
    endpoint = world.endpoint()
    assert endpoint["EndpointStatus"] == "InService", where
    latest = reports.get(expected_version, [])
    if world.serving_version() != expected_version:
        assert latest and latest[0] in ("rolled_back", "failed"), f"serving v{world.serving_version()}; {where}"
    else:
        # `noop` only if it served already: a version newly serving was deployed, and says so (a retried StartRollout
        # that took its own rollout for someone else's ended `noop` while the rollout went on).
        truth = ["noop"] if before.serving_version == expected_version else ["deployed"]
        assert latest == truth, f"{reports}; {where}"
    # Every execution ended (no report was lost), none without its report.
    for execution in machine.executions:
        result = machine.result(execution)
        assert result["status"] in ("SUCCEEDED", "FAILED"), where
        assert result.get("error") != "ReportingFailed", where
    # No config or model in use deleted; rollback alarms present whenever an update ran; requests supported.
    assert world.sagemaker.violations == [], where
    assert world.unsupported_fields == [], where
    # Nothing the workflow made is leaked: no alarm, no claim left active, every model with its config.
    assert world.alarm_names() == [], where
    assert world.active_claims() == [], where
    configs = world.config_names()
    assert set(world.model_names()) == set(configs), where
    serving = endpoint["EndpointConfigName"]
    never_served = [c for c in configs if c != serving and SERVED_TAG not in world.config_tags(c)]
    unreported = {version for version, outcomes in reports.items() if "deployed" not in outcomes}
    assert all(_version(c) in unreported for c in never_served), f"{never_served} left; {where}"
    # Autoscaling ends as configured.
    targets = world.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    scaling = world.settings["autoscaling"]
    if scaling:
        assert len(targets) == 1, f"scalable targets {targets}; {where}"
        (target,) = targets
        assert (target["MinCapacity"], target["MaxCapacity"]) == (scaling["min_instances"], scaling["max_instances"])
        assert world.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"], where
    else:
        assert targets == [], where


def _is_approval(event: Mapping[str, Any]) -> bool:
    return event["detail"]["ModelApprovalStatus"] == "Approved"


def _version(config_name: str) -> int:
    return int(config_name.rsplit("-v", 1)[1].split("-")[0])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_task_and_call_under_faults_keeps_the_invariants(
    synthesized: Synthesized, deploy_machine: MakeMachine, name: str
) -> None:
    scenario = SCENARIOS[name]
    failures = []
    for label, plan in fault_plans(scenario.executions):
        machine, events, arns, before = run_scenario(synthesized, deploy_machine, scenario, plan)
        try:
            assert plan.injected or plan.preempt_every, "nothing was injected"
            assert_invariants(machine, events, scenario.expected(arns, events), before)
        except AssertionError as failure:
            failures.append(f"{label}: {failure}")
    assert not failures, f"{len(failures)} schedules broke an invariant:\n" + "\n".join(failures)


@pytest.mark.parametrize("kind", ["throttle", "5xx"])
@pytest.mark.parametrize("name", ["first-deploy-delivered-twice-prod", "two-approvals-and-a-duplicate-prod"])
def test_a_failed_create_endpoint_config_leaves_no_model_without_its_config(
    synthesized: Synthesized, deploy_machine: MakeMachine, name: str, kind: str
) -> None:
    """Schedules the exhaustive mode reported (a model left without its config): CreateModel succeeded, the first
    CreateEndpointConfig failed once. On a first deploy the retried StartRollout must finish the pair; with two
    approvals, the retry finds the later approval and ends `superseded`, and its Conclude must remove the half-made
    pair (the later approval's clean-up may run first, while the pair is still claimed)."""
    scenario = SCENARIOS[name]
    plan = FaultPlan(aws_faults_by_occurrence={("sagemaker", "CreateEndpointConfig", 1): kind})
    machine, events, arns, before = run_scenario(synthesized, deploy_machine, scenario, plan)
    assert [fault.split(" ", 2)[2] for fault in plan.injected] == [f"sagemaker.CreateEndpointConfig: {kind}"]
    assert_invariants(machine, events, scenario.expected(arns, events), before)


@pytest.mark.skipif(not os.environ.get("MLOPS_EXHAUSTIVE_FAULTS"), reason="minutes: MLOPS_EXHAUSTIVE_FAULTS=1")
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_single_point_of_the_schedule_keeps_the_invariants(
    synthesized: Synthesized, deploy_machine: MakeMachine, name: str
) -> None:
    scenario = SCENARIOS[name]
    baseline = FaultPlan()
    machine, events, arns, before = run_scenario(synthesized, deploy_machine, scenario, baseline)
    assert_invariants(machine, events, scenario.expected(arns, events), before)
    failures = []
    for label, plan in exhaustive_fault_plans(baseline):
        machine, events, arns, before = run_scenario(synthesized, deploy_machine, scenario, plan)
        try:
            assert_invariants(machine, events, scenario.expected(arns, events), before)
        except AssertionError as failure:
            failures.append(f"{label}: {failure}")
    assert not failures, f"{len(failures)} schedules broke an invariant:\n" + "\n".join(failures)
