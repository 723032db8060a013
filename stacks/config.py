"""The one typed view of the environments declared in `cdk.json`.

Nothing else reads CDK context. Every setting is a field of a frozen dataclass below; the loader walks the
dataclasses, so a new setting is one field (with its range in `metadata`) and one entry per environment in
`cdk.json`. Any mistake fails synth with one message naming the environment and the key.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

ENVIRONMENTS_CONTEXT_KEY = "environments"
SELECTED_ENVIRONMENT_CONTEXT_KEY = "env"


class ConfigError(ValueError):
    """A setting in cdk.json is missing, misspelt, of the wrong type or out of range."""


def _range(minimum: float | None = None, maximum: float | None = None) -> dict[str, float | None]:
    return {"min": minimum, "max": maximum}


@dataclass(frozen=True)
class DataConfig:
    noncurrent_version_expiration_days: int = field(metadata=_range(1, 3650))
    access_log_retention_days: int = field(metadata=_range(1, 3650))


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    name: str
    region: str
    # None: the account of the credentials that deploy (CDK's environment-agnostic default).
    account: str | None = None
    removal_policy: Literal["destroy", "retain"]
    data: DataConfig

    @property
    def destroy_on_removal(self) -> bool:
        return self.removal_policy == "destroy"


_REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ACCOUNT_PATTERN = re.compile(r"^\d{12}$")


def load_environments(context: Mapping[str, Any]) -> list[EnvironmentConfig]:
    """The environments to synthesize: all of them, or the one named by `-c env=NAME`."""
    environments = context.get(ENVIRONMENTS_CONTEXT_KEY)
    if not isinstance(environments, Mapping) or not environments:
        raise ConfigError(f"cdk.json context '{ENVIRONMENTS_CONTEXT_KEY}' must map environment names to settings")
    selected = context.get(SELECTED_ENVIRONMENT_CONTEXT_KEY)
    if selected is not None and selected not in environments:
        known = ", ".join(sorted(environments))
        raise ConfigError(f"unknown environment '{selected}' (-c env=...): known environments are {known}")
    names = [selected] if selected is not None else list(environments)
    return [parse_environment(name, environments[name]) for name in names]


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
    return cls(**values)


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
    minimum, maximum = metadata.get("min"), metadata.get("max")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(f"{where} must be between {minimum} and {maximum}, got {value!r}")
    return value
