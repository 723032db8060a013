"""The stacks' references hold both ways (stacks/stack_references.py): a stack that serves others cannot be deleted
under them, and a replaced key or topic reaches its consumers on the next `cdk deploy '<env>/*'`."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.infra.support import stack_life_rules
from tests.infra.support.synthesis import ENVIRONMENTS, Synthesized


def weak_references(node: Any) -> Iterator[Mapping[str, str]]:
    if isinstance(node, dict):
        if set(node) == {"Fn::GetStackOutput"}:
            yield node["Fn::GetStackOutput"]
        for value in node.values():
            yield from weak_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from weak_references(value)


def lock_findings(templates: Mapping[str, Mapping[str, Any]], environment: str) -> list[str]:
    """Every stack that reads another's outputs imports that stack's lock export, whose value is a constant."""
    findings = []
    for consumer, template in templates.items():
        consumer_name = f"{environment}-{consumer}"
        imports = {
            output["Value"]["Fn::ImportValue"]
            for output in template.get("Outputs", {}).values()
            if isinstance(output["Value"], dict) and "Fn::ImportValue" in output["Value"]
        }
        for producer_name in sorted({r["StackName"] for r in weak_references(template.get("Resources", {}))}):
            export = f"{producer_name}-used-by-{consumer_name}"
            producer = templates[producer_name.removeprefix(f"{environment}-")]
            exported = [o for o in producer.get("Outputs", {}).values() if o.get("Export", {}).get("Name") == export]
            if export not in imports or len(exported) != 1:
                findings.append(f"{consumer_name} reads {producer_name}'s outputs but does not lock it ({export})")
            elif exported[0]["Value"] != consumer_name:
                findings.append(f"{export} exports {exported[0]['Value']!r}: a lock's value must be a constant")
    return findings


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_stack_locks_every_stack_whose_outputs_it_reads(synthesized: Synthesized, environment: str) -> None:
    templates = synthesized.templates[environment]
    assert lock_findings(templates, environment) == []
    # Not vacuous: the key and the topic are read across stacks.
    readers = {stack for stack, t in templates.items() if list(weak_references(t.get("Resources", {})))}
    assert readers == {"Notifications", "Training", "Deployment"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_deployment_stack_locks_the_training_stack_whose_group_it_names(
    synthesized: Synthesized, environment: str
) -> None:
    # The approval rule and the workflow name the model package group, a plain string: no output is read.
    outputs = synthesized.templates[environment]["Deployment"]["Outputs"]
    assert {"Fn::ImportValue": f"{environment}-Training-used-by-{environment}-Deployment"} in [
        o["Value"] for o in outputs.values()
    ]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_imports_are_only_locks(synthesized: Synthesized, environment: str) -> None:
    # .cfnlintrc.yaml ignores W6001 (an output that imports) for the locks alone.
    for stack, template in synthesized.templates[environment].items():
        for output in template.get("Outputs", {}).values():
            if "Fn::ImportValue" in json.dumps(output["Value"]):
                assert output["Value"]["Fn::ImportValue"].endswith(f"-used-by-{environment}-{stack}")
        assert "Fn::ImportValue" not in json.dumps(template.get("Resources", {}))


def test_a_missing_lock_is_found(synthesized: Synthesized) -> None:
    templates = copy.deepcopy(dict(synthesized.templates["dev"]))
    del templates["Training"]["Outputs"]["UsesData"]
    assert lock_findings(templates, "dev") == [
        "dev-Training reads dev-Data's outputs but does not lock it (dev-Data-used-by-dev-Training)"
    ]


def test_a_lock_whose_value_could_change_is_found(synthesized: Synthesized) -> None:
    templates = copy.deepcopy(dict(synthesized.templates["dev"]))
    templates["Data"]["Outputs"]["UsedByTraining"]["Value"] = {"Fn::GetAtt": ["StorageKeyBAA9457B", "Arn"]}
    (finding,) = lock_findings(templates, "dev")
    assert "must be a constant" in finding


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_replaced_key_or_topic_changes_its_consumers_templates(synthesized: Synthesized, environment: str) -> None:
    # A resource read across stacks is replaced only under a new logical ID (it sets no create-only property),
    # and the output a consumer reads is named after that logical ID: a replacement renames what consumers read,
    # so their templates change and `cdk deploy '<env>/*'` redeploys them after the producer.
    templates = synthesized.templates[environment]
    read = {
        (r["StackName"].removeprefix(f"{environment}-"), r["OutputName"])
        for template in templates.values()
        for r in weak_references(template.get("Resources", {}))
    }
    network = [resource for resource in read if "Network" in resource[1]]
    assert len(read) - len(network) == 2  # the key's ARN and the topic's ARN
    for producer, output_name in read:
        value = templates[producer]["Outputs"][output_name]["Value"]
        logical_id = value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]
        assert logical_id in output_name
        resource = templates[producer]["Resources"][logical_id]
        if resource["Type"].startswith("AWS::EC2::"):
            # The private network's subnets and security groups (VpcId, CidrBlock, GroupDescription) cannot avoid
            # create-only properties: docs/private-network.md, "Changing the network of a deployed environment",
            # says to remove the Training and Deployment stacks before a change that replaces them.
            continue
        create_only = set(stack_life_rules.create_only_properties(resource["Type"]))
        assert create_only & set(resource.get("Properties", {})) == set(), (producer, logical_id)
