"""One deployable environment: `npx cdk deploy 'dev/*'` deploys the stacks of the `dev` stage."""

from __future__ import annotations

from aws_cdk import Environment, Stage

from constructs import Construct
from settings.schema import EnvironmentConfig
from stacks.data_stack import DataStack
from stacks.deployment_stack import DeploymentStack
from stacks.notifications_stack import NotificationsStack
from stacks.stack_references import lock_while_used
from stacks.training_stack import TrainingStack


class MlopsStage(Stage):
    def __init__(self, scope: Construct, config: EnvironmentConfig, *, auc_thresholds: dict[str, float]) -> None:
        super().__init__(scope, config.name, env=Environment(account=config.account, region=config.region))
        self.data = DataStack(self, "Data", config=config)
        storage = self.data.storage
        self.notifications = NotificationsStack(self, "Notifications", config=config, key=storage.key)
        topic = self.notifications.notifications.topic
        self.training = TrainingStack(
            self,
            "Training",
            config=config,
            storage=storage,
            topic=topic,
            auc_thresholds=auc_thresholds,
            network=self.data.placement,
        )
        self.deployment = DeploymentStack(
            self,
            "Deployment",
            config=config,
            storage=storage,
            topic=topic,
            model_package_group_name=self.training.pipeline.model_package_group_name,
            network=self.data.placement,
        )
        # Each stack deploys after, and locks against deletion, the stacks whose resources it uses: the key (Data),
        # the topic (Notifications), the buckets by name (Data), the model package group by name (Training).
        for consumer, producers in (
            (self.notifications, [self.data]),
            (self.training, [self.data, self.notifications]),
            (self.deployment, [self.data, self.notifications, self.training]),
        ):
            for producer in producers:
                lock_while_used(producer, consumer)
