"""What EventBridge cannot deliver reaches an encrypted dead-letter queue: the key lets each rule in."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests.infra.synthesis import ENVIRONMENTS, Synthesized


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("rule", ["upload", "model-approved"])
def test_key_policy_lets_eventbridge_use_the_key_for_this_rule_only(
    synthesized: Synthesized, environment: str, rule: str
) -> None:
    synthesized.template(environment, "Data").has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                                "Condition": {
                                    "ArnEquals": {
                                        "aws:SourceArn": {
                                            "Fn::Join": [
                                                "",
                                                Match.array_with(
                                                    [Match.string_like_regexp(f":rule/mlops-{environment}-{rule}$")]
                                                ),
                                            ]
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
