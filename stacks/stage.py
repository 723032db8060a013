"""One deployable environment: `npx cdk deploy 'dev/*'` deploys the stacks of the `dev` stage."""

from __future__ import annotations

from aws_cdk import Environment, Stage

from constructs import Construct
from settings.config import EnvironmentConfig
from stacks.data_stack import DataStack
from stacks.deployment_stack import DeploymentStack
from stacks.notifications_stack import NotificationsStack
from stacks.training_stack import TrainingStack


class MlopsStage(Stage):
    def __init__(self, scope: Construct, config: EnvironmentConfig, *, auc_thresholds: dict[str, float]) -> None:
        super().__init__(scope, config.name, env=Environment(account=config.account, region=config.region))
        self.data = DataStack(self, "Data", config=config)
        storage = self.data.storage
        self.notifications = NotificationsStack(self, "Notifications", config=config, key=storage.key)
        topic = self.notifications.notifications.topic
        self.training = TrainingStack(
            self, "Training", config=config, storage=storage, topic=topic, auc_thresholds=auc_thresholds
        )
        self.training.add_stack_dependency(self.data)  # buckets are referred to by name, not by export
        self.deployment = DeploymentStack(
            self,
            "Deployment",
            config=config,
            storage=storage,
            topic=topic,
            model_package_group_name=self.training.pipeline.model_package_group_name,
            model_code_bucket_name=self.training.code.asset.s3_bucket_name,
            model_code_object_key=self.training.code.asset.s3_object_key,
        )
        self.deployment.add_stack_dependency(self.training)  # the model package group comes first
