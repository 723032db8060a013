"""What AWS's API references say a request may carry, beyond botocore's shape check.

botocore validates types, required members and lengths; it accepts a member or an enum value that the API
reference marks "(Not currently supported.)". This check reads the same documentation strings botocore ships
(its service model holds the API reference's text) and refuses a request that uses such a field or value, plus
the rules below that the documentation states in prose. `install` hooks it on a client so every request the
deploy workflow sends in the tests is checked (tests/infra/support/deploy_world.py).

Rules, each with its page:
- [VariantProperty] https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_VariantProperty.html
  VariantPropertyType "DataCaptureConfig: (Not currently supported.)". Found in the documentation string of the
  member by `unsupported_values`, generically: any `<code>VALUE</code>: (Not currently supported.)`.
- [UpdateEndpoint] https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html
  ExcludeRetainedVariantProperties applies "When you are updating endpoint resources with
  RetainAllVariantProperties, whose value is set to true": sent without it, it is a request the page does not
  describe.
- Members whose whole documentation is "(Not currently supported.)" (or begins with it): never sent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, Shape

NOT_SUPPORTED = re.compile(r"\(?\s*not currently supported\.?\s*\)?", re.IGNORECASE)
_UNSUPPORTED_VALUE = re.compile(
    r"<code>\s*([A-Za-z0-9_.:-]+)\s*</code>\s*[:\u2014-]?\s*\(\s*Not currently supported\.?\s*\)", re.IGNORECASE
)


class UnsupportedField(AssertionError):
    """A request used a field or value the API reference does not support."""


@functools.cache
def unsupported_values(documentation: str) -> frozenset[str]:
    """The enum values a member's documentation marks "(Not currently supported.)"."""
    return frozenset(_UNSUPPORTED_VALUE.findall(documentation or ""))


def member_unsupported(documentation: str) -> bool:
    """A member documented only as not supported ("<p>(Not currently supported.)</p>")."""
    text = re.sub(r"<[^>]+>", " ", documentation or "").strip()
    return bool(text) and NOT_SUPPORTED.match(text) is not None


def findings(operation: OperationModel, params: Mapping[str, Any]) -> list[str]:
    """Every use in `params` of something the operation's documentation does not support."""
    found: list[str] = []
    _walk(operation.input_shape, params, operation.name, found)
    found.extend(_prose_rules(operation.service_model.service_name, operation.name, params))
    return found


def _walk(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    if shape is None:
        return
    if shape.type_name == "structure" and isinstance(value, Mapping):
        for name, member in shape.members.items():
            if name not in value:
                continue
            documentation = member.documentation or ""
            if member_unsupported(documentation):
                found.append(f"{path}.{name}: the API reference says it is not currently supported")
            if isinstance(value[name], str) and value[name] in unsupported_values(documentation):
                found.append(f"{path}.{name} = {value[name]!r}: the API reference says '(Not currently supported.)'")
            _walk(member, value[name], f"{path}.{name}", found)
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            _walk(shape.member, item, f"{path}[{index}]", found)
    elif shape.type_name == "map" and isinstance(value, Mapping):
        for key, item in value.items():
            _walk(shape.value, item, f"{path}[{key!r}]", found)


def _prose_rules(service: str, operation: str, params: Mapping[str, Any]) -> list[str]:
    found = []
    excludes_without_retaining = (
        params.get("ExcludeRetainedVariantProperties") and params.get("RetainAllVariantProperties") is not True
    )
    if (service, operation) == ("sagemaker", "UpdateEndpoint") and excludes_without_retaining:
        found.append("UpdateEndpoint.ExcludeRetainedVariantProperties without RetainAllVariantProperties=true")
    return found


def install(client: Any, violations: list[str]) -> None:
    """Check every request `client` sends (botocore's provide-client-params event); record what fails."""

    def check(params: Mapping[str, Any], model: OperationModel, **_: Any) -> None:
        problems = findings(model, params)
        if problems:
            violations.extend(problems)
            raise UnsupportedField("; ".join(problems))

    event = "provide-client-params.*.*"
    client.meta.events.unregister(event, unique_id="documented-support")  # a reused client: the latest list
    client.meta.events.register(event, check, unique_id="documented-support")
