"""Explicit IAM statements and the cdk-nag acknowledgements of the wildcards they cannot avoid.

CDK's `grant_*` helpers add action wildcards (`s3:GetObject*`, `kms:GenerateDataKey*`); the statements
here name each action instead, so the only wildcards left are object keys and generated job names,
each acknowledged where it is granted, with its reason.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsii
from aws_cdk import Acknowledgment, ArnFormat, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from constructs import IConstruct, IValidation

KEY_USE_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
# What CloudWatch Logs needs of a key that encrypts a log group.
LOGS_KEY_ACTIONS = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
]
# What a client of S3 (SSE-KMS objects), SNS and SQS (encrypted topic, queue) and Lambda (encrypted environment)
# needs of the key: the services encrypt and describe it themselves (test_iam_least_privilege.py proves it).
KEY_CLIENT_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]


def allow(role: iam.IRole, actions: list[str], resources: list[str], conditions: dict[str, Any] | None = None) -> None:
    role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions))


def allow_key_use(role: iam.IRole, key: kms.IKey, actions: list[str] = KEY_USE_ACTIONS) -> None:
    allow(role, actions, [key.key_arn])


def allow_logs_to_use_key(scope: IConstruct, key: kms.IKey, log_group_name: str, sid: str) -> None:
    """Lets CloudWatch Logs encrypt the log group `log_group_name` with `key`.

    CloudWatch Logs uses the key as itself, so the key's policy must allow it, for this group only
    (the kms:EncryptionContext:aws:logs:arn condition; CloudWatch Logs User Guide, "Encrypt log data in
    CloudWatch Logs using AWS KMS"). Only names go in the condition, so the key's stack does not come to
    depend on the log groups' stack.
    """
    stack = Stack.of(scope)
    log_group = stack.format_arn(
        service="logs", resource="log-group", resource_name=log_group_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=LOGS_KEY_ACTIONS,
            resources=["*"],
            conditions={"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": log_group}},
        )
    )


def allow_wildcard(role: iam.Role, actions: list[str], resource: str, reason: str) -> None:
    """A statement on a resource pattern with `*`, acknowledged for cdk-nag with `reason`."""
    allow(role, actions, [resource])
    acknowledge_wildcard_resource(role, resource, reason)


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """A cdk-nag finding on `scope` (e.g. `AwsSolutions-IAM5[Resource::*]`) accepted, with its reason."""
    Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def acknowledge_wildcard_resource(scope: IConstruct, resource: str, reason: str) -> None:
    rendered = nag_resource_text(Stack.of(scope).resolve(resource))
    acknowledge(scope, f"AwsSolutions-IAM5[Resource::{rendered}]", reason)


def acknowledge_wildcards_once_resolved(policy: iam.Policy, reasons: list[tuple[str, str]]) -> None:
    """Acknowledges each wildcard resource of `policy` that ends with one of the suffixes, with its reason.

    A finding is named after the resource as the template renders it, which for another stack's resource
    (a cross-stack reference) is only known once references are resolved: a validation runs after that.
    """
    policy.node.add_validation(_WildcardAcknowledgements(policy, reasons))


@jsii.implements(IValidation)
class _WildcardAcknowledgements:
    def __init__(self, policy: iam.Policy, reasons: list[tuple[str, str]]) -> None:
        self._policy = policy
        self._reasons = reasons

    def validate(self) -> list[str]:
        cfn = self._policy.node.default_child
        document = Stack.of(self._policy).resolve(cfn.policy_document) if cfn is not None else {"Statement": []}
        for statement in document["Statement"]:
            resources = statement.get("Resource", [])
            for resource in resources if isinstance(resources, list) else [resources]:
                rendered = nag_resource_text(resource)
                for suffix, reason in self._reasons:
                    if rendered.endswith(suffix):
                        acknowledge(self._policy, f"AwsSolutions-IAM5[Resource::{rendered}]", reason)
        return []


def nag_resource_text(value: Any) -> str:
    """A resolved resource as cdk-nag spells it in a finding id: `<Ref>`, `<Logical.Attr>`, joins flattened,
    `${X}` in Fn::Sub as `<X>`; anything else (e.g. a weak cross-stack Fn::GetStackOutput) as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return "<{}.{}>".format(*argument)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(nag_resource_text(part) for part in parts)
        if function == "Fn::Sub" and isinstance(argument, str):
            return re.sub(r"\$\{([^}]+)\}", r"<\1>", argument)
        if function == "Fn::ImportValue":
            return nag_resource_text(argument)
    return json.dumps(value, separators=(",", ":"))
