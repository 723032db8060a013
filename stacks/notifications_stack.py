"""The topic that every part of the environment reports to."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kms as kms

from constructs import Construct
from constructs.notification_topic import NotificationTopic
from settings.schema import EnvironmentConfig


class NotificationsStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, key: kms.IKey, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.notifications = NotificationTopic(
            self,
            "Notifications",
            environment_name=config.name,
            key=key,
            email_addresses=config.notifications.email_addresses,
            https_endpoints=config.notifications.https_endpoints,
        )
        CfnOutput(self, "TopicArn", value=self.notifications.topic.topic_arn, description="Subscribe to follow runs")
