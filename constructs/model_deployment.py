"""Approving a model package rolls it onto the environment's real-time endpoint, blue/green, with auto-rollback.

EventBridge rule (this group, `Approved`) -> Step Functions standard workflow -> Lambda steps in
`model_deployment_lambda/model_deployment/` that create the Model and EndpointConfig for the package version, create or
update the endpoint with a blue/green `DeploymentConfig` and rollback alarms, judge the outcome from the endpoint
itself, clean up, and report on the environment's SNS topic.

The endpoint, its configs and models are made by the workflow at run time (their names depend on the package
version), not by CloudFormation: the L1/L2 endpoint resources cannot express blue/green policies or
`RetainAllVariantProperties` (aws/aws-cdk#23151, #23152), and every endpoint-config change would replace them.
Where the environment's removal policy is destroy, a custom resource deletes them when the stack is deleted.

This module composes the parts, which live beside it: `deployment_model_role` (the endpoint's execution role),
`deployment_alarms` (operator alarms), `deployment_step_roles` (the steps and their IAM), `deployment_workflow`
(the state machine), `deployment_teardown`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from constructs import Construct
from constructs.dead_letter_queue import dead_letter_queue
from constructs.deployment_alarms import allow_alarms_to_notify, operator_alarm_names, operator_alarms
from constructs.deployment_model_role import endpoint_model_role
from constructs.deployment_step_roles import (
    STEPS,
    acknowledge_workflow_policy,
    regional_arn,
    step_statements,
    workflow_statements,
)
from constructs.deployment_teardown import endpoint_teardown
from constructs.deployment_workflow import deploy_state_machine
from constructs.model_deployment_lambda.model_deployment.constants import (
    DEPLOY_SETTINGS_VARIABLE,
    POLL_SECONDS,
    busy_limit,
    name_prefix,
)
from constructs.permissions import LOGS_KEY_ACTIONS
from constructs.private_network import NetworkPlacement, allow_sagemaker_network_interfaces, model_network_settings
from constructs.python_lambda import PythonLambda
from constructs.removal_policies import environment_removal_policy
from settings import resource_names as names
from settings.schema import DeploymentConfig

LAMBDA_DIR = Path(__file__).resolve().parent / "model_deployment_lambda"
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
    ledger_table_name: str,
) -> dict[str, Any]:
    """What the Lambda steps read from DEPLOY_SETTINGS_VARIABLE (see model_deployment/step_handler.py): one JSON-serializable dict.

    The resources' names and ARNs, then the deployment settings under their cdk.json names, the endpoint's
    (deployment.endpoint.*) beside the workflow's: a new setting reaches the steps without a line here. A null
    setting (autoscaling or serverless_memory_mb unset) is left out of the JSON: CDK drops null values.
    """
    resources = {
        "environment": environment_name,
        "endpoint_name": endpoint_name,
        "model_package_group_name": model_package_group_name,
        "model_role_arn": model_role_arn,
        "kms_key_arn": kms_key_arn,
        "data_capture_s3_uri": data_capture_s3_uri,
        "topic_arn": topic_arn,
        "ledger_table_name": ledger_table_name,
    }
    deployment = dataclasses.asdict(settings)
    endpoint = deployment.pop("endpoint")
    shadowed = (resources.keys() & endpoint.keys()) | ((resources.keys() | endpoint.keys()) & deployment.keys())
    if shadowed:
        raise ValueError(f"deployment settings {sorted(shadowed)} would share a DEPLOY_SETTINGS key with another")
    return {**resources, **endpoint, **deployment}


class ModelDeployment(Construct):
    """The deploy workflow of one environment.

    Exposes `endpoint_name` (fixed: `mlops-<environment>`), `state_machine`, `approval_rule`, `alarms` (the
    operators' endpoint alarms; rollbacks use per-rollout alarms the workflow makes), `model_role` (the endpoint's execution role) and `dead_letter_queue` (approval events
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
        topic: sns.ITopic,
        destroy_on_removal: bool,
        network: NetworkPlacement | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._network = network
        self.endpoint_name = names.endpoint_name(environment_name)
        if not _NAME.fullmatch(self.endpoint_name):
            raise ValueError(f"endpoint name {self.endpoint_name!r} is not a valid SageMaker name")
        self._prefix = name_prefix(self.endpoint_name)
        self._environment_name = environment_name
        self._key = key
        removal_policy = environment_removal_policy(destroy_on_removal)
        self._removal_policy = removal_policy
        self._log_group_prefix = f"/mlops/{environment_name}/deployment/"
        self._state_machine_log_group_name = (
            f"/aws/vendedlogs/states/{names.deploy_state_machine_name(environment_name)}"
        )
        self._rule_name = f"mlops-{environment_name}-model-approved"
        self._allow_logs_to_use_key()

        allow_alarms_to_notify(
            self,
            alarm_names=operator_alarm_names(self.endpoint_name),
            topic=topic,
            key=key,
            sid=f"EndpointAlarmsToTopic{environment_name.replace('-', '')}",
        )
        self.alarms = operator_alarms(
            self,
            endpoint_name=self.endpoint_name,
            variant_name=settings.endpoint.variant_name,
            settings=settings.alarms,
            topic=topic,
        )
        self.model_role = endpoint_model_role(
            self,
            endpoint_name=self.endpoint_name,
            environment_name=environment_name,
            name_prefix=self._prefix,
            key=key,
            artifacts_bucket=artifacts_bucket,
            data_capture_prefix=names.DATA_CAPTURE_PREFIX,
        )
        if network is not None:
            allow_sagemaker_network_interfaces(self.model_role)

        data_capture_uri = f"s3://{artifacts_bucket.bucket_name}/{names.DATA_CAPTURE_PREFIX}{self.endpoint_name}"
        self.ledger = self._ledger_table()
        deploy_settings = workflow_settings(
            environment_name=environment_name,
            endpoint_name=self.endpoint_name,
            settings=settings,
            model_package_group_name=model_package_group_name,
            model_role_arn=self.model_role.role_arn,
            kms_key_arn=key.key_arn,
            data_capture_s3_uri=data_capture_uri,
            topic_arn=topic.topic_arn,
            ledger_table_name=self.ledger.table_name,
        )
        if network is not None:
            # The model's VpcConfig and EnableNetworkIsolation, for the deploy steps' CreateModel request.
            deploy_settings.update(model_network_settings(network))
        statements = workflow_statements(
            self,
            endpoint_name=self.endpoint_name,
            name_prefix=self._prefix,
            model_package_group_name=model_package_group_name,
            model_role=self.model_role,
            key=key,
            topic=topic,
            ledger=self.ledger,
        )
        environment = {DEPLOY_SETTINGS_VARIABLE: stack.to_json_string(deploy_settings)}
        # One role per step, holding only what that step's handler calls (STEP_GRANTS): a fault or a bug in
        # CheckEndpoint cannot update or delete the endpoint, nor Prepare pass the model role.
        self.step_roles: dict[str, iam.Role] = {}
        steps = {}
        for name, handler, description, timeout in STEPS:
            role = iam.Role(
                self,
                f"{name}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"Deploy workflow step {name} of {self.endpoint_name}",
            )
            step_policy = step_statements(name, statements)
            policy = iam.Policy(self, f"{name}Policy", statements=step_policy)
            policy.attach_to_role(role)
            acknowledge_workflow_policy(
                policy,
                step_policy,
                endpoint_name=self.endpoint_name,
                name_prefix=self._prefix,
                group=model_package_group_name,
            )
            self.step_roles[name] = role
            steps[name] = self._function(name, handler, description, environment, role, timeout)
        # Waiting for a busy endpoint, then for our own rollout, each bounded by `limit` checks, plus slack.
        limit = busy_limit(dataclasses.asdict(settings))
        self.state_machine = deploy_state_machine(
            self,
            environment_name=environment_name,
            endpoint_name=self.endpoint_name,
            steps=steps,
            topic=topic,
            key=key,
            log_group=logs.LogGroup(
                self,
                "StateMachineLogs",
                log_group_name=self._state_machine_log_group_name,
                encryption_key=key,
                retention=logs.RetentionDays.ONE_YEAR,
                removal_policy=removal_policy,
            ),
            timeout=Duration.seconds(2 * limit * POLL_SECONDS + 3600),
        )
        self.dead_letter_queue = dead_letter_queue(
            self, "ApprovalDeadLetterQueue", key=key, removal_policy=removal_policy
        )
        self.approval_rule = events.Rule(
            self,
            "ApprovalRule",
            rule_name=self._rule_name,
            description=f"A status change of a model package of {model_package_group_name} starts the deploy workflow",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
                # Every status change of the group, registration and rejection included: the ledger needs them to
                # tell a new approval from an edit of an approved package (which fires the same event), and a
                # rejection of the serving version gets a notice. Other changes end at once, without a message.
                detail={"ModelPackageGroupName": [model_package_group_name]},
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
            self.teardown = endpoint_teardown(
                self,
                endpoint_name=self.endpoint_name,
                name_prefix=self._prefix,
                state_machine=self.state_machine,
                approval_rule=self.approval_rule,
                key=key,
                deploy_settings=deploy_settings,
                model_role_parts=[self.model_role, self.node.find_child("ModelPolicy")],
                make_function=self._function,
            )

    # -----------------------------------------------------------------------------------------------------------

    def _arn(self, service: str, resource: str) -> str:
        return regional_arn(self, service, resource)

    def _ledger_table(self) -> dynamodb.Table:
        """The deploy ledger (model_deployment/ledger.py): claims, reports and approval events, decided by conditional writes.

        Encrypted with DynamoDB's AWS managed key: it holds package ARNs and execution ids, nothing confidential,
        and the environment key's policy (another stack's) needs no statement for it.
        """
        return dynamodb.Table(
            self,
            "Ledger",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="purge_at",
            removal_policy=self._removal_policy,
        )

    def _allow_logs_to_use_key(self) -> None:
        # The log groups are encrypted with the environment's key: its policy must let CloudWatch Logs use it, for
        # these log groups only. Only names go in the condition, so the key's stack does not come to depend on this
        # one. (EventBridge's use of the key for the dead-letter queue is granted with the key, in DataStorage.)
        region = Stack.of(self).region
        self._key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"DeployWorkflowLogs{self._environment_name.replace('-', '')}",
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                actions=LOGS_KEY_ACTIONS,
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
            network=self._network,
        ).function
