"""Who sends to the environment's topic and queues and uses its key, derived from the synthesized templates, and
whether each resource's own policy lets them (issue 25).

A publisher is found from what points at the topic or queue, so the next alarm, rule or log group is covered
without a change here:
- an `AWS::CloudWatch::Alarm` whose AlarmActions / OKActions / InsufficientDataActions name the topic: CloudWatch
  publishes as the service principal cloudwatch.amazonaws.com, on behalf of the alarm's ARN;
- an `AWS::Events::Rule` target whose Arn is the topic, or whose DeadLetterConfig names a queue: EventBridge sends
  as events.amazonaws.com, on behalf of the rule's ARN;
- an `AWS::Logs::LogGroup` encrypted with the key: CloudWatch Logs uses it as logs.<region>.amazonaws.com, with
  the log group's ARN in the encryption context;
- a resource that hands the topic to code running under a role (a Lambda function's environment, a state
  machine's definition, a custom resource's properties, an IAM policy): the role publishes with its identity
  policy (judged by the IAM check), so the topic policy must not deny it and the key policy must let the
  account's IAM policies grant the key (KMS Developer Guide, "Default key policy").
Anything else that names the topic is unknown and fails the check: model it here rather than guess.

Evaluation follows the IAM User Guide's "Policy evaluation logic" for a resource policy: a matching Deny wins,
then a matching Allow whose Principal names the caller, its service, or the account.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.infra.support.iam_policy import Need, conditions_hold, glob_match, statements_of
from tests.infra.support.iam_templates import ACCOUNT, PARTITION, Environment

# Every AWS request made over TLS carries aws:SecureTransport; what else a request carries: _context, _kms_context.
KMS_ACTIONS_OF_A_PUBLISHER = ("kms:GenerateDataKey", "kms:Decrypt")  # SNS "Key management": the publisher's needs
LOGS_KMS_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey")  # CloudWatch Logs, "Encrypt log data"
ALARM_ACTION_PROPERTIES = ("AlarmActions", "OKActions", "InsufficientDataActions")
# Resource types whose reference to the topic is handed to code running under an IAM role.
ROLE_PUBLISHERS = {
    "AWS::Lambda::Function",
    "AWS::StepFunctions::StateMachine",
    "AWS::IAM::Policy",
    "AWS::CloudFormation::CustomResource",
}
# Resource types that name the topic without publishing to it.
NOT_PUBLISHERS = {"AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "AWS::SNS::Subscription"}


class UnknownPublisher(ValueError):
    """A resource names the topic in a way this module does not model."""


@dataclass(frozen=True)
class Caller:
    """Who sends: a service principal on behalf of a source resource, or an IAM role of the account."""

    principal: str  # "cloudwatch.amazonaws.com" or a role ARN
    source_arn: str | None  # the alarm, rule or log group the service acts for
    why: str

    @property
    def is_service(self) -> bool:
        return self.principal.endswith(".amazonaws.com")


@dataclass(frozen=True)
class Use:
    """One thing a caller must be allowed by a resource policy."""

    caller: Caller
    policy: str  # "topic", "key" or "queue <logical id>"
    action: str
    resource: str
    context: Mapping[str, Any]


def _matches_principal(principal: Any, caller: Caller) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    services = principal.get("Service", [])
    services = services if isinstance(services, list) else [services]
    accounts = principal.get("AWS", [])
    accounts = accounts if isinstance(accounts, list) else [accounts]
    if caller.is_service:
        return caller.principal in services or "*" in accounts
    # An account principal (its root ARN or id) lets the account's IAM policies grant access (IAM User Guide,
    # "Specifying a principal": AWS account principals).
    return any(a in ("*", ACCOUNT, f"arn:{PARTITION}:iam::{ACCOUNT}:root", caller.principal) for a in accounts)


def allowed(document: Mapping[str, Any], use: Use) -> bool:
    statements = document.get("Statement", [])
    raw = statements if isinstance(statements, list) else [statements]
    need = Need(use.action, use.resource, use.context, use.caller.why)
    decided = []
    for raw_statement, statement in zip(raw, statements_of(document, use.policy), strict=True):
        if not _matches_principal(raw_statement.get("Principal"), use.caller):
            continue
        action_listed = any(glob_match(a, use.action, ignore_case=True) for a in statement.actions)
        resource_listed = any(glob_match(r, use.resource) for r in statement.resources)
        if action_listed and resource_listed and conditions_hold(statement.condition, need.context):
            decided.append(statement.effect)
    if "Deny" in decided:
        return False
    # Within one account a role's identity policy suffices for SNS and SQS unless the resource policy denies it
    # (IAM User Guide, "Policy evaluation logic"; the IAM check judges the identity policy). A KMS key counts IAM
    # policies only if its key policy lets the account grant it (KMS Developer Guide, "Default key policy").
    return "Allow" in decided or (not use.caller.is_service and use.policy != "key")


def _context(caller: Caller) -> dict[str, Any]:
    """The context of a request to the topic or a queue: a service sending on a resource's behalf carries its
    aws:SourceArn and aws:SourceAccount (IAM User Guide, "AWS global condition context keys"; the topic and queue
    policies AWS shows condition on them: Knowledge Center "cloudwatch-receive-sns-for-alarm-trigger", EventBridge
    User Guide "Granting permissions to the dead-letter queue")."""
    context: dict[str, Any] = {"aws:SecureTransport": True}
    if caller.is_service:
        context["aws:SourceAccount"] = ACCOUNT
        if caller.source_arn is not None:
            context["aws:SourceArn"] = caller.source_arn
    return context


def _kms_context(encryption_context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The context of the request to KMS made for a publisher: only what AWS documents it carries.

    No AWS page says the KMS request made when CloudWatch publishes to an encrypted topic, or when EventBridge
    sends to an encrypted queue, carries aws:SourceArn or aws:SourceAccount: the documented key statements have
    no condition (SNS Developer Guide, "Key management", https://docs.aws.amazon.com/sns/latest/dg/
    sns-key-management.html#compatibility-with-aws-services; Knowledge Center, https://repost.aws/knowledge-center/
    cloudwatch-configure-alarm-sns, Condition "(optional)"; SQS Developer Guide, "Key management" → "Configure KMS
    permissions for AWS services"), so a key statement conditioned on them is judged denied here. CloudWatch Logs
    documents its encryption context (kms:EncryptionContext:aws:logs:arn; "Encrypt log data in CloudWatch Logs").
    """
    return {"aws:SecureTransport": True, **(encryption_context or {})}


def _arn(environment: Environment, service: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{environment.region}:{ACCOUNT}:{resource}"


def _resolved_mentions(environment: Environment, stack_id: str, value: Any, target: str) -> bool:
    return target in json.dumps(environment.resolve(stack_id, value))


def topic_publishers(environment: Environment, topic_arn: str) -> Iterator[Caller]:
    for stack_id, logical_id, resource in environment.resources():
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind in NOT_PUBLISHERS or not _resolved_mentions(environment, stack_id, properties, topic_arn):
            continue
        resolved = environment.resolve(stack_id, properties)
        if kind == "AWS::CloudWatch::Alarm":
            if any(topic_arn in resolved.get(p, []) for p in ALARM_ACTION_PROPERTIES):
                name = resolved["AlarmName"]
                yield Caller("cloudwatch.amazonaws.com", _arn(environment, "cloudwatch", f"alarm:{name}"), name)
        elif kind == "AWS::Events::Rule" and any(t.get("Arn") == topic_arn for t in resolved.get("Targets", [])):
            yield Caller("events.amazonaws.com", _arn(environment, "events", f"rule/{resolved['Name']}"), logical_id)
        elif kind in ROLE_PUBLISHERS:
            role = _role_of(environment, stack_id, resource)
            if role is not None:
                yield Caller(role, None, f"{stack_id}/{logical_id} ({kind})")
        else:
            raise UnknownPublisher(f"{stack_id}/{logical_id} ({kind}) names the topic: model how it publishes")


def _role_of(environment: Environment, stack_id: str, resource: Mapping[str, Any]) -> str | None:
    properties = resource.get("Properties", {})
    role = properties.get("Role") or properties.get("RoleArn")
    return None if role is None else str(environment.resolve(stack_id, role))


def rule_dead_letter_senders(environment: Environment) -> Iterator[tuple[Caller, str]]:
    """(EventBridge for the rule, the queue's ARN) for every rule target with a dead-letter queue."""
    for stack_id, logical_id, resource in environment.resources():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        resolved = environment.resolve(stack_id, resource["Properties"])
        rule_arn = _arn(environment, "events", f"rule/{resolved['Name']}")
        for target in resolved.get("Targets", []):
            queue = target.get("DeadLetterConfig", {}).get("Arn")
            if queue is not None:
                yield Caller("events.amazonaws.com", rule_arn, f"{logical_id} dead letters"), queue


def encrypted_log_groups(environment: Environment, key_arn: str) -> Iterator[Caller]:
    for stack_id, _, resource in environment.resources():
        if resource["Type"] != "AWS::Logs::LogGroup":
            continue
        resolved = environment.resolve(stack_id, resource["Properties"])
        if resolved.get("KmsKeyId") == key_arn:
            group = _arn(environment, "logs", f"log-group:{resolved['LogGroupName']}")
            yield Caller(f"logs.{environment.region}.amazonaws.com", group, resolved["LogGroupName"])


def uses(environment: Environment, topic_arn: str, key_arn: str) -> list[Use]:
    """Every (caller, resource policy, action) the environment's topic, queues and key must allow."""
    found: list[Use] = []
    for caller in topic_publishers(environment, topic_arn):
        found.append(Use(caller, "topic", "sns:Publish", topic_arn, _context(caller)))
        found += [Use(caller, "key", action, key_arn, _kms_context()) for action in KMS_ACTIONS_OF_A_PUBLISHER]
    for caller, queue_arn in rule_dead_letter_senders(environment):
        found.append(Use(caller, f"queue {queue_arn}", "sqs:SendMessage", queue_arn, _context(caller)))
        if queue_key(environment, queue_arn) == key_arn:
            found += [Use(caller, "key", action, key_arn, _kms_context()) for action in KMS_ACTIONS_OF_A_PUBLISHER]
    for caller in encrypted_log_groups(environment, key_arn):
        context = _kms_context({"kms:EncryptionContext:aws:logs:arn": caller.source_arn})
        found += [Use(caller, "key", action, key_arn, context) for action in LOGS_KMS_ACTIONS]
    return found


def queue_key(environment: Environment, queue_arn: str) -> str | None:
    for stack_id, logical_id, resource in environment.resources():
        arn = (
            environment.resolve(stack_id, {"Fn::GetAtt": [logical_id, "Arn"]})
            if resource["Type"] == "AWS::SQS::Queue"
            else None
        )
        if arn == queue_arn:
            key = resource["Properties"].get("KmsMasterKeyId")
            return None if key is None else str(environment.resolve(stack_id, key))
    raise UnknownPublisher(f"dead-letter queue {queue_arn} is not in environment {environment.name}")


def queue_policy(environment: Environment, queue_arn: str) -> Mapping[str, Any]:
    for stack_id, _, resource in environment.resources():
        if resource["Type"] == "AWS::SQS::QueuePolicy":
            properties = environment.resolve(stack_id, resource["Properties"])
            urls = properties["Queues"]
            arns = {f"arn:{PARTITION}:sqs:{environment.region}:{ACCOUNT}:{url.rsplit('/', 1)[1]}" for url in urls}
            if queue_arn in arns:
                return properties["PolicyDocument"]
    return {"Statement": []}
