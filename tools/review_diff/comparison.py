"""Two synthesized cloud assemblies compared stack by stack: resources added, removed or changed (security-relevant
ones marked), the CDK CLI's template diff, and each pipeline definition's diff as pretty-printed JSON."""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tools.pipeline_rendering import render
from tools.review_diff.git_and_cdk import ReviewError, cli_template_diff

PIPELINE_TYPE = "AWS::SageMaker::Pipeline"

# Any change to these is a change of who may do what, or of encryption.
SECURITY_TYPE_PREFIXES = ("AWS::IAM::", "AWS::KMS::")
SECURITY_TYPES = frozenset(
    {
        "AWS::S3::BucketPolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::Lambda::Permission",
        "AWS::Events::EventBusPolicy",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress",
    }
)
# Properties of other resource types that decide encryption, public access or the role a service acts as.
SECURITY_PROPERTIES: Mapping[str, frozenset[str]] = {
    "AWS::S3::Bucket": frozenset(
        {"BucketEncryption", "PublicAccessBlockConfiguration", "OwnershipControls", "VersioningConfiguration"}
    ),
    "AWS::SNS::Topic": frozenset({"KmsMasterKeyId"}),
    "AWS::SQS::Queue": frozenset({"KmsMasterKeyId", "SqsManagedSseEnabled"}),
    "AWS::Lambda::Function": frozenset({"Role", "KmsKeyArn"}),
    "AWS::Logs::LogGroup": frozenset({"KmsKeyId"}),
    "AWS::SageMaker::Pipeline": frozenset({"RoleArn"}),
    "AWS::SageMaker::ModelPackageGroup": frozenset({"ModelPackageGroupPolicy"}),
    "AWS::StepFunctions::StateMachine": frozenset({"RoleArn", "EncryptionConfiguration"}),
}
# Keys inside a pipeline definition's steps that decide encryption, isolation or the jobs' role.
PIPELINE_SECURITY_KEYS = frozenset(
    {
        "RoleArn",
        "KmsKeyId",
        "VolumeKmsKeyId",
        "EnableNetworkIsolation",
        "EnableInterContainerTrafficEncryption",
        "NetworkConfig",
        "VpcConfig",
    }
)


@dataclass(frozen=True)
class ResourceChange:
    logical_id: str
    resource_type: str
    change: Literal["added", "removed", "modified"]
    changed_properties: tuple[str, ...]  # for "modified": the top-level keys that differ
    security_relevant: bool

    def describe(self) -> str:
        sign = {"added": "+", "removed": "-", "modified": "~"}[self.change]
        detail = f" ({', '.join(self.changed_properties)})" if self.changed_properties else ""
        return f"{sign} {self.resource_type} {self.logical_id}{detail}"


@dataclass(frozen=True)
class PipelineDiff:
    logical_id: str
    unified_diff: tuple[str, ...]
    security_paths: tuple[str, ...]  # changed paths inside the definition that touch PIPELINE_SECURITY_KEYS


@dataclass(frozen=True)
class StackReview:
    name: str  # the stack's display name, "<environment>/<stack>"
    status: Literal["added", "removed", "changed", "unchanged"]
    resources: tuple[ResourceChange, ...] = ()
    template_diff: str = ""  # the CDK CLI's diff, pipeline definitions replaced by their digest
    pipelines: tuple[PipelineDiff, ...] = ()

    @property
    def environment(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def security_changes(self) -> list[str]:
        found = [change.describe() for change in self.resources if change.security_relevant]
        for pipeline in self.pipelines:
            found += [f"~ pipeline {pipeline.logical_id}: {path}" for path in pipeline.security_paths]
        return found

    def summary(self) -> str:
        if self.status == "unchanged":
            return "No changes"
        counts = {kind: sum(r.change == kind for r in self.resources) for kind in ("added", "removed", "modified")}
        parts = [f"{count} resource{'s' if count > 1 else ''} {kind}" for kind, count in counts.items() if count]
        if self.pipelines:
            parts.append("pipeline definition changed")
        prefix = {"added": "New stack", "removed": "Stack removed", "changed": "Changed"}[self.status]
        return f"{prefix}: {', '.join(parts) or 'template metadata only'}"


# --- reading cloud assemblies ---------------------------------------------------------------------------


def stack_templates(assembly: Path) -> dict[str, Path]:
    """Display name ("dev/Training") -> template file of every stack in a cloud assembly, stages included."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    templates: dict[str, Path] = {}
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact["type"] == "aws:cloudformation:stack":
            templates[artifact.get("displayName", artifact_id)] = assembly / artifact["properties"]["templateFile"]
        elif artifact["type"] == "cdk:cloud-assembly":
            templates.update(stack_templates(assembly / artifact["properties"]["directoryName"]))
    return templates


def pipeline_definitions(template: Mapping[str, Any]) -> dict[str, Any]:
    """Logical id -> the definition of every SageMaker pipeline in a template, with CDK references as ${...}."""
    definitions = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != PIPELINE_TYPE:
            continue
        body = resource["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
        try:
            definitions[logical_id] = json.loads(render(body))
        except ValueError as error:  # an intrinsic the rendering does not know, or not JSON once rendered
            raise ReviewError(f"cannot read the definition of pipeline {logical_id}: {error}") from error
    return definitions


def pretty(definition: Any) -> list[str]:
    # Sorted keys: the layout of the readable snapshots in tests/infra/__snapshots__/test_training_pipeline.
    return json.dumps(definition, indent=2, sort_keys=True).splitlines()


def with_pipeline_digests(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template with each pipeline definition replaced by a short digest: the CLI's diff of the escaped
    one-line string is unreadable, and the definition's own diff follows it."""
    result = copy.deepcopy(dict(template))
    for logical_id, definition in pipeline_definitions(template).items():
        digest = hashlib.sha256("\n".join(pretty(definition)).encode()).hexdigest()[:12]
        body = f"(pipeline definition sha256:{digest}, diffed as JSON below)"
        result["Resources"][logical_id]["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"] = body
    return result


# --- comparing --------------------------------------------------------------------------------------------


def _is_security_type(resource_type: str) -> bool:
    return resource_type in SECURITY_TYPES or resource_type.startswith(SECURITY_TYPE_PREFIXES)


def resource_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[ResourceChange]:
    old_resources, new_resources = old.get("Resources", {}), new.get("Resources", {})
    changes: list[ResourceChange] = []
    for logical_id in sorted(old_resources.keys() | new_resources.keys()):
        before, after = old_resources.get(logical_id), new_resources.get(logical_id)
        if before is not None and after is not None:
            differing = tuple(
                key
                for key in sorted(before.keys() | after.keys())
                if key != "Metadata" and before.get(key) != after.get(key)
            )
            properties = tuple(
                name
                for name in sorted(before.get("Properties", {}).keys() | after.get("Properties", {}).keys())
                if before.get("Properties", {}).get(name) != after.get("Properties", {}).get(name)
            )
            if not differing:
                continue
            resource_type = after["Type"]
            security = _is_security_type(resource_type) or bool(
                set(properties) & SECURITY_PROPERTIES.get(resource_type, frozenset())
            )
            shown = properties + tuple(key for key in differing if key != "Properties")
            changes.append(ResourceChange(logical_id, resource_type, "modified", shown, security))
        else:
            resource = after if after is not None else before
            assert resource is not None
            kind: Literal["added", "removed"] = "added" if after is not None else "removed"
            resource_type = resource["Type"]
            changes.append(ResourceChange(logical_id, resource_type, kind, (), _is_security_type(resource_type)))
    return changes


def _leaf_paths(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaf_paths(item, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            # Steps are named: a path through them reads Steps[Train] rather than Steps[1].
            label = item["Name"] if isinstance(item, dict) and isinstance(item.get("Name"), str) else index
            yield from _leaf_paths(item, f"{prefix}[{label}]")
    else:
        yield prefix, value


def pipeline_diffs(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[PipelineDiff]:
    old_definitions, new_definitions = pipeline_definitions(old), pipeline_definitions(new)
    diffs: list[PipelineDiff] = []
    for logical_id in sorted(old_definitions.keys() | new_definitions.keys()):
        before, after = old_definitions.get(logical_id), new_definitions.get(logical_id)
        if before == after:
            continue
        lines = difflib.unified_diff(
            pretty(before) if before is not None else [],
            pretty(after) if after is not None else [],
            fromfile=f"base/{name}/{logical_id}",
            tofile=f"working tree/{name}/{logical_id}",
            lineterm="",
        )
        old_leaves = dict(_leaf_paths(before)) if before is not None else {}
        new_leaves = dict(_leaf_paths(after)) if after is not None else {}
        security_paths = tuple(
            path
            for path in sorted(old_leaves.keys() | new_leaves.keys())
            if old_leaves.get(path) != new_leaves.get(path)
            and PIPELINE_SECURITY_KEYS & set(path.replace("[", ".").replace("]", "").split("."))
        )
        diffs.append(PipelineDiff(logical_id, tuple(lines), security_paths))
    return diffs


def _stack_order(names: Iterable[str]) -> list[str]:
    """Environments in the order they first appear (cdk.json's order), stacks in assembly order within one."""
    names = list(dict.fromkeys(names))
    environments = list(dict.fromkeys(name.split("/", 1)[0] for name in names))
    return sorted(names, key=lambda name: environments.index(name.split("/", 1)[0]))


def review_assemblies(old_assembly: Path, new_assembly: Path, workdir: Path) -> list[StackReview]:
    """Compares two synthesized cloud assemblies stack by stack; neither is modified (workdir gets copies)."""
    old_templates, new_templates = stack_templates(old_assembly), stack_templates(new_assembly)
    # The CLI reads the new side as an assembly: a copy (without asset folders) whose pipelines are digests.
    cli_assembly = workdir / "new-assembly"
    shutil.copytree(new_assembly, cli_assembly, ignore=shutil.ignore_patterns("asset.*"))
    for path in stack_templates(cli_assembly).values():
        path.write_text(json.dumps(with_pipeline_digests(json.loads(path.read_text())), indent=1))
    old_dir = workdir / "old-templates"
    old_dir.mkdir()

    reviews: list[StackReview] = []
    for name in _stack_order([*new_templates, *old_templates]):
        old = json.loads(old_templates[name].read_text()) if name in old_templates else {}
        new = json.loads(new_templates[name].read_text()) if name in new_templates else {}
        if name in old_templates and name in new_templates and old == new:
            reviews.append(StackReview(name, "unchanged"))
            continue
        resources = tuple(resource_changes(old, new))
        pipelines = tuple(pipeline_diffs(name, old, new))
        if name not in new_templates:
            reviews.append(StackReview(name, "removed", resources, "", pipelines))
            continue
        old_file = old_dir / (name.replace("/", "-") + ".template.json")
        old_file.write_text(json.dumps(with_pipeline_digests(old), indent=1))
        template_diff = cli_template_diff(cli_assembly, name, old_file)
        status: Literal["added", "changed"] = "changed" if name in old_templates else "added"
        reviews.append(StackReview(name, status, resources, template_diff, pipelines))
    return reviews
