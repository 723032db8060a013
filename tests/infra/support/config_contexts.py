"""cdk.json's context with one environment's settings changed, and the ConfigError that loading it raises."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from settings.loading import (
    ENVIRONMENT_DEFAULTS_CONTEXT_KEY,
    ConfigError,
    environment_settings,
    load_environments,
)
from tests.infra.support.synthesis import cdk_json_context


def context_with(change: dict[str, Any] | None = None, **top_level: Any) -> dict[str, Any]:
    """cdk.json's context with `change` applied to dev's settings (dotted keys; None deletes)."""
    return {**environment_with("dev", change or {}), **top_level}


def environment_with(name: str, change: dict[str, Any]) -> dict[str, Any]:
    # Every environment written out whole (the shared defaults resolved), so a key can be changed or deleted.
    context = copy.deepcopy(cdk_json_context())
    context["environments"] = environment_settings(context)
    del context[ENVIRONMENT_DEFAULTS_CONTEXT_KEY]
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        node = context["environments"][name]
        for parent in parents:
            node = node[parent]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    return context


def config_error(context: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        load_environments(context)
    return str(raised.value)
