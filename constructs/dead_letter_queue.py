"""Where events and invocations that keep failing end up: encrypted, SSL-only, kept two weeks."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
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


def allow_eventbridge_to_dead_letter(key: kms.Key) -> None:
    """Lets EventBridge write to the dead-letter queues encrypted with `key`: one statement for the whole key.

    EventBridge sends to a rule's dead-letter queue as itself, not as a role, so the key's policy must allow the
    service principal. This is the statement AWS documents for an AWS service sending to an encrypted queue,
    without a condition (Amazon SQS Developer Guide, "Key management" → "Configure KMS permissions for AWS
    services", whose list of event sources names EventBridge, events.amazonaws.com). No AWS page says the KMS
    request SQS makes for EventBridge carries aws:SourceArn, and a condition on a key the request lacks denies it.
    Which rules may send stays scoped where it is documented: each queue's policy allows sqs:SendMessage for its
    rule's ARN only (EventBridge User Guide, "Using dead-letter queues" → "Granting permissions to the
    dead-letter queue"; CDK adds it for each target's dead_letter_queue). It is this key's own policy, so
    Resource "*" is this key.
    """
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="EventBridgeDeadLetters",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
        )
    )
