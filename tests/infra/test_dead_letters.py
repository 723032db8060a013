"""What EventBridge cannot deliver reaches an encrypted dead-letter queue: the key lets EventBridge in, each queue's
policy only its rule."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests.infra.support.synthesis import ENVIRONMENTS, Synthesized


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_key_policy_lets_eventbridge_use_the_key_as_documented(synthesized: Synthesized, environment: str) -> None:
    # SQS Developer Guide, "Key management" -> "Configure KMS permissions for AWS services": no condition. Which rule
    # may send is scoped by each queue's own policy (next test).
    synthesized.template(environment, "Data").has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "EventBridgeDeadLetters",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                            "Resource": "*",
                        }
                    ]
                )
            }
        },
    )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize(
    ("stack", "rule"),
    [("Training", "UploadRule"), ("Training", "PipelineFailedRule"), ("Deployment", "ApprovalRule")],
)
def test_the_queue_policy_lets_eventbridge_send_for_this_rule_only(
    synthesized: Synthesized, environment: str, stack: str, rule: str
) -> None:
    synthesized.template(environment, stack).has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Condition": {
                                    "ArnEquals": {
                                        "aws:SourceArn": {"Fn::GetAtt": [Match.string_like_regexp(rule), "Arn"]}
                                    }
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_upload_rule_has_the_name_the_key_policy_names(synthesized: Synthesized) -> None:
    synthesized.template("dev", "Training").has_resource_properties(
        "AWS::Events::Rule",
        {"Name": "mlops-dev-upload", "Targets": [Match.object_like({"DeadLetterConfig": Match.any_value()})]},
    )


def test_state_machine_can_publish_to_the_encrypted_topic_itself(synthesized: Synthesized) -> None:
    synthesized.template("dev", "Deployment").has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Effect": "Allow"})]
                )
            },
            "Roles": [{"Ref": Match.string_like_regexp("^ModelDeploymentStateMachineRole")}],
        },
    )
