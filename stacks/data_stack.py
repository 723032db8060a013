"""The environment's storage: buckets and key that the training and deployment stacks build on."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack

from constructs import Construct
from constructs.data_storage import DataStorage
from constructs.private_network import NetworkPlacement, PrivateNetwork, place_cdk_providers_in_vpc
from settings.schema import EnvironmentConfig


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = DataStorage(
            self,
            "Storage",
            environment_name=config.name,
            destroy_on_removal=config.destroy_on_removal,
            noncurrent_version_expiration_days=config.data.noncurrent_version_expiration_days,
            access_log_retention_days=config.data.access_log_retention_days,
        )
        # Private network mode (docs/private-network.md): where the other stacks place jobs, model and functions.
        self.network: PrivateNetwork | None = None
        if config.private_network is not None:
            self.network = PrivateNetwork(
                self, "Network", settings=config.private_network, flow_log_bucket=self.storage.access_log_bucket
            )
        place_cdk_providers_in_vpc(self, self.placement)

        CfnOutput(
            self,
            "DataBucketName",
            value=self.storage.data_bucket.bucket_name,
            description="Upload training CSVs under incoming/ of this bucket",
        )
        CfnOutput(
            self,
            "ArtifactsBucketName",
            value=self.storage.artifacts_bucket.bucket_name,
            description="Pipeline outputs, models and evaluation reports",
        )

    @property
    def placement(self) -> NetworkPlacement | None:
        return self.network.placement if self.network is not None else None
