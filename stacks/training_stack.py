"""Training: the pipeline, the model package group, the upload trigger and the run notifications."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from constructs import Construct
from constructs.data_storage import DataStorage
from constructs.ml_code_bundle import MlCodeBundle
from constructs.model_monitoring import ModelMonitoring
from constructs.private_network import NetworkPlacement
from constructs.training_notifier import TrainingNotifier
from constructs.training_pipeline import TrainingPipeline
from constructs.training_trigger import TrainingTrigger
from settings import resource_names
from settings.schema import EnvironmentConfig


class TrainingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        storage: DataStorage,
        topic: sns.ITopic,
        auc_thresholds: dict[str, float],
        network: NetworkPlacement | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # By name, not by export: see constructs.data_storage.bucket_name.
        data_bucket = s3.Bucket.from_bucket_name(self, "DataBucket", storage.data_bucket_name)
        artifacts_bucket = s3.Bucket.from_bucket_name(self, "ArtifactsBucket", storage.artifacts_bucket_name)
        self.code = MlCodeBundle(self, "MlCode")
        self.pipeline = TrainingPipeline(
            self,
            "Pipeline",
            environment_name=config.name,
            settings=config.training,
            auc_thresholds=auc_thresholds,
            artifacts_bucket=artifacts_bucket,
            key=storage.key,
            code=self.code,
            destroy_on_removal=config.destroy_on_removal,
            network=network,
        )
        self.trigger = TrainingTrigger(
            self,
            "Trigger",
            environment_name=config.name,
            data_bucket=data_bucket,
            artifacts_bucket=artifacts_bucket,
            key=storage.key,
            topic=topic,
            pipeline_name=self.pipeline.pipeline_name,
            pipeline_arn=self.pipeline.pipeline_arn,
            model_package_group_name=self.pipeline.model_package_group_name,
            max_upload_megabytes=config.training.max_upload_megabytes,
            network=network,
        )
        self.notifier = TrainingNotifier(
            self,
            "Notifier",
            environment_name=config.name,
            pipeline_arn=self.pipeline.pipeline_arn,
            model_package_group_name=self.pipeline.model_package_group_name,
            topic=topic,
            key=storage.key,
            network=network,
        )
        # Beside the pipeline it may restart, with the code bundle its jobs run; the endpoint only by its fixed name.
        self.monitoring = ModelMonitoring(
            self,
            "Monitoring",
            environment_name=config.name,
            settings=config.monitoring,
            endpoint_name=resource_names.endpoint_name(config.name),
            variant_name=config.deployment.endpoint.variant_name,
            artifacts_bucket=artifacts_bucket,
            key=storage.key,
            topic=topic,
            code=self.code,
            pipeline_name=self.pipeline.pipeline_name,
            pipeline_arn=self.pipeline.pipeline_arn,
            model_package_group_name=self.pipeline.model_package_group_name,
            network=network,
        )
        CfnOutput(self, "PipelineName", value=self.pipeline.pipeline_name)
        CfnOutput(self, "ModelPackageGroupName", value=self.pipeline.model_package_group_name)
