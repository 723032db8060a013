"""How simulated time moves a SageMaker endpoint through its phases, as AWS documents them.

The endpoint double (sagemaker_endpoint_double.py) answers the calls that start an operation; here each operation
is a list of phases (create, provision, bake, terminate, rollback, delete, system_update) that `advance(seconds)`
walks through, and each phase's end sets what DescribeEndpoint shows next. Nothing sleeps.

- [Blue/green] https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green.html
  The new (green) fleet is provisioned, traffic shifts in the routing's steps, each followed by a baking period
  (WaitIntervalInSeconds) during which the auto-rollback alarms are watched, then TerminationWaitInSeconds
  before the old fleet goes; the endpoint's config switches only when the deployment completes.
- [Auto-rollback] https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html
  An alarm in ALARM during the monitoring period starts a complete rollback to the old fleet; one deleted while
  the update runs is recorded (nothing could roll the update back).
- [DescribeEndpoint] https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html
  FailureReason "if the status is Failed, or the status is InService but update operation fails".
- [RetainAllVariantProperties] (UpdateEndpoint): true keeps the variant's current instance count (what
  autoscaling set); false takes the new config's InitialInstanceCount.
- [Rolling] https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-rolling.html
  UpdateRollbackFailed: an update and its rollback both failed, fleets mixed in service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends

PROVISION_SECONDS = 300  # creating an endpoint or a green fleet
ROLLBACK_SECONDS = 120
DELETE_SECONDS = 60


@dataclass
class Phase:
    name: str  # create, provision, bake, terminate, rollback, delete, system_update
    seconds: float
    status: str


@dataclass
class Endpoint:
    name: str
    arn: str
    config: str
    status: str
    created: datetime
    tags: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    pending: str | None = None  # the config a blue/green update is rolling out
    pending_since: datetime | None = None
    alarms: list[str] = field(default_factory=list)
    last_deployment_config: dict[str, Any] | None = None
    phases: list[Phase] = field(default_factory=list)
    instance_count: int = 1
    retain_count: bool = False  # the running update keeps instance_count ([RetainAllVariantProperties])


class EndpointLifecycle:
    """The endpoints and simulated time: what `advance` does to each, and the test controls that steer it."""

    def __init__(self, moto_client: Any, region: str, account: str) -> None:
        self._moto = moto_client
        self._region = region
        self._account = account
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)
        self.endpoints: dict[str, Endpoint] = {}
        self.failing_models: dict[str, str] = {}  # model name -> why its container does not start
        self.on_bake: Callable[[Endpoint], None] | None = None  # e.g. set an alarm to ALARM while it bakes
        self.rollbacks_fail = False  # the next rollback fails too: UpdateRollbackFailed ([Rolling])
        # Rules for callers that a workflow broke ([DeleteEndpointConfig], rollback alarms gone mid-update):
        # recorded, since an exception inside a Lambda step would only become one more reported failure.
        self.violations: list[str] = []

    def advance(self, seconds: float) -> None:
        """Let `seconds` of simulated time pass: every endpoint moves on through its phases."""
        self.now += timedelta(seconds=seconds)
        for endpoint in list(self.endpoints.values()):
            self._progress(endpoint, seconds)

    def settle(self) -> None:
        """Let every running operation finish (as if the workflow had not looked for a long while)."""
        while any(endpoint.phases for endpoint in self.endpoints.values()):
            self.advance(60)

    def start_system_update(self, endpoint_name: str, seconds: float = 600) -> None:
        """SageMaker patches the instances on its own ([DescribeEndpoint]: SystemUpdating)."""
        endpoint = self.endpoints[endpoint_name]
        endpoint.status = "SystemUpdating"
        endpoint.phases = [Phase("system_update", seconds, "SystemUpdating")]

    def set_instance_count(self, endpoint_name: str, count: int) -> None:
        """Autoscaling moved the variant's instance count."""
        self.endpoints[endpoint_name].instance_count = count

    def _progress(self, endpoint: Endpoint, seconds: float) -> None:
        if endpoint.pending and endpoint.status == "Updating":
            gone = sorted(set(endpoint.alarms) - set(self._existing_alarms(endpoint.alarms)))
            if gone:  # the update runs unguarded: no alarm can roll it back
                self.violations.append(f"rollback alarms {gone} deleted while {endpoint.pending} rolls out")
        while endpoint.phases and seconds >= 0:
            phase = endpoint.phases[0]
            if phase.name in ("bake", "terminate"):
                if self.on_bake is not None:
                    self.on_bake(endpoint)
                if self._alarm_in_alarm(endpoint):
                    self._roll_back(endpoint, f"rollback alarm in ALARM: {', '.join(self._alarm_in_alarm(endpoint))}")
                    continue
            if seconds < phase.seconds:
                phase.seconds -= seconds
                return
            seconds -= phase.seconds
            endpoint.phases.pop(0)
            self._finish(endpoint, phase)
            if not endpoint.phases or seconds == 0:
                return

    def _finish(self, endpoint: Endpoint, phase: Phase) -> None:
        if phase.name == "create":
            failure = self._start_failure(endpoint.config)
            endpoint.status, endpoint.failure = ("Failed", failure) if failure else ("InService", None)
        elif phase.name == "provision":
            failure = self._start_failure(endpoint.pending)
            if failure:  # [DescribeEndpoint]: InService, with FailureReason, when an update fails
                self._roll_back(endpoint, failure)
        elif phase.name == "terminate" and not endpoint.phases:
            if not endpoint.retain_count and endpoint.pending:
                endpoint.instance_count = self._initial_count(endpoint.pending)
            endpoint.config, endpoint.pending, endpoint.status = endpoint.pending, None, "InService"
        elif phase.name == "rollback":
            endpoint.pending = None
            if self.rollbacks_fail:  # [Rolling]: both failed; the remedy is another UpdateEndpoint
                endpoint.status = "UpdateRollbackFailed"
                endpoint.failure = f"{endpoint.failure}; the rollback failed too"
            else:
                endpoint.status = "InService"
        elif phase.name == "system_update":
            endpoint.status = "InService"
        elif phase.name == "delete":
            del self.endpoints[endpoint.name]

    def _roll_back(self, endpoint: Endpoint, reason: str) -> None:
        endpoint.status, endpoint.failure = "RollingBack", reason
        endpoint.phases = [Phase("rollback", ROLLBACK_SECONDS, "RollingBack")]

    def _alarms(self) -> dict[str, Any]:
        # What SageMaker itself sees in CloudWatch: read from moto's backend, not through a client (this runs on
        # every tick of simulated time, and is no call of the workflow's).
        return cloudwatch_backends[self._account][self._region].alarms

    def _initial_count(self, config_name: str) -> int:
        config = self._moto.describe_endpoint_config(EndpointConfigName=config_name)
        return int(config["ProductionVariants"][0]["InitialInstanceCount"])

    def _existing_alarms(self, names: list[str]) -> list[str]:
        alarms = self._alarms()
        return [name for name in names if name in alarms]

    def _alarm_in_alarm(self, endpoint: Endpoint) -> list[str]:
        alarms = self._alarms()
        return [name for name in endpoint.alarms if name in alarms and alarms[name].state_value == "ALARM"]

    def _start_failure(self, config_name: str | None) -> str | None:
        config = self._moto.describe_endpoint_config(EndpointConfigName=config_name)
        for variant in config["ProductionVariants"]:
            if variant["ModelName"] in self.failing_models:
                return self.failing_models[variant["ModelName"]]
        return None
