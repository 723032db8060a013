"""The deploy workflow's state machine as synthesized (constructs/deployment_workflow.py): the order of its states,
the waits, retries and catches, how an execution ends, and its logging and tracing.
"""

from __future__ import annotations

import re

import pytest
from aws_cdk.assertions import Match

from tests.infra.support.deployment_app import (
    App,
    definition,
    deployment_app,
)
from tests.infra.support.synthesis import Synthesized


@pytest.fixture(scope="module")
def app(synthesized: Synthesized) -> App:
    return deployment_app(synthesized)


STEP_FUNCTIONS = {
    "Prepare": "Prepare",
    "StartRollout": "StartRollout",
    "CheckEndpoint": "CheckEndpoint",
    "Conclude": "Conclude",
    "ReportError": "Conclude",
}


def test_the_workflow_starts_by_preparing_and_decides_what_to_do(app: App) -> None:
    states = definition(app, "dev")
    assert states["StartAt"] == "Prepare"
    assert states["States"]["Prepare"]["Next"] == "WhatToDo"
    choices = states["States"]["WhatToDo"]
    assert [(c["StringEquals"], c["Next"]) for c in choices["Choices"]] == [
        ("deploy", "StartRollout"),
        ("wait", "WaitWhileEndpointBusy"),
    ]
    assert choices["Default"] == "Conclude"


def test_a_busy_endpoint_loops_through_a_wait_state_back_to_prepare(app: App) -> None:
    states = definition(app, "dev")["States"]
    wait = states["WaitWhileEndpointBusy"]
    assert (wait["Type"], wait["Seconds"], wait["Next"]) == ("Wait", 60, "Prepare")
    started = states["RolloutStarted"]
    assert [(c["StringEquals"], c["Next"]) for c in started["Choices"]] == [
        ("busy", "WaitWhileEndpointBusy"),
        ("concluded", "Conclude"),
    ]
    assert started["Default"] == "WaitForRollout"


def test_the_rollout_is_polled_with_a_wait_state_until_it_finishes(app: App) -> None:
    states = definition(app, "dev")["States"]
    assert (states["WaitForRollout"]["Seconds"], states["WaitForRollout"]["Next"]) == (60, "CheckEndpoint")
    finished = states["RolloutFinished"]
    assert [(c["StringEquals"], c["Next"]) for c in finished["Choices"]] == [("in_progress", "WaitForRollout")]
    assert finished["Default"] == "Conclude"


def test_the_outcome_decides_how_the_execution_ends(app: App) -> None:
    states = definition(app, "dev")["States"]
    choice = states["Outcome"]
    (succeed, rolled_back) = choice["Choices"]
    assert sorted(c["StringEquals"] for c in succeed["Or"]) == [
        "deployed",
        "ignored",
        "kept_serving",
        "noop",
        "skipped",
        "superseded",
    ]
    assert succeed["Next"] == "Done"
    assert (rolled_back["StringEquals"], rolled_back["Next"]) == ("rolled_back", "RolledBack")
    assert choice["Default"] == "DeploymentFailed"
    assert states["Done"]["Type"] == "Succeed"
    assert states["RolledBack"] == {"Type": "Fail", "Error": "RolledBack", "CausePath": "$.reason"}
    assert states["DeploymentFailed"] == {"Type": "Fail", "Error": "DeploymentFailed", "CausePath": "$.reason"}


@pytest.mark.parametrize("state", ["Prepare", "StartRollout", "CheckEndpoint", "Conclude", "ReportError"])
def test_every_step_retries_lambda_service_errors_and_throttling(app: App, state: str) -> None:
    task = definition(app, "dev")["States"][state]
    errors = {error for retry in task["Retry"] for error in retry["ErrorEquals"]}
    assert {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.TooManyRequestsException"} <= errors
    # What a step raises when AWS still throttles, answers 5XX, or has not caught up after botocore's retries.
    assert {"AwsThrottled", "AwsUnavailable", "NotYetConsistent"} <= errors
    assert "Lambda.Unknown" in errors  # a function timeout: the step may have done its work
    # payload_response_only: the task calls the function directly (Resource = its ARN).
    assert re.fullmatch(f"<ModelDeployment{STEP_FUNCTIONS[state]}Function[0-9A-F]{{8}}.Arn>", task["Resource"])


def test_prepare_gets_the_execution_name_as_its_identity_in_the_ledger(app: App) -> None:
    prepare = definition(app, "dev")["States"]["Prepare"]
    assert prepare["Parameters"] == {"input.$": "$", "execution_id.$": "$$.Execution.Name"}


def test_the_deploy_ledger_is_on_demand_with_point_in_time_recovery_and_ttl(app: App) -> None:
    app.template("prod").has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "purge_at", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


@pytest.mark.parametrize("state", ["Prepare", "StartRollout", "CheckEndpoint"])
def test_a_failing_step_is_caught_and_reported(app: App, state: str) -> None:
    (catch,) = definition(app, "dev")["States"][state]["Catch"]
    assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReportError"}


def test_the_error_report_goes_through_the_outcome_choice(app: App) -> None:
    states = definition(app, "dev")["States"]
    assert states["ReportError"]["Next"] == "Outcome"
    assert states["Conclude"]["Next"] == "Outcome"


@pytest.mark.parametrize("state", ["Conclude", "ReportError"])
def test_a_failing_report_still_reaches_the_topic_directly(app: App, state: str) -> None:
    states = definition(app, "dev")["States"]
    (catch,) = states[state]["Catch"]
    assert catch["Next"] == "ReportUnreportedFailure"
    assert states["ReportUnreportedFailure"]["Resource"].endswith(":states:::sns:publish")
    assert states["ReportUnreportedFailure"]["Next"] == "ReportingFailed"


def test_the_workflow_is_a_logged_traced_standard_state_machine(app: App) -> None:
    app.template("prod").has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": "mlops-prod-deploy",
            "StateMachineType": "STANDARD",
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
            "TracingConfiguration": {"Enabled": True},
        },
    )
