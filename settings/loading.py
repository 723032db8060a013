"""cdk.json's context as typed settings: the shared defaults merged under each environment's own keys, every key
checked against settings/schema.py's dataclasses, and any mistake one message naming the environment and the key.

Nothing else reads CDK context. A new setting is one field in settings/schema.py (with its range in `metadata`) and
one entry in `cdk.json`: in `environment_defaults` when every environment shares it, else in each environment under
`environments`. An environment's own keys override the defaults, key by key at any depth.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, get_args, get_origin

from settings.schema import EnvironmentConfig

ENVIRONMENTS_CONTEXT_KEY = "environments"
ENVIRONMENT_DEFAULTS_CONTEXT_KEY = "environment_defaults"
SELECTED_ENVIRONMENT_CONTEXT_KEY = "env"


class ConfigError(ValueError):
    """A setting in cdk.json is missing, misspelt, of the wrong type or out of range."""


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
