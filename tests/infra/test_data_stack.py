"""The data stack: encrypted, private, SSL-only, versioned buckets; EventBridge on; retention per environment."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from settings.loading import environment_settings
from tests.infra.support.synthesis import ENVIRONMENTS, Synthesized, cdk_json_context

KMS_ENCRYPTION = {
    "ServerSideEncryptionConfiguration": [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": Match.any_value()},
        }
    ]
}


def test_key_rotates(synthesized: Synthesized) -> None:
    synthesized.template("dev", "Data").has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_data_and_artifacts_buckets_use_the_customer_managed_key(synthesized: Synthesized) -> None:
    buckets = synthesized.template("dev", "Data").find_resources(
        "AWS::S3::Bucket", {"Properties": {"BucketEncryption": KMS_ENCRYPTION}}
    )
    assert len(buckets) == 2


def test_access_log_bucket_uses_s3_managed_keys(synthesized: Synthesized) -> None:
    # S3 cannot write server access logs into a KMS-encrypted bucket.
    synthesized.template("dev", "Data").has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            }
        },
    )


def test_every_bucket_blocks_public_access_and_is_versioned(synthesized: Synthesized) -> None:
    buckets = synthesized.template("dev", "Data").find_resources("AWS::S3::Bucket")
    assert len(buckets) == 3
    for bucket in buckets.values():
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}


def test_every_bucket_policy_denies_requests_without_ssl(synthesized: Synthesized) -> None:
    policies = synthesized.template("dev", "Data").find_resources(
        "AWS::S3::BucketPolicy",
        {
            "Properties": {
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                    "Principal": {"AWS": "*"},
                                }
                            )
                        ]
                    )
                }
            }
        },
    )
    assert len(policies) == 3


def test_data_and_artifacts_buckets_log_to_the_access_log_bucket(synthesized: Synthesized) -> None:
    logged = synthesized.template("dev", "Data").find_resources(
        "AWS::S3::Bucket",
        {"Properties": {"LoggingConfiguration": {"DestinationBucketName": Match.any_value()}}},
    )
    assert len(logged) == 2


def test_noncurrent_versions_expire(synthesized: Synthesized) -> None:
    synthesized.template("prod", "Data").has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with([Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 90}})])
            }
        },
    )


def test_data_bucket_publishes_to_eventbridge_without_a_custom_resource(synthesized: Synthesized) -> None:
    template = synthesized.template("dev", "Data")
    template.has_resource_properties(
        "AWS::S3::Bucket", {"NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}}
    )
    template.resource_count_is("Custom::S3BucketNotifications", 0)


@pytest.mark.parametrize("environment", ["dev", "stg"])
def test_destroy_environments_delete_and_empty_buckets(synthesized: Synthesized, environment: str) -> None:
    template = synthesized.template(environment, "Data")
    template.all_resources("AWS::S3::Bucket", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})
    template.all_resources("AWS::KMS::Key", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})
    template.resource_count_is("Custom::S3AutoDeleteObjects", 3)


def test_prod_retains_buckets_and_key(synthesized: Synthesized) -> None:
    template = synthesized.template("prod", "Data")
    # RetainExceptOnCreate: kept on delete and replacement, removed if the first create rolls back.
    retained = {"DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain"}
    template.all_resources("AWS::S3::Bucket", retained)
    template.all_resources("AWS::KMS::Key", retained)
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_stage_deploys_to_the_configured_region(synthesized: Synthesized, environment: str) -> None:
    stage = synthesized.stages[environment]
    assert stage.data.region == environment_settings(cdk_json_context())[environment]["region"]
