"""Deployment: the approval rule, the blue/green deploy workflow and the endpoint's alarms."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from constructs import Construct
from constructs.data_storage import DataStorage
from constructs.model_deployment import ModelDeployment
from constructs.private_network import NetworkPlacement
from settings.schema import EnvironmentConfig


class DeploymentStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        storage: DataStorage,
        topic: sns.ITopic,
        model_package_group_name: str,
        network: NetworkPlacement | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.deployment = ModelDeployment(
            self,
            "ModelDeployment",
            environment_name=config.name,
            settings=config.deployment,
            model_package_group_name=model_package_group_name,
            key=storage.key,
            # By name, not by export: see constructs.data_storage.bucket_name.
            artifacts_bucket=s3.Bucket.from_bucket_name(self, "ArtifactsBucket", storage.artifacts_bucket_name),
            topic=topic,
            destroy_on_removal=config.destroy_on_removal,
            network=network,
        )
        CfnOutput(self, "EndpointName", value=self.deployment.endpoint_name)
        CfnOutput(self, "DeployStateMachineArn", value=self.deployment.state_machine.state_machine_arn)
