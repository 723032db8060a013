"""Every service that publishes to the topic, sends to a dead-letter queue or uses the key is allowed by that
resource's own policy, in every environment (issue 25; publishers derived in resource_policies.py)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from constructs.model_monitoring import monitoring_alarm_names
from tests.infra.support import resource_policies
from tests.infra.support.iam_templates import Environment
from tests.infra.support.resource_policies import Caller, Use, allowed, queue_policy, uses
from tests.infra.support.synthesis import ENVIRONMENTS, Synthesized

# The statements that let CloudWatch alarms notify: the endpoint's operator alarms and the monitoring alarms, which
# each grant the (identical, unconditioned) key statement, so a check of the key removes or conditions both.
ALARM_SIDS = ("EndpointAlarmsToTopic", "MonitoringAlarmsToTopic")


def environment(templates: Mapping[str, Any], name: str, region: str) -> Environment:
    return Environment(name, templates, region)


def topic_and_key(env: Environment) -> tuple[str, str, Mapping[str, Any], Mapping[str, Any]]:
    """The topic's ARN, its key's ARN, the topic policy and the key policy, resolved."""
    ((topic_stack, topic_id, topic),) = [r for r in env.resources() if r[2]["Type"] == "AWS::SNS::Topic"]
    topic_arn = env.resolve(topic_stack, {"Ref": topic_id})
    key_arn = env.resolve(topic_stack, topic["Properties"]["KmsMasterKeyId"])
    (topic_policy,) = [
        env.resolve(s, r["Properties"]["PolicyDocument"])
        for s, _, r in env.resources()
        if r["Type"] == "AWS::SNS::TopicPolicy" and topic_arn in env.resolve(s, r["Properties"]["Topics"])
    ]
    (key_policy,) = [
        env.resolve(s, r["Properties"]["KeyPolicy"])
        for s, i, r in env.resources()
        if r["Type"] == "AWS::KMS::Key" and env.resolve(s, {"Fn::GetAtt": [i, "Arn"]}) == key_arn
    ]
    return topic_arn, key_arn, topic_policy, key_policy


def denied_uses(env: Environment) -> list[str]:
    topic_arn, key_arn, topic_policy, key_policy = topic_and_key(env)
    denied = []
    for use in uses(env, topic_arn, key_arn):
        document = {"topic": topic_policy, "key": key_policy}.get(use.policy) or queue_policy(env, use.resource)
        if not allowed(document, use):
            denied.append(f"{use.policy}: {use.caller.principal} ({use.caller.why}) {use.action}")
    return denied


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_every_publisher_and_key_user_is_allowed_by_the_resources_own_policy(
    synthesized: Synthesized, name: str
) -> None:
    env = environment(synthesized.templates[name], name, synthesized.stages[name].region)
    assert denied_uses(env) == []


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_publishers_found_include_each_operator_alarm_and_dead_letter_rule(
    synthesized: Synthesized, name: str
) -> None:
    # Not vacuous: the derivation finds the three endpoint alarms, the rules' dead-letter queues, the log groups.
    env = environment(synthesized.templates[name], name, synthesized.stages[name].region)
    topic_arn, key_arn, _, _ = topic_and_key(env)
    found = uses(env, topic_arn, key_arn)
    alarms = {u.caller.why for u in found if u.caller.principal == "cloudwatch.amazonaws.com" and u.policy == "topic"}
    operators = {f"mlops-{name}-{s}" for s in ("invocation-5xx-errors", "model-errors", "model-latency")}
    assert alarms == operators | set(monitoring_alarm_names(f"mlops-{name}"))
    assert {u.caller.principal for u in found if u.policy.startswith("queue")} == {"events.amazonaws.com"}
    assert any(u.caller.principal.startswith("logs.") for u in found)
    assert any(not u.caller.is_service for u in found if u.policy == "topic")  # the roles that publish


def without_statement(
    templates: Mapping[str, Any], resource_type: str, policy: str, sid_prefix: str | tuple[str, ...]
) -> Any:
    broken = copy.deepcopy(dict(templates))
    for template in broken.values():
        for resource in template["Resources"].values():
            if resource["Type"] == resource_type:
                document = resource["Properties"][policy]
                document["Statement"] = [
                    s for s in document["Statement"] if not s.get("Sid", "").startswith(sid_prefix)
                ]
    return broken


@pytest.mark.parametrize(
    ("resource_type", "policy"), [("AWS::SNS::TopicPolicy", "PolicyDocument"), ("AWS::KMS::Key", "KeyPolicy")]
)
def test_removing_the_alarm_allow_fails_the_check(synthesized: Synthesized, resource_type: str, policy: str) -> None:
    templates = without_statement(synthesized.templates["prod"], resource_type, policy, ALARM_SIDS)
    denied = denied_uses(environment(templates, "prod", synthesized.stages["prod"].region))
    assert len(denied) == 6 * (1 if resource_type == "AWS::SNS::TopicPolicy" else 2)
    assert all("cloudwatch.amazonaws.com" in line for line in denied)


def test_removing_the_eventbridge_allow_from_the_key_fails_the_check(synthesized: Synthesized) -> None:
    templates = without_statement(synthesized.templates["prod"], "AWS::KMS::Key", "KeyPolicy", "EventBridgeDeadLetters")
    denied = denied_uses(environment(templates, "prod", synthesized.stages["prod"].region))
    assert denied and all("key: events.amazonaws.com" in line for line in denied)


def with_source_arn_condition_on_key_statement(templates: Mapping[str, Any], sid_prefix: str | tuple[str, ...]) -> Any:
    """The key statement as it was before: scoped by aws:SourceArn, a key the KMS request is not documented to carry."""
    conditioned = copy.deepcopy(dict(templates))
    for template in conditioned.values():
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::KMS::Key":
                for statement in resource["Properties"]["KeyPolicy"]["Statement"]:
                    if statement.get("Sid", "").startswith(sid_prefix):
                        statement["Condition"] = {"ArnLike": {"aws:SourceArn": "arn:aws:*"}}
    return conditioned


@pytest.mark.parametrize(
    ("sid_prefix", "service"),
    [(ALARM_SIDS, "cloudwatch.amazonaws.com"), ("EventBridgeDeadLetters", "events.amazonaws.com")],
)
def test_a_key_statement_conditioned_on_the_source_arn_fails_the_check(
    synthesized: Synthesized, sid_prefix: str | tuple[str, ...], service: str
) -> None:
    # The KMS request made for the publisher is modelled as documented, without aws:SourceArn: such a condition
    # would deny every use, and alarms or dead letters would silently go nowhere.
    templates = with_source_arn_condition_on_key_statement(synthesized.templates["prod"], sid_prefix)
    denied = denied_uses(environment(templates, "prod", synthesized.stages["prod"].region))
    assert denied and all(f"key: {service}" in line for line in denied)


def test_an_alarm_of_another_environment_is_not_allowed(synthesized: Synthesized) -> None:
    env = environment(synthesized.templates["prod"], "prod", synthesized.stages["prod"].region)
    topic_arn, _, topic_policy, _ = topic_and_key(env)
    stranger = Caller(
        "cloudwatch.amazonaws.com", "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mlops-dev-model-errors", "dev"
    )
    use = Use(stranger, "topic", "sns:Publish", topic_arn, resource_policies._context(stranger))
    assert not allowed(topic_policy, use)


def test_a_resource_naming_the_topic_in_an_unknown_way_fails_the_derivation(synthesized: Synthesized) -> None:
    templates = copy.deepcopy(dict(synthesized.templates["dev"]))
    topic_ref = templates["Deployment"]["Resources"]
    alarm = next(r for r in topic_ref.values() if r["Type"] == "AWS::CloudWatch::Alarm")
    templates["Deployment"]["Resources"]["Budget"] = {
        "Type": "AWS::Budgets::Budget",
        "Properties": {"Notify": alarm["Properties"]["AlarmActions"]},
    }
    env = environment(templates, "dev", synthesized.stages["dev"].region)
    topic_arn, key_arn, _, _ = topic_and_key(env)
    with pytest.raises(resource_policies.UnknownPublisher, match="Budget"):
        uses(env, topic_arn, key_arn)
