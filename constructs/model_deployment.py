"""Approving a model package rolls it onto the environment's real-time endpoint, blue/green, with auto-rollback.

EventBridge rule (this group, `Approved`) -> Step Functions standard workflow -> Lambda steps in
`model_deployment_lambda/deploy.py` that create the Model and EndpointConfig for the package version, create or
update the endpoint with a blue/green `DeploymentConfig` and rollback alarms, judge the outcome from the endpoint
itself, clean up, and report on the environment's SNS topic.

The endpoint, its configs and models are made by the workflow at run time (their names depend on the package
version), not by CloudFormation: the L1/L2 endpoint resources cannot express blue/green policies or
`RetainAllVariantProperties` (aws/aws-cdk#23151, #23152), and every endpoint-config change would replace them.
Where the environment's removal policy is destroy, a custom resource deletes them when the stack is deleted.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from aws_cdk import Aws, CustomResource, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from constructs.dead_letter_queue import allow_rule_to_dead_letter, dead_letter_queue
from constructs.model_deployment_lambda.deploy import POLL_SECONDS, busy_limit, name_prefix
from constructs.permissions import acknowledge, acknowledge_wildcards_once_resolved, nag_resource_text
from constructs.python_lambda import PythonLambda
from constructs.training_pipeline_definition import xgboost_image_repository_arn
from stacks import names
from stacks.config import DeploymentConfig

LAMBDA_DIR = Path(__file__).resolve().parent / "model_deployment_lambda"
DATA_CAPTURE_PREFIX = "data-capture/"
ALARM_SUFFIXES = ("invocation-5xx-errors", "model-latency", "model-errors")
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def workflow_settings(
    *,
    environment_name: str,
    endpoint_name: str,
    settings: DeploymentConfig,
    model_package_group_name: str,
    model_role_arn: str,
    kms_key_arn: str,
    data_capture_s3_uri: str,
    topic_arn: str,
    alarm_names: list[str],
) -> dict[str, Any]:
    """What the Lambda steps read from DEPLOY_SETTINGS (see deploy.py): one flat, JSON-serializable dict."""
    endpoint = settings.endpoint
    return {
        "environment": environment_name,
        "endpoint_name": endpoint_name,
        "model_package_group_name": model_package_group_name,
        "model_role_arn": model_role_arn,
        "kms_key_arn": kms_key_arn,
        "data_capture_s3_uri": data_capture_s3_uri,
        "topic_arn": topic_arn,
        "instance_type": endpoint.instance_type,
        "instance_count": endpoint.instance_count,
        "variant_name": endpoint.variant_name,
        "container_startup_health_check_timeout_seconds": endpoint.container_startup_health_check_timeout_seconds,
        "model_data_download_timeout_seconds": endpoint.model_data_download_timeout_seconds,
        "data_capture_percent": endpoint.data_capture_percent,
        "autoscaling": dataclasses.asdict(endpoint.autoscaling) if endpoint.autoscaling else None,
        "traffic_routing": settings.traffic_routing,
        "traffic_step_percent": settings.traffic_step_percent,
        "traffic_wait_seconds": settings.traffic_wait_seconds,
        "termination_wait_seconds": settings.termination_wait_seconds,
        "max_execution_timeout_seconds": settings.max_execution_timeout_seconds,
        "alarm_names": alarm_names,
        "previous_versions_kept": settings.previous_versions_kept,
    }


class ModelDeployment(Construct):
    """The deploy workflow of one environment.

    Exposes `endpoint_name` (fixed: `mlops-<environment>`), `state_machine`, `approval_rule`, `alarms` (the
    auto-rollback alarms), `model_role` (the endpoint's execution role) and `dead_letter_queue` (approval events
    EventBridge could not deliver to the workflow).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        settings: DeploymentConfig,
        model_package_group_name: str,
        key: kms.IKey,
        artifacts_bucket: s3.IBucket,
        model_code_bucket: s3.IBucket,
        model_code_object_key: str,
        topic: sns.ITopic,
        destroy_on_removal: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.endpoint_name = names.endpoint_name(environment_name)
        if not _NAME.fullmatch(self.endpoint_name):
            raise ValueError(f"endpoint name {self.endpoint_name!r} is not a valid SageMaker name")
        self._prefix = name_prefix(self.endpoint_name)
        self._environment_name = environment_name
        self._settings = settings
        self._key = key
        removal_policy = RemovalPolicy.DESTROY if destroy_on_removal else RemovalPolicy.RETAIN
        self._removal_policy = removal_policy
        self._log_group_prefix = f"/mlops/{environment_name}/deployment/"
        self._state_machine_log_group_name = f"/aws/vendedlogs/states/mlops-{environment_name}-deploy"
        self._rule_name = f"mlops-{environment_name}-model-approved"
        self._allow_logs_and_events_to_use_key()

        self.alarms = self._alarms()
        # Plain names (not tokens): the workflow's settings and its IAM policy name them without a reference.
        self.alarm_names = [f"{self.endpoint_name}-{suffix}" for suffix in ALARM_SUFFIXES]
        self.model_role = self._model_role(artifacts_bucket, model_code_bucket, model_code_object_key)

        data_capture_uri = f"s3://{artifacts_bucket.bucket_name}/{DATA_CAPTURE_PREFIX}{self.endpoint_name}"
        deploy_settings = workflow_settings(
            environment_name=environment_name,
            endpoint_name=self.endpoint_name,
            settings=settings,
            model_package_group_name=model_package_group_name,
            model_role_arn=self.model_role.role_arn,
            kms_key_arn=key.key_arn,
            data_capture_s3_uri=data_capture_uri,
            topic_arn=topic.topic_arn,
            alarm_names=self.alarm_names,
        )
        self.workflow_role = iam.Role(
            self,
            "WorkflowRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Deploy workflow steps of {self.endpoint_name}",
        )
        self._grant_workflow(self.workflow_role, model_package_group_name, topic)
        environment = {"DEPLOY_SETTINGS": stack.to_json_string(deploy_settings)}
        steps = {
            name: self._function(name, f"deploy.{handler}", description, environment, self.workflow_role, timeout)
            for name, handler, description, timeout in (
                ("Prepare", "prepare", "Reads the approved package and decides: deploy, wait or conclude", 60),
                ("StartRollout", "start_rollout", "Creates the Model and EndpointConfig, starts the rollout", 120),
                ("CheckEndpoint", "check_endpoint", "Judges the rollout from the endpoint itself", 60),
                ("Conclude", "conclude", "Cleans up, applies autoscaling, reports the outcome on SNS", 300),
            )
        }

        self.state_machine = self._state_machine(steps, topic)
        self.dead_letter_queue = dead_letter_queue(
            self, "ApprovalDeadLetterQueue", key=key, removal_policy=removal_policy
        )
        self.approval_rule = events.Rule(
            self,
            "ApprovalRule",
            rule_name=self._rule_name,
            description=f"An Approved model package of {model_package_group_name} starts the deploy workflow",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
                # The event also fires on registration (PendingManualApproval) and on rejection.
                detail={"ModelPackageGroupName": [model_package_group_name], "ModelApprovalStatus": ["Approved"]},
            ),
        )
        self.approval_rule.add_target(
            targets.SfnStateMachine(
                self.state_machine,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=8,
                max_event_age=Duration.hours(24),
            )
        )

        self.teardown: CustomResource | None = None
        if destroy_on_removal:
            self.teardown = self._teardown(deploy_settings)

    # -----------------------------------------------------------------------------------------------------------

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{Aws.PARTITION}:{service}:{Stack.of(self).region}:{Stack.of(self).account}:{resource}"

    def _allow_logs_and_events_to_use_key(self) -> None:
        # Log groups and the dead-letter queue are encrypted with the environment's key: its policy must let
        # CloudWatch Logs (for these log groups only) and EventBridge (for this rule only) use it. Only names go in
        # the conditions, so the key's stack does not come to depend on this one.
        region = Stack.of(self).region
        self._key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"DeployWorkflowLogs{self._environment_name.replace('-', '')}",
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:DescribeKey",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            self._arn("logs", f"log-group:{self._log_group_prefix}*"),
                            self._arn("logs", f"log-group:{self._state_machine_log_group_name}"),
                        ]
                    }
                },
            )
        )
        allow_rule_to_dead_letter(
            self, self._key, self._rule_name, sid=f"DeployDeadLetters{self._environment_name.replace('-', '')}"
        )

    def _alarms(self) -> list[cloudwatch.Alarm]:
        settings = self._settings
        dimensions = {"EndpointName": self.endpoint_name, "VariantName": settings.endpoint.variant_name}

        def metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=name,
                dimensions_map=dimensions,
                statistic=statistic,
                period=Duration.minutes(1),
            )

        specs = (
            (
                "Invocation5xxAlarm",
                ALARM_SUFFIXES[0],
                metric("Invocation5XXErrors", "Sum"),
                settings.invocation_5xx_alarm_count,
                cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                1,
                "5XX responses in a minute",
            ),
            (
                "ModelLatencyAlarm",
                ALARM_SUFFIXES[1],
                metric("ModelLatency", "Average"),
                settings.model_latency_alarm_microseconds,
                cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                2,
                "average model latency (microseconds) over two consecutive minutes",
            ),
            (
                "ModelErrorsAlarm",
                ALARM_SUFFIXES[2],
                metric("InvocationModelErrors", "Sum"),
                settings.model_error_alarm_count,
                cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                1,
                "model invocation errors in a minute",
            ),
        )
        alarms = []
        for construct_id, suffix, alarm_metric, threshold, comparison, periods, what in specs:
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    construct_id,
                    alarm_name=f"{self.endpoint_name}-{suffix}",
                    alarm_description=(
                        f"{what} on {self.endpoint_name}: rolls a blue/green deployment back while it bakes"
                    ),
                    metric=alarm_metric,
                    threshold=threshold,
                    comparison_operator=comparison,
                    evaluation_periods=periods,
                    datapoints_to_alarm=periods,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        return alarms

    def _model_role(
        self, artifacts_bucket: s3.IBucket, model_code_bucket: s3.IBucket, model_code_object_key: str
    ) -> iam.Role:
        role = iam.Role(
            self,
            "ModelRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Execution role of the models served by {self.endpoint_name}",
        )
        log_group = f"log-group:/aws/sagemaker/Endpoints/{self.endpoint_name}"
        statements = [
            iam.PolicyStatement(
                sid="ReadModelArtifactsAndInferenceCode",
                actions=["s3:GetObject"],
                # The code bundle only: the CDK assets bucket is shared by every environment and CDK app of the account.
                resources=[
                    artifacts_bucket.arn_for_objects("*"),
                    model_code_bucket.arn_for_objects(model_code_object_key),
                ],
            ),
            iam.PolicyStatement(
                sid="WriteDataCapture",
                actions=["s3:PutObject"],
                resources=[artifacts_bucket.arn_for_objects(f"{DATA_CAPTURE_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="UseEnvironmentKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[self._key.key_arn],
            ),
            iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            iam.PolicyStatement(
                sid="PullXgboostImage",
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=[xgboost_image_repository_arn(Stack.of(self).region)],
            ),
            iam.PolicyStatement(
                sid="EndpointLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[self._arn("logs", log_group), self._arn("logs", f"{log_group}:log-stream:*")],
            ),
            iam.PolicyStatement(
                sid="EndpointMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
            ),
        ]
        policy = iam.Policy(self, "ModelPolicy", statements=statements)
        policy.attach_to_role(role)
        self._acknowledge_wildcards(
            policy,
            {
                "Resource::*": "ecr:GetAuthorizationToken and cloudwatch:PutMetricData allow no resource; "
                "PutMetricData is limited by a namespace condition",
            },
            dynamic_reasons=[
                ("/*", "model.tar.gz files sit under pipeline-run prefixes of this environment's artifacts bucket"),
                (f"/{DATA_CAPTURE_PREFIX}*", "SageMaker writes data capture files under dated keys of this prefix"),
                (":log-stream:*", "SageMaker names one log stream per instance of this endpoint"),
            ],
        )
        return role

    def _grant_workflow(self, role: iam.Role, group: str, topic: sns.ITopic) -> None:
        group_in_arn = group if Token.is_unresolved(group) else group.lower()  # SageMaker ARNs are lowercase
        endpoint = self._arn("sagemaker", f"endpoint/{self.endpoint_name}")
        configs = self._arn("sagemaker", f"endpoint-config/{self._prefix}-*")
        models = self._arn("sagemaker", f"model/{self._prefix}-*")
        packages = self._arn("sagemaker", f"model-package/{group_in_arn}/*")
        alarms = [self._arn("cloudwatch", f"alarm:{name}") for name in self.alarm_names]
        scaling_alarms = self._arn("cloudwatch", f"alarm:TargetTracking-endpoint/{self.endpoint_name}/*")
        statements = [
            iam.PolicyStatement(
                sid="ReadApprovedPackages", actions=["sagemaker:DescribeModelPackage"], resources=[packages]
            ),
            iam.PolicyStatement(
                sid="ManageOwnModelsConfigsEndpoint",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:DeleteModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:UpdateEndpointWeightsAndCapacities",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                resources=[endpoint, configs, models],
            ),
            iam.PolicyStatement(sid="ListConfigs", actions=["sagemaker:ListEndpointConfigs"], resources=["*"]),
            iam.PolicyStatement(
                sid="PassModelRole",
                actions=["iam:PassRole"],
                resources=[self.model_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            # SageMaker reads the auto-rollback alarms with the permissions of the UpdateEndpoint caller.
            iam.PolicyStatement(sid="ReadRollbackAlarms", actions=["cloudwatch:DescribeAlarms"], resources=alarms),
            iam.PolicyStatement(
                sid="TargetTrackingAlarms",
                actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
                resources=[scaling_alarms],
            ),
            iam.PolicyStatement(
                sid="EndpointAutoscaling",
                actions=[
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="AutoscalingServiceLinkedRole",
                actions=["iam:CreateServiceLinkedRole"],
                resources=[
                    f"arn:{Aws.PARTITION}:iam::{Stack.of(self).account}:role/aws-service-role/"
                    "sagemaker.application-autoscaling.amazonaws.com/"
                    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
                ],
                conditions={"StringEquals": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}},
            ),
            # Publishing to the encrypted topic, and the endpoint config's volume key (SageMaker takes a grant).
            iam.PolicyStatement(
                sid="UseEnvironmentKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[self._key.key_arn],
            ),
            iam.PolicyStatement(
                sid="GrantKeyToSageMaker",
                actions=["kms:CreateGrant"],
                resources=[self._key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            iam.PolicyStatement(sid="ReportOutcome", actions=["sns:Publish"], resources=[topic.topic_arn]),
        ]
        policy = iam.Policy(self, "WorkflowPolicy", statements=statements)
        policy.attach_to_role(role)
        self._acknowledge_wildcards(
            policy,
            {
                "Resource::*": "ListEndpointConfigs and the Application Auto Scaling actions allow no "
                "narrower resource (scalable-target ARNs carry a random id)",
            },
            dynamic_reasons=[
                (
                    f":endpoint-config/{self._prefix}-*",
                    "configs are named per package version at run time, all under the endpoint's prefix",
                ),
                (f":model/{self._prefix}-*", "models are named per package version at run time, under the prefix"),
                (f":model-package/{group_in_arn}/*", "any version of this environment's model package group"),
                (
                    f":alarm:TargetTracking-endpoint/{self.endpoint_name}/*",
                    "Application Auto Scaling names its target-tracking alarms after the scalable target",
                ),
            ],
        )

    def _acknowledge_wildcards(
        self, policy: iam.Policy, fixed: dict[str, str], dynamic_reasons: list[tuple[str, str]]
    ) -> None:
        for finding, reason in fixed.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)
        acknowledge_wildcards_once_resolved(policy, dynamic_reasons)

    def _log_group(self, name: str, retention: logs.RetentionDays) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            f"{name}Logs",
            log_group_name=f"{self._log_group_prefix}{name}",
            encryption_key=self._key,
            retention=retention,
            removal_policy=self._removal_policy,
        )

    def _function(
        self, name: str, handler: str, description: str, environment: dict[str, str], role: iam.Role, timeout: int
    ) -> lambda_.Function:
        return PythonLambda(
            self,
            f"{name}Function",
            code_dir=LAMBDA_DIR,
            handler=handler,
            description=f"{self.endpoint_name}: {description}",
            environment=environment,
            key=self._key,
            timeout=Duration.seconds(timeout),
            role=role,
            log_group=self._log_group(name, logs.RetentionDays.THREE_MONTHS),
        ).function

    def _state_machine(self, steps: dict[str, lambda_.Function], topic: sns.ITopic) -> sfn.StateMachine:
        def invoke(state_name: str, function: lambda_.Function, comment: str) -> tasks.LambdaInvoke:
            task = tasks.LambdaInvoke(
                self, state_name, lambda_function=function, payload_response_only=True, comment=comment
            )
            # LambdaInvoke already retries Lambda's service errors; throttling gets its own, longer backoff.
            task.add_retry(
                errors=["Lambda.TooManyRequestsException"],
                interval=Duration.seconds(5),
                max_attempts=8,
                backoff_rate=2,
            )
            return task

        prepare = invoke("Prepare", steps["Prepare"], "Read the package; deploy, wait for a busy endpoint, or end")
        start = invoke("StartRollout", steps["StartRollout"], "Create Model + EndpointConfig; create/update")
        check = invoke("CheckEndpoint", steps["CheckEndpoint"], "Is the endpoint InService on the new config?")
        conclude = invoke("Conclude", steps["Conclude"], "Clean up, autoscaling, publish the outcome")
        report_error = invoke("ReportError", steps["Conclude"], "A step failed: publish the failure and its cause")
        report_unreported = tasks.SnsPublish(
            self,
            "ReportUnreportedFailure",
            topic=topic,
            subject=f"[{self._environment_name}] deploy workflow failed without a report",
            message=sfn.TaskInput.from_object(
                {
                    "environment": self._environment_name,
                    "endpoint": self.endpoint_name,
                    "outcome": "failed",
                    "reason": "the Conclude step itself failed; see the execution history",
                    "error": sfn.JsonPath.string_at("$.error.Cause"),
                }
            ),
        )

        wait_busy = sfn.Wait(
            self,
            "WaitWhileEndpointBusy",
            time=sfn.WaitTime.duration(Duration.seconds(POLL_SECONDS)),
            comment="Another rollout or a create is running: check again",
        )
        wait_rollout = sfn.Wait(self, "WaitForRollout", time=sfn.WaitTime.duration(Duration.seconds(POLL_SECONDS)))
        outcome = (
            sfn.Choice(self, "Outcome")
            .when(
                sfn.Condition.or_(
                    sfn.Condition.string_equals("$.outcome", "deployed"),
                    sfn.Condition.string_equals("$.outcome", "noop"),
                    sfn.Condition.string_equals("$.outcome", "skipped"),
                ),
                sfn.Succeed(self, "Done"),
            )
            .when(
                sfn.Condition.string_equals("$.outcome", "rolled_back"),
                sfn.Fail(self, "RolledBack", error="RolledBack", cause_path="$.reason"),
            )
            .otherwise(sfn.Fail(self, "DeploymentFailed", error="DeploymentFailed", cause_path="$.reason"))
        )
        for task in (prepare, start, check):
            task.add_catch(report_error, errors=["States.ALL"], result_path="$.error")
        for task in (conclude, report_error):
            task.add_catch(report_unreported, errors=["States.ALL"], result_path="$.error")
        report_unreported.next(sfn.Fail(self, "ReportingFailed", error="ReportingFailed"))
        report_error.next(outcome)
        conclude.next(outcome)
        wait_busy.next(prepare)
        wait_rollout.next(check)
        check.next(
            sfn.Choice(self, "RolloutFinished")
            .when(sfn.Condition.string_equals("$.rollout", "in_progress"), wait_rollout)
            .otherwise(conclude)
        )
        start.next(
            sfn.Choice(self, "RolloutStarted")
            .when(sfn.Condition.string_equals("$.rollout", "busy"), wait_busy)
            .otherwise(wait_rollout)
        )
        prepare.next(
            sfn.Choice(self, "WhatToDo")
            .when(sfn.Condition.string_equals("$.action", "deploy"), start)
            .when(sfn.Condition.string_equals("$.action", "wait"), wait_busy)
            .otherwise(conclude)
        )

        limit = busy_limit(dataclasses.asdict(self._settings))
        # Waiting for a busy endpoint, then for our own rollout, each bounded by `limit` checks, plus slack.
        timeout = Duration.seconds(2 * limit * POLL_SECONDS + 3600)
        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            log_group_name=self._state_machine_log_group_name,
            encryption_key=self._key,
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=self._removal_policy,
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=names.deploy_state_machine_name(self._environment_name),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(prepare),
            comment=f"Deploys an approved model package onto {self.endpoint_name} (blue/green, auto-rollback)",
            timeout=timeout,
            tracing_enabled=True,
            # Execution data stays under Step Functions' own key: with the environment's key, EventBridge's
            # StartExecution and everyone reading the history would need kms:GenerateDataKey/Decrypt too.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        # ReportUnreportedFailure publishes to the topic directly; the topic is encrypted with the environment's key.
        machine.add_to_role_policy(
            iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[self._key.key_arn])
        )
        _acknowledge_state_machine_role(machine, [steps[name] for name in sorted(steps)])
        return machine

    def _teardown(self, deploy_settings: dict[str, Any]) -> CustomResource:
        role = iam.Role(
            self,
            "TeardownRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Deletes {self.endpoint_name}, its configs and models when the stack is deleted",
        )
        endpoint = self._arn("sagemaker", f"endpoint/{self.endpoint_name}")
        configs = self._arn("sagemaker", f"endpoint-config/{self._prefix}-*")
        models = self._arn("sagemaker", f"model/{self._prefix}-*")
        executions = self._arn("states", f"execution:{self.state_machine.state_machine_name}:*")
        statements = [
            iam.PolicyStatement(
                sid="DeleteOwnEndpointConfigsModels",
                actions=[
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:DeleteModel",
                ],
                resources=[endpoint, configs, models],
            ),
            iam.PolicyStatement(
                sid="ListModelsConfigsAndScaling",
                actions=[
                    "sagemaker:ListEndpointConfigs",
                    "sagemaker:ListModels",
                    "application-autoscaling:DeregisterScalableTarget",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="StopRunningDeployments",
                actions=["states:ListExecutions"],
                resources=[self.state_machine.state_machine_arn],
            ),
            iam.PolicyStatement(sid="StopExecution", actions=["states:StopExecution"], resources=[executions]),
            iam.PolicyStatement(sid="DecryptEnvironment", actions=["kms:Decrypt"], resources=[self._key.key_arn]),
        ]
        policy = iam.Policy(self, "TeardownPolicy", statements=statements)
        policy.attach_to_role(role)
        self._acknowledge_wildcards(
            policy,
            {
                "Resource::*": "ListEndpointConfigs, ListModels and DeregisterScalableTarget allow no narrower "
                "resource",
            },
            dynamic_reasons=[
                (f":endpoint-config/{self._prefix}-*", "every config the workflow made, all under the prefix"),
                (f":model/{self._prefix}-*", "every model the workflow made, all under the prefix"),
                (":*", "executions of this state machine are named by EventBridge at run time"),
            ],
        )
        settings = {**deploy_settings, "state_machine_arn": self.state_machine.state_machine_arn}
        function = self._function(
            "Teardown",
            "deploy.teardown",
            "On stack deletion deletes the endpoint, its configs and models",
            {"DEPLOY_SETTINGS": Stack.of(self).to_json_string(settings)},
            role,
            900,
        )
        function.node.add_dependency(policy)
        resource = CustomResource(
            self,
            "Teardown",
            service_token=function.function_arn,
            resource_type="Custom::SageMakerEndpointTeardown",
            properties={"EndpointName": self.endpoint_name, "NamePrefix": self._prefix},
        )
        # Deleted before the workflow, the rule and the roles it needs, so nothing starts a rollout meanwhile.
        resource.node.add_dependency(self.state_machine, self.approval_rule, policy)
        return resource


def _acknowledge_state_machine_role(machine: sfn.StateMachine, functions: list[lambda_.Function]) -> None:
    policy = machine.role.node.try_find_child("DefaultPolicy")
    scope = policy if policy is not None else machine.role
    acknowledge(
        scope,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray trace segments and CloudWatch Logs delivery management (Step Functions logging) allow no "
        "narrower resource",
    )
    for function in functions:
        rendered = nag_resource_text(Stack.of(machine).resolve(function.function_arn))
        acknowledge(
            scope,
            f"AwsSolutions-IAM5[Resource::{rendered}:*]",
            "CDK grants invoke on the function's versions and aliases as well as the function",
        )
