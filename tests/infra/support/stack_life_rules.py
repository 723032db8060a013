"""Rules for names and removal policies over whole templates, so that the stacks survive their CloudFormation life:
a redeploy after `cdk destroy`, a retry after a failed first create, an update that changes a property (issue 25).

Each rule returns one line per resource that breaks it; test_stack_life_rules.py runs them on every synthesized
template and on hand-made templates that break each one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from typing import Any

from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

REGION = "eu-west-1"  # the schemas of the region the environments deploy to (cdk.json)
RETAINING = ("Retain", "RetainExceptOnCreate", "Snapshot")

# The property that gives each resource type used here its explicit physical name; None: the type has none
# (CloudFormation User Guide, "Name type": a resource with a custom name "can't be replaced", and "If you must
# replace the resource, specify a new name"). A type missing here fails the rules: classify it.
NAME_PROPERTY: Mapping[str, str | None] = {
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::Rule": "Name",
    # Private network mode (constructs/private_network.py): none of these is given a name.
    "AWS::EC2::FlowLog": None,
    "AWS::EC2::RouteTable": None,
    "AWS::EC2::SecurityGroup": "GroupName",
    "AWS::EC2::SecurityGroupIngress": None,
    "AWS::EC2::Subnet": None,
    "AWS::EC2::SubnetRouteTableAssociation": None,
    "AWS::EC2::VPC": None,
    "AWS::EC2::VPCEndpoint": None,
    "AWS::IAM::Policy": None,  # an inline policy's name is unique within its role only, not a physical name
    "AWS::IAM::Role": "RoleName",
    "AWS::KMS::Key": None,
    "AWS::Lambda::EventInvokeConfig": None,
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::Permission": None,
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::S3::BucketPolicy": None,
    "AWS::SNS::Subscription": None,
    "AWS::SNS::Topic": "TopicName",
    "AWS::SNS::TopicPolicy": None,
    "AWS::SQS::Queue": "QueueName",
    "AWS::SQS::QueuePolicy": None,
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
    "AWS::SageMaker::Pipeline": "PipelineName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
}

# Rule 1's exceptions: retained resources that keep an explicit name, by construct path (without the
# environment) and why. Each is in docs/deployment-runbook.md's "Life of the stacks": after `cdk destroy` it
# exists on its own, and the next deploy fails with "<name> already exists" until it is imported or deleted.
JUSTIFIED_RETAINED_NAMES: Mapping[str, str] = {
    "Data/Storage/DataBucket/Resource": "training data outlives the stacks; uploaders and the trigger address it by "
    "name; a redeploy takes it back with `cdk import`",
    "Data/Storage/ArtifactsBucket/Resource": "every model version's model.tar.gz (and its serving code) outlives "
    "the stacks; the retained model package group points at it; a redeploy takes it back with `cdk import`",
    "Deployment/ModelDeployment/*Logs/Resource": "deploy history kept for its retention period; operators find "
    "the groups by name (runbook) and the key policy lets CloudWatch Logs use the key for these names only",
    "Training/Pipeline/ModelPackageGroup": "the registry of every trained version, what served and what a "
    "re-approval rolls back to; the approval rule, the deploy workflow and tools/approver find it by name",
}

# Rule 3's exceptions: create-only properties that a named resource sets, frozen at these values (`{environment}`
# is the environment's name). Changing one fails this rule before it fails an update.
FROZEN_CREATE_ONLY: Mapping[tuple[str, str], str] = {
    # constructs/training_pipeline.py, model_package_group_description
    ("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupDescription"): (
        "Models trained by mlops-{environment}-training; approve one to deploy it"
    ),
    # A standard workflow: the deploy runs for up to hours and is judged from its history.
    ("AWS::StepFunctions::StateMachine", "StateMachineType"): "STANDARD",
}

# The CloudFormation reference's "Update requires: Replacement" is each resource type schema's createOnlyProperties
# ("properties that can only be specified when creating a resource", CloudFormation CLI User Guide, "Resource type
# schema"). cfn-lint ships the registry's schemas for every region, so the table is read, not copied by hand.


def create_only_properties(resource_type: str) -> list[str]:
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, resource_type).schema
    return [pointer.removeprefix("/properties/") for pointer in schema.get("createOnlyProperties", [])]


def _resources(template: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        path = resource.get("Metadata", {}).get("aws:cdk:path", logical_id)
        yield logical_id, path.split("/", 1)[1] if "/" in path else path, resource


def _named(resource: Mapping[str, Any]) -> str | None:
    """The resource's explicit-name property if it sets it."""
    name_property = NAME_PROPERTY.get(resource["Type"])
    return name_property if name_property and name_property in resource.get("Properties", {}) else None


def unclassified_types(template: Mapping[str, Any]) -> list[str]:
    return [
        f"{logical_id} ({resource['Type']}): add its type to NAME_PROPERTY (its explicit-name property, or None)"
        for logical_id, _, resource in _resources(template)
        if resource["Type"] not in NAME_PROPERTY and not resource["Type"].startswith("Custom::")
    ]


def retained_with_explicit_name(template: Mapping[str, Any]) -> list[str]:
    """Rule 1 (CloudFormation User Guide, "DeletionPolicy attribute"; "Name type"): a resource CloudFormation keeps
    on delete and that has an explicit name makes the next create of the same stack fail with "already exists"."""
    return [
        f"{logical_id} ({path}): kept on delete ({resource['DeletionPolicy']}) with an explicit "
        f"{_named(resource)}: a redeploy after destroy would fail with 'already exists'; drop the name, or "
        "justify it in JUSTIFIED_RETAINED_NAMES and tell the runbook what to import or delete"
        for logical_id, path, resource in _resources(template)
        if resource.get("DeletionPolicy") in RETAINING
        and _named(resource)
        and not any(fnmatch.fnmatchcase(path, pattern) for pattern in JUSTIFIED_RETAINED_NAMES)
    ]


def retained_also_after_a_failed_create(template: Mapping[str, Any]) -> list[str]:
    """Rule 2 (CloudFormation User Guide, "DeletionPolicy attribute", RetainExceptOnCreate): plain Retain also keeps
    what a failed first create made, and its retry then meets it; RetainExceptOnCreate (CDK's
    RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE) deletes it then, when it cannot hold anything yet."""
    return [
        f"{logical_id} ({path}): DeletionPolicy Retain; use RetainExceptOnCreate "
        "(RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, constructs/removal_policies.py)"
        for logical_id, path, resource in _resources(template)
        if resource.get("DeletionPolicy") == "Retain"
    ]


def create_only_on_named(template: Mapping[str, Any], environment: str) -> list[str]:
    """Rule 3 (CloudFormation User Guide, "Name type": "If you must replace the resource, specify a new name"; each
    property's "Update requires: Replacement" in the template reference): a named resource cannot be replaced, so
    it sets no other create-only property, unless the value is frozen in FROZEN_CREATE_ONLY."""
    findings = []
    for logical_id, path, resource in _resources(template):
        name_property = _named(resource)
        if name_property is None:
            continue
        properties = resource.get("Properties", {})
        for name in create_only_properties(resource["Type"]):
            if name == name_property or name not in properties:
                continue
            frozen = FROZEN_CREATE_ONLY.get((resource["Type"], name))
            if frozen is None:
                findings.append(
                    f'{logical_id} ({path}): {name} is create-only ("Update requires: Replacement") on a resource '
                    f"named by {name_property}: changing it fails the update; leave it unset or freeze it"
                )
            elif properties[name] != frozen.format(environment=environment):
                findings.append(
                    f"{logical_id} ({path}): {name} changed from its frozen value {frozen.format(environment=environment)!r}"
                    f" to {properties[name]!r}: it is create-only and {name_property} is fixed, so the update would"
                    " fail; keep the value, or rename the resource (a new resource, with what that means for its data)"
                )
    return findings


def every_rule(template: Mapping[str, Any], environment: str) -> list[str]:
    return [
        *unclassified_types(template),
        *retained_with_explicit_name(template),
        *retained_also_after_a_failed_create(template),
        *create_only_on_named(template, environment),
    ]
