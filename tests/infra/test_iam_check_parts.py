"""The least-privilege check's parts: the recorder, the evaluator, the resolver and the call-to-IAM rules."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from constructs.model_deployment_lambda.model_deployment import aws_answers
from tests.infra.support.iam_calls import CallRecorder, RecordedCall
from tests.infra.support.iam_needs import Context, call_needs
from tests.infra.support.iam_policy import Need, UnknownCondition, evaluate, statements_of
from tests.infra.support.iam_reference import MappingError
from tests.infra.support.iam_templates import ACCOUNT, Environment, UnresolvableIntrinsic

REGION = "eu-west-1"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k"


def policy(*statements: dict[str, Any]) -> list[Any]:
    return statements_of({"Statement": list(statements)}, "test")


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# ----------------------------------------------------------------------------------------------------- evaluator


def test_an_explicit_deny_wins_over_an_allow() -> None:
    statements = policy(allow("s3:*"), {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"})
    assert not evaluate(statements, Need("s3:PutObject", "arn:aws:s3:::b/k")).allowed
    assert evaluate(statements, Need("s3:GetObject", "arn:aws:s3:::b/k")).allowed


def test_nothing_allowed_is_denied() -> None:
    assert not evaluate(
        policy(allow("s3:GetObject", "arn:aws:s3:::b/in/*")), Need("s3:GetObject", "arn:aws:s3:::b/x")
    ).allowed


def test_actions_match_case_insensitively_and_resources_case_sensitively() -> None:
    statements = policy(allow("S3:get*", "arn:aws:s3:::b/In/*"))
    assert evaluate(statements, Need("s3:GetObject", "arn:aws:s3:::b/In/x/y.csv")).allowed
    assert not evaluate(statements, Need("s3:GetObject", "arn:aws:s3:::b/in/x.csv")).allowed


def test_not_action_allows_every_other_action() -> None:
    statements = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert evaluate(statements, Need("s3:GetObject", "*")).allowed
    assert not evaluate(statements, Need("iam:PassRole", "*")).allowed


def test_a_condition_on_a_key_the_request_lacks_fails_unless_negated_or_if_exists() -> None:
    need = Need("iam:PassRole", "arn:aws:iam::1:role/r")
    equals = {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert not evaluate(policy(allow("iam:PassRole", Condition=equals)), need).allowed
    negated = {"StringNotEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    assert evaluate(policy(allow("iam:PassRole", Condition=negated)), need).allowed
    if_exists = {"StringEqualsIfExists": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert evaluate(policy(allow("iam:PassRole", Condition=if_exists)), need).allowed


def test_conditions_match_the_request_context() -> None:
    condition = {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}}
    statements = policy(allow("cloudwatch:PutMetricData", Condition=condition))
    assert evaluate(
        statements, Need("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "/aws/sagemaker/X"})
    ).allowed
    assert not evaluate(statements, Need("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Custom"})).allowed


def test_bool_conditions_accept_json_true_and_the_string() -> None:
    need = Need("kms:CreateGrant", KEY, {"kms:GrantIsForAWSResource": True})
    for value in (True, "true"):
        assert evaluate(
            policy(allow("kms:CreateGrant", Condition={"Bool": {"kms:GrantIsForAWSResource": value}})), need
        ).allowed


@pytest.mark.parametrize(
    "condition",
    [
        {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
        {"StringEquals": {"aws:PrincipalTag/team": "x"}},
    ],
)
def test_an_unmodelled_condition_fails_loudly(condition: dict[str, Any]) -> None:
    with pytest.raises(UnknownCondition):
        evaluate(policy(allow("s3:GetObject", Condition=condition)), Need("s3:GetObject", "arn:aws:s3:::b/k"))


# ----------------------------------------------------------------------------------------------------- resolver


def environment() -> Environment:
    data = {
        "Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {}}},
        "Outputs": {"KeyArn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}, "Export": {"Name": "key-arn"}}},
    }
    return Environment("dev", {"Data": data, "Other": {"Resources": {}}}, REGION)


def test_the_resolver_follows_references_across_stacks() -> None:
    env = environment()
    key = env.resolve("Data", {"Fn::GetAtt": ["Key", "Arn"]})
    assert env.resolve("Other", {"Fn::ImportValue": "key-arn"}) == key
    output = {"Fn::GetStackOutput": {"StackName": "dev-Data", "OutputName": "KeyArn", "Region": REGION}}
    assert env.resolve("Other", output) == key
    assert env.resolve("Other", {"Fn::Sub": "arn:${AWS::Partition}:s3:::b-${AWS::AccountId}-${AWS::Region}"}) == (
        f"arn:aws:s3:::b-{ACCOUNT}-{REGION}"
    )


def test_the_resolver_refuses_what_it_does_not_know() -> None:
    with pytest.raises(UnresolvableIntrinsic):
        environment().resolve("Data", {"Fn::GetAtt": ["Key", "KeyId"]})


# ----------------------------------------------------------------------------------------------------- rules


def context() -> Context:
    return Context(environment(), REGION, {"data": KEY, "plain": None}, {}, {})


def needs_of(service: str, operation: str, params: dict[str, Any]) -> set[tuple[str, str]]:
    call = RecordedCall(service, operation, params, (("m", "e"),), "t", {}, None, None)
    return {(need.action, need.resource) for need in call_needs(call, params, context())}


def test_a_versioned_read_of_an_sse_kms_object_needs_get_object_version_and_decrypt() -> None:
    assert needs_of("s3", "GetObject", {"Bucket": "data", "Key": "k", "VersionId": "v"}) == {
        ("s3:GetObjectVersion", "arn:aws:s3:::data/k"),
        ("kms:Decrypt", KEY),
    }


def test_a_copy_reads_the_source_version_and_writes_the_destination() -> None:
    params = {"CopySource": {"Bucket": "data", "Key": "in/a", "VersionId": "v"}, "Bucket": "plain", "Key": "out/a"}
    assert needs_of("s3", "CopyObject", params) == {
        ("s3:GetObjectVersion", "arn:aws:s3:::data/in/a"),
        ("kms:Decrypt", KEY),
        ("s3:PutObject", "arn:aws:s3:::plain/out/a"),
    }


def test_create_model_passes_its_execution_role_to_sagemaker_only() -> None:
    params = {"ModelName": "m", "ExecutionRoleArn": "arn:aws:iam::1:role/r"}
    call = RecordedCall("sagemaker", "CreateModel", params, (("m", "e"),), "t", {}, None, None)
    (pass_role,) = [n for n in call_needs(call, params, context()) if n.action == "iam:PassRole"]
    assert (pass_role.resource, dict(pass_role.context)) == (
        "arn:aws:iam::1:role/r",
        {"iam:PassedToService": "sagemaker.amazonaws.com"},
    )


def test_update_endpoint_needs_the_endpoint_the_config_and_the_rollback_alarms() -> None:
    params = {
        "EndpointName": "e",
        "EndpointConfigName": "c",
        "DeploymentConfig": {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "a"}]}},
    }
    assert needs_of("sagemaker", "UpdateEndpoint", params) == {
        ("sagemaker:UpdateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/e"),
        ("sagemaker:UpdateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/c"),
        ("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:a"),
    }


def test_a_one_to_one_call_maps_through_the_reference_alone() -> None:
    assert needs_of("cloudwatch", "DescribeAlarms", {"AlarmNames": ["a", "b"]}) == {
        ("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:a"),
        ("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:b"),
    }
    assert needs_of("sagemaker", "DescribeModelPackageGroup", {"ModelPackageGroupName": "G"}) == {
        ("sagemaker:DescribeModelPackageGroup", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/g")
    }


def test_a_call_without_a_rule_fails_loudly() -> None:
    with pytest.raises(MappingError, match=r"no IAM rule for sagemaker\.DescribeDomain"):
        needs_of("sagemaker", "DescribeDomain", {"Domain": "d"})  # the reference names the ARN part DomainId


# ----------------------------------------------------------------------------------------------------- recorder


def test_the_recorder_keeps_calls_made_inside_handler_code_only() -> None:
    recorder = CallRecorder()
    recorder.install()
    try:
        client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
        stubber = Stubber(client)
        for _ in range(2):
            stubber.add_client_error("describe_endpoint", "ValidationException", "Could not find endpoint")
        with stubber:
            aws_answers.describe_endpoint(client, "mlops-dev")
            with pytest.raises(client.exceptions.ClientError):
                client.describe_endpoint(EndpointName="mlops-dev")  # the test's own call: not the handler's
    finally:
        recorder.uninstall()
    assert [(c.frames, c.operation, dict(c.params)) for c in recorder.calls] == [
        ((("model_deployment.aws_answers", "describe_endpoint"),), "DescribeEndpoint", {"EndpointName": "mlops-dev"})
    ]
