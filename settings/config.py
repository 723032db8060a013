"""The one typed view of the environments declared in `cdk.json`.

Nothing else reads CDK context. Every setting is a field of a frozen dataclass below; the loader walks the
dataclasses, so a new setting is one field (with its range in `metadata`) and one entry in `cdk.json`: in
`environment_defaults` when every environment shares it, else in each environment under `environments`.
An environment's own keys override the defaults, key by key at any depth. Any mistake fails synth with one
message naming the environment and the key.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

ENVIRONMENTS_CONTEXT_KEY = "environments"
ENVIRONMENT_DEFAULTS_CONTEXT_KEY = "environment_defaults"
SELECTED_ENVIRONMENT_CONTEXT_KEY = "env"


class ConfigError(ValueError):
    """A setting in cdk.json is missing, misspelt, of the wrong type or out of range."""


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

    @property
    def destroy_on_removal(self) -> bool:
        return self.removal_policy == "destroy"


_REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ACCOUNT_PATTERN = re.compile(r"^\d{12}$")


def load_environments(context: Mapping[str, Any]) -> list[EnvironmentConfig]:
    """The environments to synthesize: all of them, or the one named by `-c env=NAME`.

    Every environment is validated either way: `make synth ENV=dev` must not pass a broken prod setting.
    """
    environments = environment_settings(context)
    selected = context.get(SELECTED_ENVIRONMENT_CONTEXT_KEY)
    if selected is not None and selected not in environments:
        known = ", ".join(sorted(environments))
        raise ConfigError(f"unknown environment '{selected}' (-c env=...): known environments are {known}")
    _check_resource_prefixes(list(environments))
    configs = [parse_environment(name, raw) for name, raw in environments.items()]
    return [config for config in configs if selected in (None, config.name)]


def environment_settings(context: Mapping[str, Any]) -> dict[str, Any]:
    """Each environment's settings as cdk.json gives them: the shared defaults with its own keys over them."""
    environments = context.get(ENVIRONMENTS_CONTEXT_KEY)
    if not isinstance(environments, Mapping) or not environments:
        raise ConfigError(f"cdk.json context '{ENVIRONMENTS_CONTEXT_KEY}' must map environment names to settings")
    defaults = context.get(ENVIRONMENT_DEFAULTS_CONTEXT_KEY, {})
    if not isinstance(defaults, Mapping):
        raise ConfigError(f"cdk.json context '{ENVIRONMENT_DEFAULTS_CONTEXT_KEY}' must be an object of settings")
    return {name: _over(defaults, settings) for name, settings in environments.items()}


def _over(defaults: Mapping[str, Any], settings: Any) -> Any:
    """`settings` over `defaults`: objects merge key by key, any other value replaces the default."""
    if not isinstance(settings, Mapping):
        return settings  # not an object: parse_environment says so
    merged = dict(defaults)
    for key, value in settings.items():
        default = defaults.get(key)
        merged[key] = _over(default, value) if isinstance(default, Mapping) else value
    return merged


def auc_thresholds(context: Mapping[str, Any]) -> dict[str, float]:
    """Every environment's AUC threshold, also when `-c env=NAME` selects one: each run's report shows them all."""
    every_environment = {key: value for key, value in context.items() if key != SELECTED_ENVIRONMENT_CONTEXT_KEY}
    return {config.name: config.training.auc_threshold for config in load_environments(every_environment)}


def _check_resource_prefixes(names: list[str]) -> None:
    """No environment's names may fall under another's `mlops-<env>-v` prefix (its cleanup, teardown and IAM)."""
    for name in names:
        for other in names:
            if other != name and other.startswith(f"{name}-v"):
                raise ConfigError(
                    f"environment '{other}': its name starts with '{name}-v', so environment '{name}''s resources "
                    f"(mlops-{name}-v*: cleanup, teardown and IAM) would cover its models and configs; rename it"
                )


def parse_environment(name: str, raw: Any) -> EnvironmentConfig:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", name):
        raise ConfigError(f"environment name '{name}' must be lowercase letters, digits and '-', at most 16")
    settings = _require_mapping(raw, name)
    if "name" in settings:
        raise ConfigError(f"environment '{name}': unknown key 'name' (the environment's name is its key)")
    config = _parse_dataclass(EnvironmentConfig, {**settings, "name": name}, name)
    if not _REGION_PATTERN.match(config.region):
        raise ConfigError(f"environment '{name}': key 'region' is not an AWS region: '{config.region}'")
    if config.account is not None and not _ACCOUNT_PATTERN.match(config.account):
        raise ConfigError(f"environment '{name}': key 'account' must be a 12-digit account id or null")
    return config


def _require_mapping(raw: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"environment '{name}': its settings must be an object, got {type(raw).__name__}")
    return raw


def _environment(path: str) -> str:
    return path.split(".", 1)[0]


def _key(path: str) -> str:
    return path.split(".", 1)[1] if "." in path else path


def _parse_dataclass(cls: type, raw: Mapping[str, Any], path: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"environment '{_environment(path)}': unknown key '{_key(_join(path, unknown[0]))}'"
            f" (known keys here: {', '.join(sorted(f for f in fields if f != 'name'))})"
        )
    values = {}
    for name, spec in fields.items():
        key_path = _join(path, name)
        if name not in raw:
            if spec.default is not dataclasses.MISSING:
                continue
            raise ConfigError(f"environment '{_environment(path)}': missing key '{_key(key_path)}'")
        values[name] = _parse_value(hints[name], raw[name], key_path, spec.metadata)
    parsed = cls(**values)
    # Rules across keys (e.g. canary size against instance count) live on the dataclass that holds the keys.
    for key, problem in getattr(parsed, "invariant_errors", lambda: iter(()))():
        raise ConfigError(f"environment '{_environment(path)}': key '{_key(_join(path, key))}' {problem}")
    return parsed


def _join(path: str, key: str) -> str:
    return f"{path}.{key}"


def _parse_value(hint: Any, value: Any, path: str, metadata: Mapping[str, Any]) -> Any:
    where = f"environment '{_environment(path)}': key '{_key(path)}'"
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [option for option in get_args(hint) if option is not type(None)]
        if value is None:
            return None
        return _parse_value(options[0], value, path, metadata)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be an object")
        return _parse_dataclass(hint, value, path)
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value
    if origin is tuple:
        (item_hint, _) = get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {type(value).__name__}")
        return tuple(_parse_value(item_hint, item, f"{path}[{i}]", metadata) for i, item in enumerate(value))
    return _parse_scalar(hint, value, where, metadata)


def _parse_scalar(hint: Any, value: Any, where: str, metadata: Mapping[str, Any]) -> Any:
    # bool is an int in Python: reject it explicitly where a number is expected.
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise ConfigError(f"{where} must be of type {hint.__name__}, got {type(value).__name__} {value!r}")
    pattern = metadata.get("pattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise ConfigError(f"{where} has an invalid value {value!r}: expected {metadata['form']}")
    minimum, maximum = metadata.get("min"), metadata.get("max")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        # 85 for 0.85: a value that is in range once read as a percentage.
        if metadata.get("fraction") and value > 1 and minimum <= value / 100 <= maximum:
            raise ConfigError(
                f"{where} is a fraction between {minimum} and {maximum}, got {value!r}: a percentage? "
                f"write {value / 100:g} for {value:g}%"
            )
        raise ConfigError(f"{where} must be between {minimum} and {maximum}, got {value!r}")
    multiple = metadata.get("multiple_of")
    if multiple is not None and value % multiple:
        raise ConfigError(f"{where} must be a multiple of {multiple}, got {value!r}")
    return value
