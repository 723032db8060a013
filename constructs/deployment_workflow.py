"""The deploy workflow: the Step Functions state machine over the Lambda steps.

Prepare -> (deploy) StartRollout -> WaitForRollout / CheckEndpoint loop -> Conclude -> Outcome. Prepare loops
through WaitWhileEndpointBusy while another create or update runs; StartRollout goes back there when it loses
the race for the endpoint, and to Conclude when a later approval overtook it. Every step's failure is reported
by Conclude (as ReportError); if even that fails, a direct SNS publish says so. The steps and what each may do
are deployment_step_roles.py.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from constructs.model_deployment_lambda.model_deployment.constants import POLL_SECONDS, RETRIED_STEP_ERRORS
from constructs.permissions import acknowledge, nag_resource_text
from settings import resource_names as names

SUCCEEDING_OUTCOMES = ("deployed", "noop", "skipped", "superseded", "ignored", "kept_serving")


def deploy_state_machine(
    scope: Construct,
    *,
    environment_name: str,
    endpoint_name: str,
    steps: dict[str, lambda_.IFunction],
    topic: sns.ITopic,
    key: kms.IKey,
    log_group: logs.ILogGroup,
    timeout: Duration,
) -> sfn.StateMachine:
    def invoke(
        state_name: str, function: lambda_.IFunction, comment: str, payload: sfn.TaskInput | None = None
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            scope, state_name, lambda_function=function, payload_response_only=True, comment=comment, payload=payload
        )
        # LambdaInvoke already retries Lambda's service errors (Lambda.ServiceException, ...), when the function
        # may have run: every step is safe to run twice. Throttling, 5xx and reads not yet consistent that
        # outlast botocore's retries get their own, longer backoff (model_deployment/aws_answers.py).
        # Each AWS call of a step may fail once: a step making many calls may need many attempts, each after
        # at most a minute.
        task.add_retry(
            errors=["Lambda.TooManyRequestsException", *RETRIED_STEP_ERRORS],
            interval=Duration.seconds(2),
            max_attempts=20,
            backoff_rate=2,
            max_delay=Duration.seconds(60),
        )
        # A function timeout (or out of memory) is `Lambda.Unknown` ("Handle Lambda service exceptions",
        # https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html): the step may
        # have done part of its work, e.g. UpdateEndpoint accepted; run it again rather than report a failure.
        task.add_retry(errors=["Lambda.Unknown"], interval=Duration.seconds(10), max_attempts=2, backoff_rate=2)
        return task

    # Prepare gets the execution's id: its identity in the deploy ledger, the same when a task is retried.
    prepare = invoke(
        "Prepare",
        steps["Prepare"],
        "Read the package; deploy, wait for a busy endpoint, or end",
        sfn.TaskInput.from_object(
            {"input": sfn.JsonPath.entire_payload, "execution_id": sfn.JsonPath.string_at("$$.Execution.Name")}
        ),
    )
    start = invoke("StartRollout", steps["StartRollout"], "Create Model + EndpointConfig + alarms; create/update")
    check = invoke("CheckEndpoint", steps["CheckEndpoint"], "Is the endpoint InService on the new config?")
    conclude = invoke("Conclude", steps["Conclude"], "Clean up, autoscaling, publish the outcome")
    report_error = invoke("ReportError", steps["Conclude"], "A step failed: publish the failure and its cause")
    report_unreported = tasks.SnsPublish(
        scope,
        "ReportUnreportedFailure",
        topic=topic,
        subject=f"[{environment_name}] deploy workflow failed without a report",
        message=sfn.TaskInput.from_object(
            {
                "environment": environment_name,
                "endpoint": endpoint_name,
                "outcome": "failed",
                "reason": "the Conclude step itself failed; see the execution history",
                "error": sfn.JsonPath.string_at("$.error.Cause"),
            }
        ),
    )

    wait_busy = sfn.Wait(
        scope,
        "WaitWhileEndpointBusy",
        time=sfn.WaitTime.duration(Duration.seconds(POLL_SECONDS)),
        comment="Another rollout or a create is running: check again",
    )
    wait_rollout = sfn.Wait(scope, "WaitForRollout", time=sfn.WaitTime.duration(Duration.seconds(POLL_SECONDS)))
    outcome = (
        sfn.Choice(scope, "Outcome")
        .when(
            sfn.Condition.or_(*(sfn.Condition.string_equals("$.outcome", name) for name in SUCCEEDING_OUTCOMES)),
            sfn.Succeed(scope, "Done"),
        )
        .when(
            sfn.Condition.string_equals("$.outcome", "rolled_back"),
            sfn.Fail(scope, "RolledBack", error="RolledBack", cause_path="$.reason"),
        )
        .otherwise(sfn.Fail(scope, "DeploymentFailed", error="DeploymentFailed", cause_path="$.reason"))
    )
    for task in (prepare, start, check):
        task.add_catch(report_error, errors=["States.ALL"], result_path="$.error")
    for task in (conclude, report_error):
        task.add_catch(report_unreported, errors=["States.ALL"], result_path="$.error")
    report_unreported.next(sfn.Fail(scope, "ReportingFailed", error="ReportingFailed"))
    report_error.next(outcome)
    conclude.next(outcome)
    wait_busy.next(prepare)
    wait_rollout.next(check)
    check.next(
        sfn.Choice(scope, "RolloutFinished")
        .when(sfn.Condition.string_equals("$.rollout", "in_progress"), wait_rollout)
        .otherwise(conclude)
    )
    start.next(
        sfn.Choice(scope, "RolloutStarted")
        .when(sfn.Condition.string_equals("$.rollout", "busy"), wait_busy)
        .when(sfn.Condition.string_equals("$.rollout", "concluded"), conclude)
        .otherwise(wait_rollout)
    )
    prepare.next(
        sfn.Choice(scope, "WhatToDo")
        .when(sfn.Condition.string_equals("$.action", "deploy"), start)
        .when(sfn.Condition.string_equals("$.action", "wait"), wait_busy)
        .otherwise(conclude)
    )

    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        state_machine_name=names.deploy_state_machine_name(environment_name),
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_chainable(prepare),
        comment=f"Deploys an approved model package onto {endpoint_name} (blue/green, auto-rollback)",
        timeout=timeout,
        tracing_enabled=True,
        # Execution data stays under Step Functions' own key: with the environment's key, EventBridge's
        # StartExecution and everyone reading the history would need kms:GenerateDataKey/Decrypt too.
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
    )
    # ReportUnreportedFailure publishes to the topic directly; the topic is encrypted with the environment's key.
    machine.add_to_role_policy(
        iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn])
    )
    _acknowledge_state_machine_role(machine, [steps[name] for name in sorted(steps)])
    return machine


def _acknowledge_state_machine_role(machine: sfn.StateMachine, functions: list[lambda_.IFunction]) -> None:
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
