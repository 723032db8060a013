"""The environment's one SNS topic: rejected uploads, failed runs, models awaiting approval, deployments."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions

from constructs import Construct


class NotificationTopic(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        key: kms.IKey,
        email_addresses: tuple[str, ...],
        https_endpoints: tuple[str, ...],
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"MLOps {environment_name}",
            master_key=key,
            enforce_ssl=True,
        )
        for address in email_addresses:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        for url in https_endpoints:
            self.topic.add_subscription(subscriptions.UrlSubscription(url, protocol=sns.SubscriptionProtocol.HTTPS))
