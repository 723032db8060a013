"""Starts the training pipeline for each valid CSV uploaded under `incoming/` of the data bucket."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from constructs import Construct
from constructs.data_storage import INCOMING_PREFIX
from constructs.dead_letter_queue import dead_letter_queue
from constructs.model_deployment_lambda.model_deployment.constants import name_prefix
from constructs.permissions import KEY_CLIENT_ACTIONS, allow, allow_key_use, allow_wildcard
from constructs.private_network import NetworkPlacement
from constructs.python_lambda import PythonLambda, encrypted_log_group
from constructs.training_trigger_lambda.training_trigger.constants import (
    ALLOWED_COLUMNS_VARIABLE,
    ENDPOINT_NAME_VARIABLE,
    ENVIRONMENT_NAME_VARIABLE,
    IGNORED_COLUMNS_VARIABLE,
    MAX_UPLOAD_BYTES_VARIABLE,
    PINNED_INPUT_BUCKET_VARIABLE,
    PINNED_INPUT_PREFIX_VARIABLE,
    PIPELINE_NAME_VARIABLE,
    TARGET_COLUMN_VARIABLE,
    TOPIC_ARN_VARIABLE,
)
from settings import resource_names as names

HANDLER_DIR = Path(__file__).with_name("training_trigger_lambda")
CONTRACT_MODULE = Path(__file__).resolve().parents[1] / "ml_code" / "contract.py"
PINNED_INPUT_PREFIX = "pipeline-inputs/"


def load_data_contract() -> object:
    """ml_code's data contract, read by ml_code's own stdlib-only loader: one definition for every step."""
    spec = importlib.util.spec_from_file_location("ml_code_contract", CONTRACT_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module.load_contract()


def upload_pattern(data_bucket_name: str) -> events.EventPattern:
    return events.EventPattern(
        source=["aws.s3"],
        detail_type=["Object Created"],
        detail={"bucket": {"name": [data_bucket_name]}, "object": {"key": [{"prefix": INCOMING_PREFIX}]}},
    )


class TrainingTrigger(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        data_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        key: kms.IKey,
        topic: sns.ITopic,
        pipeline_name: str,
        pipeline_arn: str,
        model_package_group_name: str,
        max_upload_megabytes: int,
        network: NetworkPlacement | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        endpoint_name = names.endpoint_name(environment_name)
        prefix = name_prefix(endpoint_name)
        contract = load_data_contract()

        # Whatever the function or EventBridge cannot deliver after retries lands here, encrypted.
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", key=key)
        rule_name = f"mlops-{environment_name}-upload"
        self.trigger = PythonLambda(
            self,
            "Trigger",
            code_dir=HANDLER_DIR,
            handler="training_trigger.on_upload.handler",
            description="Validates an uploaded CSV and starts the training pipeline on a pinned copy",
            environment={
                ENVIRONMENT_NAME_VARIABLE: environment_name,
                PIPELINE_NAME_VARIABLE: pipeline_name,
                TOPIC_ARN_VARIABLE: topic.topic_arn,
                MAX_UPLOAD_BYTES_VARIABLE: str(max_upload_megabytes * 1024 * 1024),
                TARGET_COLUMN_VARIABLE: contract.target_column,
                ALLOWED_COLUMNS_VARIABLE: json.dumps(contract.allowed_columns()),
                # Accepted when present, never required: the model does not use them.
                IGNORED_COLUMNS_VARIABLE: json.dumps(list(contract.ignored_columns)),
                PINNED_INPUT_BUCKET_VARIABLE: artifacts_bucket.bucket_name,
                PINNED_INPUT_PREFIX_VARIABLE: PINNED_INPUT_PREFIX,
                ENDPOINT_NAME_VARIABLE: endpoint_name,
            },
            key=key,
            timeout=Duration.minutes(5),  # room for a server-side copy of a large upload
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=2,
            log_group=encrypted_log_group(self, f"/mlops/{environment_name}/training/trigger", key),
            network=network,
        )
        role = self.trigger.role
        allow_wildcard(
            role,
            # The data bucket is versioned and its events carry the version id: every read and tag names it.
            ["s3:GetObjectVersion", "s3:GetObjectVersionTagging", "s3:PutObjectVersionTagging"],
            data_bucket.arn_for_objects(f"{INCOMING_PREFIX}*"),
            "Uploads arrive under any key below incoming/; the function reads and tags exactly those.",
        )
        # Which key an event names (it may arrive URL-encoded) and whether it was deleted since: the versions
        # of exactly that key, listed with the key as prefix.
        allow(
            role,
            ["s3:ListBucketVersions"],
            [data_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{INCOMING_PREFIX}*"]}},
        )
        allow_wildcard(
            role,
            ["s3:PutObject", "s3:AbortMultipartUpload"],
            artifacts_bucket.arn_for_objects(f"{PINNED_INPUT_PREFIX}*"),
            "Each accepted upload is pinned under pipeline-inputs/<token>/ before the run starts.",
        )
        allow(role, ["sagemaker:StartPipelineExecution"], [pipeline_arn])
        # Finding the serving model (the champion each run is compared with), from the endpoint itself: the
        # endpoint, its config and that config's model (named by the deploy workflow under the endpoint's
        # prefix), then the package the model was made from, in this environment's group.
        stack = Stack.of(self)
        allow(
            role,
            ["sagemaker:DescribeEndpoint"],
            [stack.format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint_name)],
        )
        for kind in ("endpoint-config", "model"):
            allow_wildcard(
                role,
                ["sagemaker:DescribeEndpointConfig" if kind == "endpoint-config" else "sagemaker:DescribeModel"],
                stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{prefix}-v*"),
                "The deploy workflow names configs and models per package version under the endpoint's prefix.",
            )
        allow_wildcard(
            role,
            ["sagemaker:DescribeModelPackage"],
            Stack.of(self).format_arn(
                service="sagemaker", resource="model-package", resource_name=f"{model_package_group_name}/*"
            ),
            "Package versions of this environment's group are numbered as they are registered.",
        )
        allow(role, ["sns:Publish"], [topic.topic_arn])
        allow_key_use(role, key, KEY_CLIENT_ACTIONS)

        self.rule = events.Rule(
            self,
            "UploadRule",
            rule_name=rule_name,
            description="CSV uploads under incoming/ of the data bucket",
            event_pattern=upload_pattern(data_bucket.bucket_name),
            targets=[
                targets.LambdaFunction(
                    self.trigger.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            ],
        )
