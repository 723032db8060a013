"""Tells the team when a training run fails (which step, why) and when a model awaits approval."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns

from constructs import Construct
from constructs.dead_letter_queue import dead_letter_queue
from constructs.permissions import KEY_CLIENT_ACTIONS, allow, allow_key_use, allow_wildcard
from constructs.private_network import NetworkPlacement
from constructs.python_lambda import PythonLambda, encrypted_log_group
from constructs.training_notifier_lambda.training_notifier.constants import (
    ENVIRONMENT_NAME_VARIABLE,
    MODEL_PACKAGE_STATE_CHANGE,
    PIPELINE_STATUS_CHANGE,
    TOPIC_ARN_VARIABLE,
)

HANDLER_DIR = Path(__file__).with_name("training_notifier_lambda")


def pipeline_failed_pattern(pipeline_arn: str) -> events.EventPattern:
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=[PIPELINE_STATUS_CHANGE],
        detail={"currentPipelineExecutionStatus": ["Failed"], "pipelineArn": [pipeline_arn]},
    )


def model_registered_pattern(model_package_group_name: str) -> events.EventPattern:
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=[MODEL_PACKAGE_STATE_CHANGE],
        detail={
            "ModelPackageGroupName": [model_package_group_name],
            "ModelApprovalStatus": ["PendingManualApproval"],
        },
    )


class TrainingNotifier(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        pipeline_arn: str,
        model_package_group_name: str,
        topic: sns.ITopic,
        key: kms.IKey,
        network: NetworkPlacement | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # What EventBridge cannot deliver, or the function cannot process after retries, lands here.
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", key=key)
        rule_names = {
            "failed": f"mlops-{environment_name}-training-failed",
            "registered": f"mlops-{environment_name}-model-registered",
        }
        self.notifier = PythonLambda(
            self,
            "Notifier",
            code_dir=HANDLER_DIR,
            handler="training_notifier.on_training_event.handler",
            description="Posts failed training runs and models awaiting approval to the topic",
            environment={ENVIRONMENT_NAME_VARIABLE: environment_name, TOPIC_ARN_VARIABLE: topic.topic_arn},
            key=key,
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=2,
            log_group=encrypted_log_group(self, f"/mlops/{environment_name}/training/notifier", key),
            network=network,
        )
        allow(self.notifier.role, ["sns:Publish"], [topic.topic_arn])
        allow_key_use(self.notifier.role, key, KEY_CLIENT_ACTIONS)
        allow_wildcard(
            self.notifier.role,
            ["sagemaker:ListPipelineExecutionSteps"],
            f"{pipeline_arn}/execution/*",
            "Execution ids are generated per run; the function reads steps of this pipeline's runs only.",
        )
        target = targets.LambdaFunction(
            self.notifier.function, retry_attempts=3, dead_letter_queue=self.dead_letter_queue
        )
        self.pipeline_failed_rule = events.Rule(
            self,
            "PipelineFailedRule",
            rule_name=rule_names["failed"],
            event_pattern=pipeline_failed_pattern(pipeline_arn),
            targets=[target],
        )
        self.model_registered_rule = events.Rule(
            self,
            "ModelRegisteredRule",
            rule_name=rule_names["registered"],
            event_pattern=model_registered_pattern(model_package_group_name),
            targets=[target],
        )
