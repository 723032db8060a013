"""Names and removal policies hold for the whole life of the stacks, on every synthesized template (rules and their
pages: stack_life_rules.py), and each rule fails on a hand-made template that breaks it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.support import stack_life_rules
from tests.infra.support.iam_templates import ACCOUNT, Environment
from tests.infra.support.synthesis import ENVIRONMENTS, REPO_ROOT, Synthesized, cdk_json_context

RUNBOOK = REPO_ROOT / "docs" / "deployment-runbook.md"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_template_keeps_the_rules(synthesized: Synthesized, environment: str) -> None:
    findings = [
        f"{stack}: {finding}"
        for stack, template in synthesized.templates[environment].items()
        for finding in stack_life_rules.every_rule(template, environment)
    ]
    assert findings == []


def resource(kind: str, properties: dict[str, Any], path: str, deletion: str | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {"Type": kind, "Properties": properties, "Metadata": {"aws:cdk:path": f"dev/{path}"}}
    if deletion is not None:
        made |= {"DeletionPolicy": deletion, "UpdateReplacePolicy": "Retain"}
    return made


def test_rule_1_finds_a_retained_resource_with_an_explicit_name() -> None:
    template = {
        "Resources": {
            "Reports": resource("AWS::S3::Bucket", {"BucketName": "reports"}, "Data/Reports/Resource", "Retain"),
            "Unnamed": resource("AWS::S3::Bucket", {}, "Data/Unnamed/Resource", "RetainExceptOnCreate"),
            "Justified": resource(
                "AWS::S3::Bucket", {"BucketName": "d"}, "Data/Storage/DataBucket/Resource", "RetainExceptOnCreate"
            ),
        }
    }
    (finding,) = stack_life_rules.retained_with_explicit_name(template)
    assert finding.startswith("Reports (Data/Reports/Resource)") and "already exists" in finding


def test_rule_2_finds_plain_retain() -> None:
    template = {
        "Resources": {
            "Key": resource("AWS::KMS::Key", {}, "Data/Key/Resource", "Retain"),
            "Fine": resource("AWS::KMS::Key", {}, "Data/Fine/Resource", "RetainExceptOnCreate"),
        }
    }
    (finding,) = stack_life_rules.retained_also_after_a_failed_create(template)
    assert finding.startswith("Key ") and "RetainExceptOnCreate" in finding


def test_rule_3_finds_a_create_only_property_on_a_named_resource() -> None:
    template = {
        "Resources": {
            "Queue": resource("AWS::SQS::Queue", {"QueueName": "q", "FifoQueue": True}, "T/Queue/Resource"),
            "UnnamedQueue": resource("AWS::SQS::Queue", {"FifoQueue": True}, "T/Unnamed/Resource"),
        }
    }
    (finding,) = stack_life_rules.create_only_on_named(template, "dev")
    assert finding.startswith("Queue ") and "FifoQueue is create-only" in finding


def test_rule_3_finds_a_changed_model_package_group_description() -> None:
    group = {"ModelPackageGroupName": "mlops-dev", "ModelPackageGroupDescription": "Models of the dev pipeline"}
    template = {"Resources": {"Group": resource("AWS::SageMaker::ModelPackageGroup", group, "Training/Group")}}
    (finding,) = stack_life_rules.create_only_on_named(template, "dev")
    assert "ModelPackageGroupDescription changed from its frozen value" in finding
    group["ModelPackageGroupDescription"] = "Models trained by mlops-dev-training; approve one to deploy it"
    assert stack_life_rules.create_only_on_named(template, "dev") == []


def test_a_resource_type_not_classified_fails_the_rules() -> None:
    template = {"Resources": {"Stream": resource("AWS::Kinesis::Stream", {"Name": "s"}, "T/Stream/Resource")}}
    (finding,) = stack_life_rules.every_rule(template, "dev")
    assert "NAME_PROPERTY" in finding


def test_the_create_only_table_is_the_reference_s() -> None:
    # Spot checks against the CloudFormation reference pages ("Update requires: Replacement").
    assert "ModelPackageGroupDescription" in stack_life_rules.create_only_properties(
        "AWS::SageMaker::ModelPackageGroup"
    )
    assert "BucketName" in stack_life_rules.create_only_properties("AWS::S3::Bucket")
    assert "RetentionInDays" not in stack_life_rules.create_only_properties("AWS::Logs::LogGroup")


# ------------------------------------------------------------------------------------ the model package group


def model_package_group(synthesized: Synthesized, environment: str) -> dict[str, Any]:
    resources = synthesized.templates[environment]["Training"]["Resources"]
    (group,) = [r for r in resources.values() if r["Type"] == "AWS::SageMaker::ModelPackageGroup"]
    return group


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_model_package_group_follows_the_environments_removal_policy(
    synthesized: Synthesized, environment: str
) -> None:
    group = model_package_group(synthesized, environment)
    if cdk_json_context()["environments"][environment]["removal_policy"] == "retain":
        assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
    else:
        assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Delete", "Delete")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_model_package_group_sets_no_create_only_property_but_its_name_and_frozen_description(
    synthesized: Synthesized, environment: str
) -> None:
    properties = model_package_group(synthesized, environment)["Properties"]
    create_only = set(stack_life_rules.create_only_properties("AWS::SageMaker::ModelPackageGroup")) & set(properties)
    assert create_only == {"ModelPackageGroupName", "ModelPackageGroupDescription"}
    assert properties["ModelPackageGroupDescription"] == (
        f"Models trained by mlops-{environment}-training; approve one to deploy it"
    )


# -------------------------------------------------------------------------------------------- the runbook


def kept_with_a_name(synthesized: Synthesized, environment: str) -> list[str]:
    """The names a redeploy after `cdk destroy` finds taken, as the runbook spells them."""
    env = Environment(environment, synthesized.templates[environment], synthesized.stages[environment].region)
    names = []
    for stack_id, logical_id, resource in env.resources():
        if resource.get("DeletionPolicy") in stack_life_rules.RETAINING and stack_life_rules._named(resource):
            name = env.resolve(stack_id, {"Ref": logical_id})
            generic = name.replace(ACCOUNT, "<account>").replace(env.region, "<region>")
            names.append(re.sub(rf"\b{environment}\b", "<env>", generic))
    return names


def test_the_runbook_lists_what_a_redeploy_after_destroy_must_import_or_delete(synthesized: Synthesized) -> None:
    section = RUNBOOK.read_text().split("## Life of the stacks", 1)[1].split("\n## ", 1)[0]
    names = kept_with_a_name(synthesized, "prod")
    assert len(names) == 8  # two buckets, five log groups, the model package group
    missing = [name for name in names if f"`{name}`" not in section]
    assert missing == []
    assert "cdk import" in section


def explicit_names(synthesized: Synthesized, environment: str) -> set[str]:
    """Every explicit physical name and export name of the environment, resolved in one account and region."""
    env = Environment(environment, synthesized.templates[environment], synthesized.stages[environment].region)
    names = {
        f"{resource['Type']} {env.resolve(stack_id, {'Ref': logical_id})}"
        for stack_id, logical_id, resource in env.resources()
        if stack_life_rules._named(resource)
    }
    exports = {
        f"export {output['Export']['Name']}"
        for template in synthesized.templates[environment].values()
        for output in template.get("Outputs", {}).values()
        if "Export" in output
    }
    return names | exports


def test_environments_side_by_side_share_no_name(synthesized: Synthesized) -> None:
    # An environment created beside another (or beside an old one's kept resources) in the same account and
    # region meets none of its names: every name and export carries the environment's name.
    seen: dict[str, str] = {}
    for environment in ENVIRONMENTS:
        names = explicit_names(synthesized, environment)
        assert len(names) > 20
        clashes = {name: seen[name] for name in names if name in seen}
        assert clashes == {}, f"{environment} reuses names of other environments: {clashes}"
        seen |= dict.fromkeys(names, environment)
