"""The synthesized templates as IAM sees them: intrinsics resolved to names, and an evaluator of identity policies.

No maintained offline evaluator exists on PyPI (policyuniverse expands actions but evaluates nothing; iamspy is an
unmaintained 0.0.1; the rest call AWS's SimulatePrincipalPolicy), so this is a small one that follows the IAM
User Guide's "Policy evaluation logic" for a single account's identity policies: an explicit Deny wins, then any
Allow, else the implicit deny. It knows the condition operators below; any other operator, or a condition key no
need ever sets, raises instead of guessing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# The account the environments resolve to. cdk.json leaves `account` null (the deploying credentials' account);
# any fixed value works as long as the policies and the recorded calls use the same one: this is the account moto
# and the handler tests use.
ACCOUNT = "123456789012"
PARTITION = "aws"


class UnresolvableIntrinsic(ValueError):
    """The template uses a function or attribute the resolver does not know: extend it, do not guess."""


class UnknownCondition(ValueError):
    """A policy uses a condition operator or key the evaluator does not model: the check cannot judge it."""


# ------------------------------------------------------------------------------------------------ resolving


@dataclass(frozen=True)
class Environment:
    """One environment's synthesized stacks, by stack id (`Data`, `Training`, ...)."""

    name: str
    templates: Mapping[str, Mapping[str, Any]]
    region: str

    def stack_name(self, stack_id: str) -> str:
        return f"{self.name}-{stack_id}"

    def stack_id(self, stack_name: str) -> str:
        prefix = f"{self.name}-"
        if not stack_name.startswith(prefix) or stack_name[len(prefix) :] not in self.templates:
            raise UnresolvableIntrinsic(f"no stack {stack_name!r} in environment {self.name!r}")
        return stack_name[len(prefix) :]

    def resources(self) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        for stack_id, template in self.templates.items():
            for logical_id, resource in template.get("Resources", {}).items():
                yield stack_id, logical_id, resource

    def resolve(self, stack_id: str, value: Any) -> Any:
        return Resolver(self, stack_id).resolve(value)


@dataclass(frozen=True)
class Resolver:
    """Resolves CloudFormation intrinsics in one stack of an environment.

    A resource without an explicit name gets `<stack name>-<logical id>`, the shape CloudFormation's generated names
    have; policies and environment variables resolve through the same rules, so they agree with each other.
    """

    environment: Environment
    stack_id: str

    @property
    def template(self) -> Mapping[str, Any]:
        return self.environment.templates[self.stack_id]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {key: self.resolve(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(part)) for part in self.resolve(parts))
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            resolved = {name: self.resolve(item) for name, item in variables.items()}

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in resolved:
                    return str(resolved[name])
                if "." in name:
                    return str(self.get_att(*name.split(".", 1)))
                return str(self.ref(name))

            return re.sub(r"\$\{([^}!][^}]*)\}", substitute, text)
        if function == "Fn::GetStackOutput":
            stack_id = self.environment.stack_id(argument["StackName"])
            output = self.environment.templates[stack_id]["Outputs"][argument["OutputName"]]
            return Resolver(self.environment, stack_id).resolve(output["Value"])
        if function == "Fn::ImportValue":
            return self.import_value(self.resolve(argument))
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if function == "Fn::GetAZs":  # a created VPC's subnets: stand-in zone names of the region
            return [f"{self.environment.region}{zone}" for zone in "abc"]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        raise UnresolvableIntrinsic(f"{function} in stack {self.stack_id}: {json.dumps(value)[:200]}")

    def import_value(self, export_name: str) -> Any:
        for stack_id, template in self.environment.templates.items():
            for output in template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if export is not None and Resolver(self.environment, stack_id).resolve(export) == export_name:
                    return Resolver(self.environment, stack_id).resolve(output["Value"])
        raise UnresolvableIntrinsic(f"no export named {export_name!r} in environment {self.environment.name}")

    # -- pseudo parameters and resources

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": self.environment.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.environment.stack_name(self.stack_id),
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            default = self.template["Parameters"][name].get("Default")
            if default is None:
                raise UnresolvableIntrinsic(f"parameter {name} has no default")
            return default
        resource = self._resource(name)
        kind = resource["Type"]
        physical = self.physical_name(name)
        arn_of = {
            "AWS::SNS::Topic": lambda: self.arn("sns", physical),
            "AWS::StepFunctions::StateMachine": lambda: self.arn("states", f"stateMachine:{physical}"),
            "AWS::SQS::Queue": lambda: f"https://sqs.{self.environment.region}.amazonaws.com/{ACCOUNT}/{physical}",
            "AWS::KMS::Key": lambda: self._key_id(name),
        }
        return arn_of[kind]() if kind in arn_of else physical

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self._resource(logical_id)
        kind = resource["Type"]
        physical = self.physical_name(logical_id)
        attributes: dict[tuple[str, str], Any] = {
            ("AWS::IAM::Role", "Arn"): lambda: f"arn:{PARTITION}:iam::{ACCOUNT}:role/{physical}",
            ("AWS::KMS::Key", "Arn"): lambda: self.arn("kms", f"key/{self._key_id(logical_id)}"),
            ("AWS::SQS::Queue", "Arn"): lambda: self.arn("sqs", physical),
            ("AWS::SNS::Topic", "TopicArn"): lambda: self.arn("sns", physical),
            ("AWS::Logs::LogGroup", "Arn"): lambda: self.arn("logs", f"log-group:{physical}:*"),
            ("AWS::Lambda::Function", "Arn"): lambda: self.arn("lambda", f"function:{physical}"),
            ("AWS::StepFunctions::StateMachine", "Arn"): lambda: self.arn("states", f"stateMachine:{physical}"),
            ("AWS::StepFunctions::StateMachine", "Name"): lambda: physical,
            ("AWS::S3::Bucket", "Arn"): lambda: f"arn:{PARTITION}:s3:::{physical}",
            ("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupArn"): lambda: self.arn(
                "sagemaker", f"model-package-group/{physical.lower()}"
            ),
            ("AWS::SageMaker::Pipeline", "PipelineName"): lambda: physical,
            ("AWS::Events::Rule", "Arn"): lambda: self.arn("events", f"rule/{physical}"),
            ("AWS::CloudWatch::Alarm", "Arn"): lambda: self.arn("cloudwatch", f"alarm:{physical}"),
            # Private network mode: the jobs', model's and functions' security groups, named by a stand-in id.
            ("AWS::EC2::SecurityGroup", "GroupId"): lambda: physical,
            ("AWS::DynamoDB::Table", "Arn"): lambda: self.arn("dynamodb", f"table/{physical}"),
        }
        if (kind, attribute) not in attributes:
            raise UnresolvableIntrinsic(f"Fn::GetAtt {logical_id}.{attribute} ({kind}) in stack {self.stack_id}")
        return attributes[(kind, attribute)]()

    def physical_name(self, logical_id: str) -> str:
        resource = self._resource(logical_id)
        properties = resource.get("Properties", {})
        name_property = {
            "AWS::IAM::Role": "RoleName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::StepFunctions::StateMachine": "StateMachineName",
            "AWS::S3::Bucket": "BucketName",
            "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
            "AWS::SageMaker::Pipeline": "PipelineName",
            "AWS::CloudWatch::Alarm": "AlarmName",
            "AWS::Events::Rule": "Name",
            "AWS::DynamoDB::Table": "TableName",
        }.get(resource["Type"])
        if name_property and name_property in properties:
            return str(self.resolve(properties[name_property]))
        return f"{self.environment.stack_name(self.stack_id)}-{logical_id}"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{PARTITION}:{service}:{self.environment.region}:{ACCOUNT}:{resource}"

    def _key_id(self, logical_id: str) -> str:
        # Key ids are UUIDs assigned at creation: a stable stand-in derived from the logical id.
        return f"{self.environment.stack_name(self.stack_id)}-{logical_id}".lower()

    def _resource(self, logical_id: str) -> Mapping[str, Any]:
        try:
            return self.template["Resources"][logical_id]
        except KeyError:
            raise UnresolvableIntrinsic(f"no resource {logical_id} in stack {self.stack_id}") from None


# ------------------------------------------------------------------------------------------------ evaluating


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
