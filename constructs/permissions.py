"""Explicit IAM statements and the cdk-nag acknowledgements of the wildcards they cannot avoid.

CDK's `grant_*` helpers add action wildcards (`s3:GetObject*`, `kms:GenerateDataKey*`); the statements
here name each action instead, so the only wildcards left are object keys and generated job names,
each acknowledged where it is granted, with its reason.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from constructs import IConstruct

KEY_USE_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


def allow(role: iam.IRole, actions: list[str], resources: list[str], conditions: dict[str, Any] | None = None) -> None:
    role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions))


def allow_key_use(role: iam.IRole, key: kms.IKey) -> None:
    allow(role, KEY_USE_ACTIONS, [key.key_arn])


def allow_wildcard(role: iam.Role, actions: list[str], resource: str, reason: str) -> None:
    """A statement on a resource pattern with `*`, acknowledged for cdk-nag with `reason`."""
    allow(role, actions, [resource])
    acknowledge_wildcard_resource(role, resource, reason)


def acknowledge_wildcard_resource(scope: IConstruct, resource: str, reason: str) -> None:
    rendered = _as_nag_renders(Stack.of(scope).resolve(resource))
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{rendered}]", reason=reason))


def _as_nag_renders(value: Any) -> str:
    """The resource as cdk-nag names it in a finding id: `<Ref>`, `<Logical.Attr>`, joins flattened."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if isinstance(value, dict) and set(value) == {"Fn::Join"} and value["Fn::Join"][0] == "":
        return "".join(_as_nag_renders(part) for part in value["Fn::Join"][1])
    return json.dumps(value, separators=(",", ":"))
