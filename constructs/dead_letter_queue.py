"""Where events and invocations that keep failing end up: encrypted, SSL-only, kept two weeks."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs

from constructs import Construct


def dead_letter_queue(
    scope: Construct, construct_id: str, *, key: kms.IKey, removal_policy: RemovalPolicy = RemovalPolicy.DESTROY
) -> sqs.Queue:
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        removal_policy=removal_policy,
    )
    Validations.of(queue).acknowledge(
        Acknowledgment(id="AwsSolutions-SQS3", reason="This queue is itself a dead-letter queue.")
    )
    return queue


def allow_rule_to_dead_letter(scope: Construct, key: kms.IKey, rule_name: str, sid: str) -> None:
    """Lets EventBridge, for this one rule, write to a queue encrypted with `key`.

    EventBridge sends to a rule's dead-letter queue as itself, not as a role, so the key's policy must
    allow it. Only the rule's name goes in the condition, so the key's stack does not come to depend on
    the rule's.
    """
    rule_arn = Stack.of(scope).format_arn(service="events", resource="rule", resource_name=rule_name)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
            conditions={"ArnEquals": {"aws:SourceArn": rule_arn}},
        )
    )
