"""An evaluator of identity policies, over the statements of the synthesized templates (iam_templates.py).

No maintained offline evaluator exists on PyPI (policyuniverse expands actions but evaluates nothing; iamspy is an
unmaintained 0.0.1; the rest call AWS's SimulatePrincipalPolicy), so this is a small one that follows the IAM
User Guide's "Policy evaluation logic" for a single account's identity policies: an explicit Deny wins, then any
Allow, else the implicit deny. It knows the condition operators below; any other operator, or a condition key no
need ever sets, raises instead of guessing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class UnknownCondition(ValueError):
    """A policy uses a condition operator or key the evaluator does not model: the check cannot judge it."""


@dataclass(frozen=True)
class Need:
    """One permission a request needs: an action on one resource, with the request's condition context."""

    action: str  # e.g. "s3:GetObjectVersion"
    resource: str  # an ARN, or "*" for actions that take no resource
    context: Mapping[str, Any] = field(default_factory=dict)  # condition keys the request carries
    why: str = ""  # the call or documented service-side need it comes from, for findings


@dataclass(frozen=True)
class Statement:
    """One statement of a policy attached to a role, with where it is granted (for findings)."""

    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]]
    where: str  # e.g. "Training/TriggerRoleDefaultPolicy16D48F1B statement 3"

    def matches(self, need: Need) -> bool:
        action_listed = _any_glob(self.actions, need.action, ignore_case=True)
        if self.not_actions:
            action_listed = not _any_glob(self.not_actions, need.action, ignore_case=True)
        if not action_listed:
            return False
        resource_listed = _any_glob(self.resources, need.resource, ignore_case=False)
        if self.not_resources:
            resource_listed = not _any_glob(self.not_resources, need.resource, ignore_case=False)
        return resource_listed and conditions_hold(self.condition, need.context)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def _any_glob(patterns: tuple[str, ...], value: str, *, ignore_case: bool) -> bool:
    return any(glob_match(pattern, value, ignore_case=ignore_case) for pattern in patterns)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcards: `*` any run of characters (including `/` and `:`), `?` one character, nothing else."""
    return _glob_regex(pattern, ignore_case).fullmatch(value) is not None


@functools.cache
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # Cached: the least-privilege check matches the same few hundred patterns about 200,000 times.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, flags=re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def statements_of(policy_document: Mapping[str, Any], where: str) -> list[Statement]:
    statements = policy_document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    return [
        Statement(
            effect=statement["Effect"],
            actions=_as_tuple(statement.get("Action")),
            not_actions=_as_tuple(statement.get("NotAction")),
            resources=_as_tuple(statement.get("Resource")),
            not_resources=_as_tuple(statement.get("NotResource")),
            condition=statement.get("Condition", {}),
            where=f"{where} statement {index}" + (f" ({statement['Sid']})" if "Sid" in statement else ""),
        )
        for index, statement in enumerate(statements)
    ]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    allowed_by: tuple[Statement, ...]
    denied_by: tuple[Statement, ...]


def evaluate(statements: list[Statement], need: Need) -> Decision:
    denied = tuple(s for s in statements if s.effect == "Deny" and s.matches(need))
    allowed = tuple(s for s in statements if s.effect == "Allow" and s.matches(need))
    return Decision(allowed=bool(allowed) and not denied, allowed_by=allowed, denied_by=denied)


# ------------------------------------------------------------------------------------------------ conditions

# Condition keys a Need may carry. A policy conditioning on any other key raises: the check would otherwise judge
# requests against a key it never sets. Add a key here together with the needs that set it.
KNOWN_CONDITION_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:SecureTransport",
        "iam:PassedToService",
        "iam:AWSServiceName",
        "kms:GrantIsForAWSResource",
        "kms:ViaService",
        "s3:prefix",
        "cloudwatch:namespace",
        "application-autoscaling:service-namespace",
        "application-autoscaling:scalable-dimension",
        "sagemaker:ModelApprovalStatus",
        "aws:TagKeys",
        # Set by the resource-policy check (resource_policies.py) for services acting on a resource's behalf.
        "aws:SourceArn",
        "aws:SourceAccount",
        "kms:EncryptionContext:aws:logs:arn",
    )
)


def _strings(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [str(item).lower() if isinstance(item, bool) else str(item) for item in values]


def _string_equals(policy: str, request: str) -> bool:
    return policy == request


_OPERATORS: dict[str, tuple[Any, bool]] = {
    # operator: (does one policy value match one request value, is it a negated operator)
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (lambda p, r: p.lower() == r.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, r: p.lower() == r.lower(), True),
    "StringLike": (lambda p, r: glob_match(p, r), False),
    "StringNotLike": (lambda p, r: glob_match(p, r), True),
    "ArnEquals": (lambda p, r: glob_match(p, r), False),
    "ArnLike": (lambda p, r: glob_match(p, r), False),
    "ArnNotEquals": (lambda p, r: glob_match(p, r), True),
    "ArnNotLike": (lambda p, r: glob_match(p, r), True),
    "Bool": (lambda p, r: p.lower() == r.lower(), False),
}


def conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]) -> bool:
    """All operators, all keys must hold (AND); a key's policy values are alternatives (OR).

    IAM User Guide, "IAM JSON policy elements: Condition operators": a key missing from the request makes a
    condition false, except for the negated operators (StringNotEquals, ArnNotLike, ...), which are then true,
    and `...IfExists`, which is then true.
    """
    lowered = {key.lower(): value for key, value in context.items()}
    for operator, keys in condition.items():
        if_exists = operator.endswith("IfExists")
        base = operator.removesuffix("IfExists")
        if base == "Null":
            for key, expected in keys.items():
                _check_known(key)
                absent = key.lower() not in lowered
                if absent != (str(expected).lower() == "true"):
                    return False
            continue
        if base not in _OPERATORS or ":" in base:
            raise UnknownCondition(f"condition operator {operator!r} is not modelled by the evaluator")
        matches, negated = _OPERATORS[base]
        for key, policy_values in keys.items():
            _check_known(key)
            if key.lower() not in lowered:
                if not (if_exists or negated):
                    return False
                continue
            hit = any(matches(p, r) for p in _strings(policy_values) for r in _strings(lowered[key.lower()]))
            if hit == negated:
                return False
    return True


# Tag keys are the project's own: a need that carries tags sets these with the tag's key after the slash.
KNOWN_CONDITION_KEY_PREFIXES = ("aws:requesttag/", "aws:resourcetag/")


def _check_known(key: str) -> None:
    if key.lower() not in KNOWN_CONDITION_KEYS and not key.lower().startswith(KNOWN_CONDITION_KEY_PREFIXES):
        raise UnknownCondition(f"condition key {key!r} is not set by any need the check models")
