"""The typed settings of one environment: a frozen dataclass per section of cdk.json's environment settings.

Every setting is one field. Its `metadata` says what settings/loading.py checks besides the type: `min`/`max` (a
range; `fraction`: a share written as 0.85, not 85), `pattern`/`form` (a text of a fixed form, `form` being what
a message shows) and `multiple_of`. Rules across several keys are an `invariant_errors()` method on the dataclass
that holds the keys, yielding (key, problem) pairs. Pure Python: importing it loads no CDK.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal


def _range(minimum: float | None = None, maximum: float | None = None) -> dict[str, Any]:
    return {"min": minimum, "max": maximum}


def _fraction(minimum: float, maximum: float) -> dict[str, Any]:
    """A share written as a fraction (0.85, not 85): a value that reads as a percentage gets a hint."""
    return {**_range(minimum, maximum), "fraction": True}


def _form(pattern: str, description: str) -> dict[str, Any]:
    """A text setting of a fixed form: `description` is what a message shows (never the pattern)."""
    return {"pattern": pattern, "form": description}


_INSTANCE_TYPE = _form(r"ml\.[a-z0-9-]+\.[a-z0-9]+", "a SageMaker instance type such as ml.m5.large")
# Instance families with local NVMe instance storage (m5d, c5d, r5d, m6id, g4dn, p3dn, p4d, p4de, ...; and g5, g6,
# p5, trn1, whose every size has it). "You can't request a KmsKeyId when using an instance type with local
# storage ... the call to CreateEndpointConfig fails" (CreateEndpointConfig, KmsKeyId; the list: Amazon EC2
# "Instance store volumes"). The workflow always sets KmsKeyId, so these types are refused for endpoints.
_LOCAL_STORAGE_FAMILY = re.compile(r"[a-z]+\d+[a-z]*?d(n|e|en)?|g5|g5g|g6|g6e|p5|p5e|p5en|trn1|trn1n")


def has_local_nvme_storage(instance_type: str) -> bool:
    family = instance_type.split(".")[1]
    return bool(_LOCAL_STORAGE_FAMILY.fullmatch(family))


@dataclass(frozen=True)
class DataConfig:
    noncurrent_version_expiration_days: int = field(metadata=_range(1, 3650))
    access_log_retention_days: int = field(metadata=_range(1, 3650))


@dataclass(frozen=True)
class TrainingConfig:
    auc_threshold: float = field(metadata=_fraction(0.5, 1.0))
    processing_instance_type: str = field(metadata=_INSTANCE_TYPE)
    training_instance_type: str = field(metadata=_INSTANCE_TYPE)
    # More than one training instance shards the input by S3 key: how data larger than one machine scales out.
    training_instance_count: int = field(metadata=_range(1, 20))
    training_volume_size_gb: int = field(metadata=_range(1, 16384))
    max_runtime_seconds: int = field(metadata=_range(60, 432000))
    enable_step_caching: bool
    encrypt_inter_container_traffic: bool
    max_upload_megabytes: int = field(metadata=_range(1, 5 * 1024 * 1024))
    # The champion gate: a run fails when its test ROC-AUC is more than this below the ROC-AUC of the model
    # serving in the environment (both scored on the run's test split). None: no gate, the threshold alone.
    champion_auc_margin: float | None = field(default=None, metadata=_fraction(0.0, 0.5))
    # The endpoint's label cut-off: a row whose probability is at least this gets the positive label. Registered in
    # the model package's environment (PREDICTION_THRESHOLD), so the approved version serves with the cut-off its
    # report shows; changing it takes a new training run, never a silent change to a serving model.
    label_threshold: float = field(default=0.5, metadata=_fraction(0.0, 1.0))
    # The flip-rate gate: a run fails when more than this share of the test rows would get another label at the
    # cut-off than the serving model gives them (ml_code/decision_stability.py). None: reported, not gated.
    max_flip_rate: float | None = field(default=None, metadata=_fraction(0.0, 1.0))


@dataclass(frozen=True)
class NotificationsConfig:
    email_addresses: tuple[str, ...] = field(metadata=_form(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an e-mail address"))
    # Chat webhooks and other HTTPS endpoints that accept SNS deliveries.
    https_endpoints: tuple[str, ...] = field(metadata=_form(r"https://\S+", "an https:// URL without spaces"))


@dataclass(frozen=True)
class AutoscalingConfig:
    min_instances: int = field(metadata=_range(1, 100))
    max_instances: int = field(metadata=_range(1, 100))
    target_invocations_per_instance: int = field(metadata=_range(1, 1_000_000))

    def invariant_errors(self) -> Iterator[tuple[str, str]]:
        if self.max_instances < self.min_instances:
            yield "max_instances", f"must be at least min_instances ({self.min_instances}), got {self.max_instances}"


@dataclass(frozen=True)
class EndpointSettings:
    instance_type: str = field(metadata=_INSTANCE_TYPE)
    instance_count: int = field(metadata=_range(1, 100))
    # Blue/green needs the same production variant name in the old and the new endpoint config.
    variant_name: str = field(
        metadata=_form(
            r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
            "letters, digits and hyphens, at most 63, starting and ending with a letter or digit",
        )
    )
    container_startup_health_check_timeout_seconds: int = field(metadata=_range(60, 3600))
    model_data_download_timeout_seconds: int = field(metadata=_range(60, 3600))
    data_capture_percent: int = field(metadata=_range(0, 100))  # 0: off
    # null keys never reach the app (CDK drops them from context), so every optional key defaults to None.
    autoscaling: AutoscalingConfig | None = None
    # Serverless endpoints have no blue/green updates; kept as a key so the mistake gets a clear message.
    serverless_memory_mb: int | None = field(default=None, metadata=_range(1024, 6144))

    def invariant_errors(self) -> Iterator[tuple[str, str]]:
        if has_local_nvme_storage(self.instance_type):
            yield (
                "instance_type",
                f"{self.instance_type} has local NVMe storage, which refuses the endpoint config's KmsKeyId: "
                "choose a type without instance storage (e.g. ml.m5.large)",
            )
        if self.serverless_memory_mb is not None:
            yield "serverless_memory_mb", "must be null: serverless endpoints do not support blue/green deployments"
        if self.autoscaling is not None and not (
            self.autoscaling.min_instances <= self.instance_count <= self.autoscaling.max_instances
        ):
            yield (
                "instance_count",
                (
                    f"must be within autoscaling min_instances..max_instances "
                    f"({self.autoscaling.min_instances}..{self.autoscaling.max_instances}), got {self.instance_count}"
                ),
            )


@dataclass(frozen=True)
class AlarmsConfig:
    """Thresholds of the rollback alarms (new fleet) and of the operators' endpoint alarms, as rates."""

    # SageMaker publishes endpoint invocation metrics every minute.
    period_seconds: int = field(metadata={**_range(60, 3600), "multiple_of": 60})
    evaluation_periods: int = field(metadata=_range(1, 10))
    # Invocation5XXErrors and InvocationModelErrors are 0/1 per request: their Average is the share of requests.
    invocation_5xx_error_rate_percent: float = field(metadata=_range(0.01, 100))
    model_error_rate_percent: float = field(metadata=_range(0.01, 100))
    model_latency_microseconds: int = field(metadata=_range(1, 60_000_000))

    @property
    def evaluation_seconds(self) -> int:
        """How long a problem must last before an alarm goes to ALARM."""
        return self.period_seconds * self.evaluation_periods


@dataclass(frozen=True)
class DeploymentConfig:
    endpoint: EndpointSettings
    traffic_routing: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"]
    # CANARY: the first slice; LINEAR: each step. Percent of the new fleet's capacity.
    traffic_step_percent: int = field(metadata=_range(1, 100))
    traffic_wait_seconds: int = field(metadata=_range(0, 3600))
    termination_wait_seconds: int = field(metadata=_range(0, 3600))
    max_execution_timeout_seconds: int = field(metadata=_range(600, 28800))
    alarms: AlarmsConfig
    # Older endpoint configs and models kept for rolling back by re-approving an older version.
    previous_versions_kept: int = field(metadata=_range(1, 20))

    @property
    def linear_steps(self) -> int:
        """LINEAR shifts traffic_step_percent at a time until all of it has moved."""
        return math.ceil(100 / self.traffic_step_percent)

    @property
    def total_wait_seconds(self) -> int:
        steps = {"ALL_AT_ONCE": 0, "CANARY": 1, "LINEAR": self.linear_steps}[self.traffic_routing]
        return steps * self.traffic_wait_seconds + self.termination_wait_seconds

    def invariant_errors(self) -> Iterator[tuple[str, str]]:
        instances = self.endpoint.instance_count
        if self.traffic_routing == "CANARY":
            if instances < 2:
                yield "endpoint.instance_count", f"must be at least 2 for CANARY traffic routing, got {instances}"
            if self.traffic_step_percent > 50:
                yield (
                    "traffic_step_percent",
                    (f"must be at most 50 (% of capacity) for CANARY traffic routing, got {self.traffic_step_percent}"),
                )
        if self.traffic_routing == "LINEAR" and not 10 <= self.traffic_step_percent <= 50:
            # TrafficRoutingConfig.LinearStepSize: 10-50% of the variant's total instance count.
            yield (
                "traffic_step_percent",
                f"must be 10 to 50 (% of the instance count) for LINEAR traffic routing, got {self.traffic_step_percent}",
            )
        window = self.alarms.evaluation_seconds
        if self.traffic_wait_seconds < window:
            yield (
                "traffic_wait_seconds",
                f"must be at least the alarms' evaluation window (alarms.period_seconds x evaluation_periods = "
                f"{window} s) so the rollback alarms can act while traffic bakes, got {self.traffic_wait_seconds}",
            )
        if self.traffic_routing == "ALL_AT_ONCE" and self.termination_wait_seconds < window:
            # The all-at-once page describes only this wait between the shift and the end of the old fleet.
            yield (
                "termination_wait_seconds",
                f"must be at least the alarms' evaluation window ({window} s) for ALL_AT_ONCE traffic routing, "
                f"so a rollback is still possible after the shift, got {self.termination_wait_seconds}",
            )
        if self.max_execution_timeout_seconds <= self.total_wait_seconds:
            yield (
                "max_execution_timeout_seconds",
                (
                    f"must be longer than all waits together ({self.total_wait_seconds} s), "
                    f"got {self.max_execution_timeout_seconds}"
                ),
            )


def _aws_id(prefix: str, example: str) -> dict[str, Any]:
    """An EC2 id: the prefix, then 8 or 17 hex digits (the older and the current form)."""
    return _form(rf"{prefix}-[0-9a-f]{{8}}([0-9a-f]{{9}})?", f"an id such as {prefix}-{example}")


_HEX_EXAMPLE = "0123456789abcdef0"


@dataclass(frozen=True)
class ExistingVpcConfig:
    """A VPC the team already has, imported from these ids without any lookup (synth stays offline)."""

    vpc_id: str = field(metadata=_aws_id("vpc", _HEX_EXAMPLE))
    # One private subnet per availability zone, in the same order; each with its route table (the S3 gateway
    # endpoint adds its route there).
    availability_zones: tuple[str, ...] = field(
        metadata=_form(r"[a-z]{2}(-gov)?-[a-z]+-\d[a-z]", "an availability zone such as eu-west-1a")
    )
    private_subnet_ids: tuple[str, ...] = field(metadata=_aws_id("subnet", _HEX_EXAMPLE))
    private_subnet_route_table_ids: tuple[str, ...] = field(metadata=_aws_id("rtb", _HEX_EXAMPLE))
    # Added to every job, model and function besides the security groups the stacks create (e.g. a group your
    # organisation requires on every network interface).
    security_group_ids: tuple[str, ...] = field(default=(), metadata=_aws_id("sg", _HEX_EXAMPLE))
    # false: the VPC already has the endpoints docs/private-network.md lists (an interface endpoint with private
    # DNS can exist only once per VPC and service).
    create_vpc_endpoints: bool = True

    def invariant_errors(self) -> Iterator[tuple[str, str]]:
        zones, subnets = len(self.availability_zones), len(self.private_subnet_ids)
        if not subnets:
            yield "private_subnet_ids", "must name at least one subnet"
        if subnets != zones or len(self.private_subnet_route_table_ids) != subnets:
            yield (
                "private_subnet_ids",
                f"must be as many as availability_zones ({zones}) and private_subnet_route_table_ids "
                f"({len(self.private_subnet_route_table_ids)}), one per zone in the same order, got {subnets}",
            )
        if len(set(self.availability_zones)) != zones:
            yield "availability_zones", "must name each zone once (one private subnet per zone)"


@dataclass(frozen=True)
class CreatedVpcConfig:
    """A VPC the Data stack creates: private subnets only (no internet gateway, no NAT), in two zones."""

    cidr: str = field(
        metadata=_form(
            r"(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}/(1[6-9]|2[0-2])",
            "an IPv4 CIDR block from /16 to /22 such as 10.40.0.0/16",
        )
    )


@dataclass(frozen=True)
class NetworkConfig:
    """Where jobs, the endpoint's model and the functions run: docs/private-network.md.

    off: outside any VPC (the default, also when the section is absent); existing: in the team's VPC, given by
    ids; created: in a VPC the Data stack creates. In both private modes the VPC gets the endpoints the system
    calls and containers that need no network run isolated.
    """

    mode: Literal["off", "existing", "created"]
    existing: ExistingVpcConfig | None = None
    created: CreatedVpcConfig | None = None

    @property
    def private(self) -> bool:
        return self.mode != "off"

    def invariant_errors(self) -> Iterator[tuple[str, str]]:
        for mode in ("existing", "created"):
            given = getattr(self, mode) is not None
            if given and self.mode != mode:
                yield mode, f"must be absent (or null) when mode is {self.mode!r}"
            if not given and self.mode == mode:
                yield mode, f"is required when mode is {mode!r}"


@dataclass(frozen=True)
class MonitoringAlarmsConfig:
    """When the monitoring job's figures alarm (docs/monitoring.md). PSI reads < 0.1 stable, 0.1-0.25 moderate,
    > 0.25 significant (ml_code/drift.py cites the source)."""

    feature_psi: float = field(metadata=_range(0.01, 10))
    score_psi: float = field(metadata=_range(0.01, 10))
    # Realized ROC-AUC below the ROC-AUC the serving version was approved with by more than this.
    realized_auc_drop: float = field(metadata=_fraction(0.0, 0.5))
    # Fewer captured rows (labelled rows) in a window: figures are reported, but not published for the alarms.
    min_rows: int = field(metadata=_range(1, 10_000_000))
    min_labelled_rows: int = field(metadata=_range(1, 10_000_000))


@dataclass(frozen=True)
class RetrainingConfig:
    """An alarm of the monitoring job starts the training pipeline again (off by default); guarded against storms."""

    enabled: bool
    # No retraining while a run of the pipeline is executing, nor within this many hours of the last run's start.
    min_interval_hours: int = field(metadata=_range(1, 8760))


@dataclass(frozen=True)
class MonitoringConfig:
    """The scheduled job comparing captured endpoint traffic with the serving version's baseline (docs/monitoring.md)."""

    schedule_enabled: bool
    # One job every this many hours; its alarms evaluate one datapoint per run (CloudWatch: period x evaluation
    # periods at most one day, so at most 24).
    schedule_hours: int = field(metadata=_range(1, 24))
    # The captured traffic each run reads, ending when it starts; at least schedule_hours, so no traffic is skipped.
    window_hours: int = field(metadata=_range(1, 720))
    # How far back labels (and the captured requests they name) are joined for realized quality.
    label_window_days: int = field(metadata=_range(1, 90))
    instance_type: str = field(metadata=_INSTANCE_TYPE)
    alarms: MonitoringAlarmsConfig
    retraining: RetrainingConfig

    def invariant_errors(self) -> Iterator[tuple[str, str]]:
        if self.window_hours < self.schedule_hours:
            yield (
                "window_hours",
                f"must be at least schedule_hours ({self.schedule_hours}) so that no traffic goes unread, "
                f"got {self.window_hours}",
            )


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    name: str
    region: str
    # None: the account of the credentials that deploy (CDK's environment-agnostic default).
    account: str | None = None
    removal_policy: Literal["destroy", "retain"]
    data: DataConfig
    training: TrainingConfig
    notifications: NotificationsConfig
    deployment: DeploymentConfig
    monitoring: MonitoringConfig
    # None: off, as mode "off" (docs/private-network.md).
    network: NetworkConfig | None = None

    @property
    def private_network(self) -> NetworkConfig | None:
        """The network settings when jobs, model and functions run in a VPC; None when they do not."""
        return self.network if self.network is not None and self.network.private else None

    def invariant_errors(self) -> Iterator[tuple[str, str]]:
        if self.private_network is not None and not self.training.encrypt_inter_container_traffic:
            yield (
                "training.encrypt_inter_container_traffic",
                "must be true in a private network mode (network.mode "
                f"{self.private_network.mode!r}): traffic between training hosts is encrypted there",
            )
        if self.monitoring.schedule_enabled and self.deployment.endpoint.data_capture_percent == 0:
            yield (
                "monitoring.schedule_enabled",
                "needs traffic to read: set deployment.endpoint.data_capture_percent above 0, or the schedule to false",
            )

    @property
    def destroy_on_removal(self) -> bool:
        return self.removal_policy == "destroy"
