"""Where training data arrives and pipeline artifacts live: three buckets and the key that encrypts them."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.dead_letter_queue import allow_eventbridge_to_dead_letter
from constructs.removal_policies import environment_removal_policy
from constructs.scanner_reasons import skip_checkov

INCOMING_PREFIX = "incoming/"


def bucket_name(environment_name: str, purpose: str) -> str:
    """A predictable, globally unique name. Other stacks refer to buckets by it, not by export: IAM
    statements then read `mlops-dev-data-<account>-<region>/incoming/*`, reviewable in a diff."""
    return f"mlops-{environment_name}-{purpose}-{Aws.ACCOUNT_ID}-{Aws.REGION}"


class DataStorage(Construct):
    """A customer-managed key, a data bucket (uploads under `incoming/`), an artifacts bucket, a log bucket.

    Uploads to the data bucket are published to EventBridge through the bucket's own notification
    property, so no custom-resource Lambda appears in the template (aws/aws-cdk#26772).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        destroy_on_removal: bool,
        noncurrent_version_expiration_days: int,
        access_log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        removal_policy = environment_removal_policy(destroy_on_removal)

        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts training data, pipeline artifacts, models and notifications",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        # Every dead-letter queue of the environment (upload, training notices, deploy) is encrypted with this key.
        allow_eventbridge_to_dead_letter(self.key)

        # S3 cannot deliver server access logs to a KMS-encrypted bucket: this one uses S3-managed keys.
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(access_log_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=destroy_on_removal,
        )
        skip_checkov(
            self.access_log_bucket,
            "CKV_AWS_18",
            "The access-log bucket itself: the other buckets (and VPC flow logs) log here; logging to itself would loop",
        )

        self.data_bucket_name = bucket_name(environment_name, "data")
        self.artifacts_bucket_name = bucket_name(environment_name, "artifacts")
        self.data_bucket = self._encrypted_bucket(
            "DataBucket",
            self.data_bucket_name,
            "data/",
            removal_policy,
            destroy_on_removal,
            noncurrent_version_expiration_days,
        )
        data_bucket_resource = self.data_bucket.node.default_child
        assert isinstance(data_bucket_resource, s3.CfnBucket)
        data_bucket_resource.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
        )

        self.artifacts_bucket = self._encrypted_bucket(
            "ArtifactsBucket",
            self.artifacts_bucket_name,
            "artifacts/",
            removal_policy,
            destroy_on_removal,
            noncurrent_version_expiration_days,
        )

    def _encrypted_bucket(
        self,
        construct_id: str,
        name: str,
        log_prefix: str,
        removal_policy: RemovalPolicy,
        destroy_on_removal: bool,
        noncurrent_version_expiration_days: int,
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            bucket_name=name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix=log_prefix,
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(noncurrent_version_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=destroy_on_removal,
        )
