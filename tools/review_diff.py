"""`make diff`: what a change does to every environment's stacks, as ops review it, offline.

Synthesizes the base commit (exported with `git archive`, run with this checkout's .venv and node_modules, so
nothing is downloaded) and the working tree with the CDK CLI, then for every environment and stack reports:
- the security-relevant resources added, removed or changed (IAM, KMS, resource policies, encryption
  settings), first, so a reviewer cannot miss them;
- the CDK CLI's own template diff (`cdk diff --app <new assembly> -e <stack> --template <old template>`,
  `-e` because a stack with dependencies cannot be compared to a fixed template without it), whose IAM
  statement and security group tables show permission changes line by line;
- the pipeline definition as a unified diff of pretty-printed JSON: the template holds it as one escaped
  string, which the CLI's diff replaces here by a digest.
It leads with the environments' settings that change in cdk.json, in plain words, warnings first for a change that
weakens a guard (tools/settings_changes.py). A pipeline hunk that is the same in several environments (every
environment's report lists every threshold, for one) is shown once, then named where it repeats.
The same report is written as Markdown (the pull request's job summary in CI).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tools.pipeline_rendering import render
from tools.settings_changes import setting_changes, summary_lines

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_CLI = REPO_ROOT / "node_modules" / ".bin" / "cdk"
DEFAULT_MARKDOWN = REPO_ROOT / "cdk.out" / "diff.md"
MAIN_BRANCHES = ("main", "origin/main")  # origin/main: CI checkouts have no local main branch

PIPELINE_TYPE = "AWS::SageMaker::Pipeline"
# GitHub drops a larger step summary whole ("$GITHUB_STEP_SUMMARY upload aborted, supports content up to a
# size of 1024k"; docs.github.com, Workflow commands for GitHub Actions, "Adding a job summary").
GITHUB_STEP_SUMMARY_LIMIT_BYTES = 1024 * 1024

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


class ReviewError(RuntimeError):
    """The review could not be made: a git ref, a synth or the CDK CLI failed."""


@dataclass(frozen=True)
class Base:
    commit: str
    description: str  # how it was chosen, e.g. "merge base of HEAD and main"


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


def _subprocess_env() -> dict[str, str]:
    # The CLI and the Node.js 22 runtime from package.json first, as the Makefile does.
    return {**os.environ, "PATH": f"{CDK_CLI.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def _tidy_cli_diff(output: str) -> str:
    """The CLI's diff of one stack without its header line and trailing stack count."""
    lines = [line.rstrip() for line in output.splitlines()]
    lines = [line for line in lines if not line.startswith(("Stack ", "✨"))]
    text = "\n".join(lines).strip("\n")
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def cli_template_diff(new_assembly: Path, stack: str, old_template: Path) -> str:
    """The CDK CLI's diff of one stack of an assembly against a template file; offline."""
    command = [str(CDK_CLI), "diff", "--no-color", "--app", str(new_assembly), "-e", stack]
    command += ["--template", str(old_template)]
    result = subprocess.run(command, cwd=REPO_ROOT, env=_subprocess_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise ReviewError(f"cdk diff of {stack} failed:\n{result.stderr.strip()}")
    return _tidy_cli_diff(result.stderr + result.stdout)


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


# --- producing the two assemblies ------------------------------------------------------------------------


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise ReviewError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def _ref_exists(ref: str) -> bool:
    check = ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]
    return subprocess.run(check, cwd=REPO_ROOT, capture_output=True).returncode == 0


def resolve_base(ref: str | None) -> Base:
    """The commit to compare with: `ref`, or the merge base of HEAD and main (origin/main in CI)."""
    if ref:
        if not _ref_exists(ref):
            raise ReviewError(f"BASE={ref} is not a commit in this repository (for CI: checkout with fetch-depth: 0)")
        return Base(_git("rev-parse", f"{ref}^{{commit}}"), ref)
    for branch in MAIN_BRANCHES:
        if _ref_exists(branch):
            return Base(_git("merge-base", "HEAD", branch), f"merge base of HEAD and {branch}")
    raise ReviewError("neither main nor origin/main exists to take the merge base with: give BASE=<git ref>")


def export_commit(commit: str, destination: Path) -> None:
    """The commit's files in `destination`, using this checkout's environments (nothing is downloaded)."""
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO_ROOT, capture_output=True)
    if archive.returncode != 0:
        raise ReviewError(f"git archive {commit}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")
    for environment in (".venv", "node_modules"):
        (destination / environment).symlink_to((REPO_ROOT / environment).resolve(), target_is_directory=True)


def synthesize(sources: Mapping[str, Path], outdirs: Mapping[str, Path]) -> None:
    """`cdk synth` of each source tree into its outdir, side by side; each tree's own cdk.json applies."""
    running = {
        label: subprocess.Popen(
            [str(CDK_CLI), "synth", "--quiet", "--output", str(outdirs[label])],
            cwd=source,
            env=_subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label, source in sources.items()
    }
    failures = []
    for label, process in running.items():
        _, stderr = process.communicate()
        if process.returncode != 0:
            failures.append(f"synth of the {label} failed:\n{stderr.strip()}")
    if failures:
        raise ReviewError("\n".join(failures))


def describe_working_tree() -> str:
    head = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"working tree (HEAD {head}{' + uncommitted changes' if dirty else ''})"


# --- reports ----------------------------------------------------------------------------------------------


def _changed_names(reviews: Sequence[StackReview]) -> list[str]:
    return [review.name for review in reviews if review.status != "unchanged"]


def settings_summary(base_source: Path, working_tree: Path = REPO_ROOT) -> list[str]:
    """The plain-words summary of the cdk.json settings that differ between two checkouts."""
    contexts = [json.loads((root / "cdk.json").read_text()).get("context", {}) for root in (base_source, working_tree)]
    return summary_lines(setting_changes(*contexts))


def folded_hunks(reviews: Sequence[StackReview]) -> dict[tuple[str, str], list[str]]:
    """(stack, pipeline) -> its unified diff, with each hunk whose changed lines were already shown for an earlier
    stack replaced by one line naming that stack: the same change in every environment reads once."""
    first_shown: dict[tuple[str, ...], str] = {}
    folded: dict[tuple[str, str], list[str]] = {}
    for review in reviews:
        for pipeline in review.pipelines:
            lines: list[str] = []
            for hunk in _hunks(pipeline.unified_diff):
                # Compared by its changed lines: the context may name the environment ("--environment", "dev").
                header, body = hunk[0], tuple(line for line in hunk[1:] if line[:1] in "+-")
                if not header.startswith("@@"):
                    lines += hunk  # the ---/+++ file lines
                elif body in first_shown:
                    lines.append(f"{header} (the same change as in {first_shown[body]})")
                else:
                    first_shown[body] = review.name
                    lines += hunk
            folded[(review.name, pipeline.logical_id)] = lines
    return folded


def _hunks(diff: Sequence[str]) -> list[list[str]]:
    hunks: list[list[str]] = []
    for line in diff:
        if line.startswith("@@") or not hunks:
            hunks.append([line])
        else:
            hunks[-1].append(line)
    return hunks


def render_text(base_line: str, reviews: Sequence[StackReview], settings: Sequence[str] = ()) -> str:
    changed = _changed_names(reviews)
    lines = [base_line, *settings, *([""] if settings else [])]
    folded = folded_hunks(reviews)
    if not changed:
        lines.append(f"No changes: all {len(reviews)} stacks synthesize to the same templates.")
        return "\n".join(lines)
    security = [review.name for review in reviews if review.security_changes]
    lines.append(f"{len(changed)} of {len(reviews)} stacks change: {', '.join(changed)}")
    lines.append(f"Security-relevant changes in: {', '.join(security) if security else 'none'}")
    for environment in dict.fromkeys(review.environment for review in reviews):
        lines += ["", f"=== {environment} ==="]
        for review in (r for r in reviews if r.environment == environment):
            lines.append(f"--- {review.name}: {review.summary()}")
            if review.status == "unchanged":
                continue
            lines.append("")
            if review.security_changes:
                lines.append("Security-relevant changes:")
                lines += [f"  {change}" for change in review.security_changes]
            if review.template_diff:
                lines += ["CloudFormation (cdk diff):", review.template_diff]
            elif review.status == "removed":
                lines.append("Every resource of the stack is deleted with it:")
                lines += [f"  {change.describe()}" for change in review.resources]
            for pipeline in review.pipelines:
                lines.append(f"Pipeline definition {pipeline.logical_id} (pretty-printed JSON):")
                lines += folded[(review.name, pipeline.logical_id)]
            lines.append("")
    return "\n".join(lines)


def _fence(text: str, language: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}{language}\n{text}\n{fence}"


def render_markdown(
    base_line: str,
    reviews: Sequence[StackReview],
    limit_bytes: int = GITHUB_STEP_SUMMARY_LIMIT_BYTES,
    settings: Sequence[str] = (),
) -> str:
    """The report as Markdown; above `limit_bytes` without the diffs themselves, which the printed report has."""
    full = _markdown(base_line, reviews, with_diffs=True, settings=settings)
    if len(full.encode()) <= limit_bytes:
        return full
    note = (
        f"The CloudFormation and pipeline diffs ({len(full.encode()) // 1024} KiB as Markdown) are left out here"
        " to stay within a job summary's 1 MiB: `make diff` printed them in full (in CI: this step's log)."
    )
    return _markdown(base_line, reviews, with_diffs=False, note=note, settings=settings)


def _markdown(
    base_line: str, reviews: Sequence[StackReview], with_diffs: bool, note: str = "", settings: Sequence[str] = ()
) -> str:
    changed = _changed_names(reviews)
    parts = ["# Change review", "", base_line, ""]
    if settings:
        parts += [_fence("\n".join(settings), "text"), ""]
    folded = folded_hunks(reviews)
    if not changed:
        parts.append(f"**No changes**: all {len(reviews)} stacks synthesize to the same templates.")
        return "\n".join(parts) + "\n"
    parts += ["| stack | change | security-relevant |", "| --- | --- | --- |"]
    for review in reviews:
        security = len(review.security_changes)
        parts.append(f"| `{review.name}` | {review.summary()} | {f'**{security}**' if security else ''} |")
    if note:
        parts += ["", f"**{note}**"]
    for environment in dict.fromkeys(review.environment for review in reviews):
        in_environment = [r for r in reviews if r.environment == environment and r.status != "unchanged"]
        parts += ["", f"## {environment}", ""]
        if not in_environment:
            parts.append("No changes.")
        for review in in_environment:
            parts += [f"### `{review.name}`: {review.summary()}", ""]
            if review.security_changes:
                parts += ["**Security-relevant changes**", ""]
                parts += [f"- `{change}`" for change in review.security_changes]
                parts.append("")
            if not with_diffs:
                continue
            if review.template_diff:
                parts += ["**CloudFormation** (`cdk diff`)", "", _fence(review.template_diff, "text"), ""]
            elif review.status == "removed":
                parts += ["**Stack removed**: every resource is deleted with it.", ""]
                parts += [f"- `{change.describe()}`" for change in review.resources]
                parts.append("")
            for pipeline in review.pipelines:
                parts += [f"**Pipeline definition** `{pipeline.logical_id}`", ""]
                parts += [_fence("\n".join(folded[(review.name, pipeline.logical_id)]), "diff"), ""]
    return "\n".join(parts).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="git ref to compare with (default: the merge base of HEAD and main)")
    parser.add_argument("--markdown", type=Path, default=DEFAULT_MARKDOWN, help="where to write the Markdown report")
    args = parser.parse_args(argv)
    try:
        base = resolve_base(args.base)
        base_line = f"Base {base.commit[:12]} ({base.description}) compared with the {describe_working_tree()}."
        with tempfile.TemporaryDirectory(prefix="make-diff-") as temporary:
            workdir = Path(temporary)
            export_commit(base.commit, workdir / "base-source")
            outdirs = {"base": workdir / "base.out", "working tree": workdir / "working-tree.out"}
            synthesize({"base": workdir / "base-source", "working tree": REPO_ROOT}, outdirs)
            reviews = review_assemblies(outdirs["base"], outdirs["working tree"], workdir)
            settings = settings_summary(workdir / "base-source")
    except ReviewError as error:
        print(f"make diff: {error}", file=sys.stderr)
        return 1
    print(render_text(base_line, reviews, settings))
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(render_markdown(base_line, reviews, settings=settings))
    print(f"\nmarkdown: {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
