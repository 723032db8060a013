"""`make diff` (tools/review_diff/): the session's assembly against copies changed the way a pull request would."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.infra.support.synthesis import REPO_ROOT, Synthesized
from tools.review_diff import git_and_cdk
from tools.review_diff.comparison import (
    ResourceChange,
    StackReview,
    pipeline_diffs,
    resource_changes,
    review_assemblies,
    stack_templates,
)
from tools.review_diff.git_and_cdk import ReviewError, export_commit, resolve_base
from tools.review_diff.rendering import render_markdown, render_text

STACK_COUNT = 12  # 3 environments x Data, Notifications, Training, Deployment


def changed_copy(synthesized: Synthesized, destination: Path, stack: str, change: Callable[[str], str]) -> Path:
    """A copy of the session's assembly (without assets) whose `stack` template text went through `change`."""
    shutil.copytree(synthesized.outdir, destination, ignore=shutil.ignore_patterns("asset.*"))
    path = stack_templates(destination)[stack]
    changed = change(path.read_text())
    assert changed != path.read_text(), "the change must change the template"
    path.write_text(changed)
    return destination


def by_name(reviews: list[StackReview]) -> dict[str, StackReview]:
    return {review.name: review for review in reviews}


def drop_last_action_of_a_policy(text: str) -> str:
    template = json.loads(text)
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if isinstance(statement["Action"], list) and len(statement["Action"]) > 1:
                statement["Action"] = statement["Action"][:-1]
                return json.dumps(template)
    raise AssertionError("no policy statement with several actions")


def remove_stack_from_manifest(assembly: Path, stack: str) -> None:
    environment = stack.split("/")[0]
    manifest_path = assembly / f"assembly-{environment}" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["artifacts"] = {
        artifact_id: artifact
        for artifact_id, artifact in manifest["artifacts"].items()
        if artifact.get("displayName") != stack
    }
    manifest_path.write_text(json.dumps(manifest))


def test_identical_assemblies_report_no_changes(synthesized: Synthesized, tmp_path: Path) -> None:
    reviews = review_assemblies(synthesized.outdir, synthesized.outdir, tmp_path)
    assert len(reviews) == STACK_COUNT
    assert {review.status for review in reviews} == {"unchanged"}
    assert (
        render_text("Base x.", reviews).splitlines()[1] == "No changes: all 12 stacks synthesize to the same templates."
    )
    assert "**No changes**" in render_markdown("Base x.", reviews)


def test_auc_threshold_default_is_one_readable_pair(synthesized: Synthesized, tmp_path: Path) -> None:
    escaped_default = '\\"AucThreshold\\", \\"Type\\": \\"Float\\", \\"DefaultValue\\": 0.85'
    new = changed_copy(
        synthesized,
        tmp_path / "new",
        "dev/Training",
        lambda text: text.replace(escaped_default, escaped_default[:-4] + "0.87"),
    )

    reviews = by_name(review_assemblies(synthesized.outdir, new, tmp_path / "work"))

    training = reviews.pop("dev/Training")
    assert training.status == "changed"
    (pipeline,) = training.pipelines
    changed_lines = [line for line in pipeline.unified_diff if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert changed_lines == ['-      "DefaultValue": 0.85,', '+      "DefaultValue": 0.87,']
    # The CLI's diff shows the escaped one-line definition as a digest; the JSON diff above is the readable one.
    assert "PipelineDefinitionBody" in training.template_diff
    assert "AucThreshold" not in training.template_diff
    assert training.security_changes == []
    assert {review.status for review in reviews.values()} == {"unchanged"}


def test_iam_change_is_called_out(synthesized: Synthesized, tmp_path: Path) -> None:
    new = changed_copy(synthesized, tmp_path / "new", "dev/Training", drop_last_action_of_a_policy)

    training = by_name(review_assemblies(new, synthesized.outdir, tmp_path / "work"))["dev/Training"]

    assert len(training.security_changes) == 1
    assert training.security_changes[0].startswith("~ AWS::IAM::Policy ")
    assert training.security_changes[0].endswith(" (PolicyDocument)")
    assert "IAM Statement Changes" in training.template_diff  # the CDK CLI's own table
    markdown = render_markdown("Base x.", [training])
    assert "**Security-relevant changes**" in markdown
    assert "| `dev/Training` | Changed: 1 resource modified | **1** |" in markdown


def test_markdown_over_the_job_summary_limit_keeps_the_table_and_security_changes() -> None:
    policy = ResourceChange("RolePolicy", "AWS::IAM::Policy", "modified", ("PolicyDocument",), True)
    review = StackReview("dev/Training", "changed", (policy,), "Resources\n" + "[~] x\n" * 1000)
    full = render_markdown("Base x.", [review])
    short = render_markdown("Base x.", [review], limit_bytes=len(full.encode()) - 1)
    assert "[~] x" in full
    assert "[~] x" not in short
    assert "| `dev/Training` | Changed: 1 resource modified | **1** |" in short
    assert "- `~ AWS::IAM::Policy RolePolicy (PolicyDocument)`" in short
    assert "are left out here to stay within a job summary's 1 MiB" in short


def test_new_stack_is_diffed_against_nothing(synthesized: Synthesized, tmp_path: Path) -> None:
    base = tmp_path / "base"
    shutil.copytree(synthesized.outdir, base, ignore=shutil.ignore_patterns("asset.*"))
    remove_stack_from_manifest(base, "prod/Notifications")

    notifications = by_name(review_assemblies(base, synthesized.outdir, tmp_path / "work"))["prod/Notifications"]

    assert notifications.status == "added"
    assert notifications.summary().startswith("New stack: ")
    assert {change.change for change in notifications.resources} == {"added"}
    assert "[+] AWS::SNS::Topic" in notifications.template_diff


def test_removed_stack_lists_what_is_deleted(synthesized: Synthesized, tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(synthesized.outdir, new, ignore=shutil.ignore_patterns("asset.*"))
    remove_stack_from_manifest(new, "prod/Notifications")

    notifications = by_name(review_assemblies(synthesized.outdir, new, tmp_path / "work"))["prod/Notifications"]

    assert notifications.status == "removed"
    assert {change.change for change in notifications.resources} == {"removed"}
    assert "Every resource of the stack is deleted with it:" in render_text("Base x.", [notifications])


def bucket(properties: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": {"Data": {"Type": "AWS::S3::Bucket", "Properties": properties}}}


def test_bucket_encryption_change_is_security_relevant() -> None:
    (change,) = resource_changes(bucket({"BucketEncryption": "kms"}), bucket({"BucketEncryption": "s3"}))
    assert (change.change, change.changed_properties, change.security_relevant) == (
        "modified",
        ("BucketEncryption",),
        True,
    )


def test_bucket_tag_change_is_not_security_relevant() -> None:
    (change,) = resource_changes(bucket({"Tags": ["a"]}), bucket({"Tags": ["b"]}))
    assert change.security_relevant is False


def test_metadata_only_change_is_no_resource_change() -> None:
    old, new = bucket({}), bucket({})
    new["Resources"]["Data"]["Metadata"] = {"aws:cdk:path": "moved"}
    assert resource_changes(old, new) == []


def pipeline_template(definition: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(definition)
    pipeline = {
        "Type": "AWS::SageMaker::Pipeline",
        "Properties": {"PipelineDefinition": {"PipelineDefinitionBody": body}},
    }
    return {"Resources": {"Pipeline": pipeline}}


def test_pipeline_encryption_change_is_security_relevant() -> None:
    def step(key: str) -> dict[str, Any]:
        return {"Steps": [{"Name": "Train", "Arguments": {"ResourceConfig": {"VolumeKmsKeyId": key}}}]}

    (diff,) = pipeline_diffs("dev/Training", pipeline_template(step("key-a")), pipeline_template(step("key-b")))
    assert diff.security_paths == ("Steps[Train].Arguments.ResourceConfig.VolumeKmsKeyId",)


def test_unreadable_pipeline_definition_is_a_clear_error() -> None:
    template = pipeline_template({})
    template["Resources"]["Pipeline"]["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"] = {
        "Fn::Base64": "x"
    }
    with pytest.raises(ReviewError, match=r"^cannot read the definition of pipeline Pipeline: cannot render"):
        pipeline_diffs("dev/Training", pipeline_template({}), template)


def test_default_base_is_the_merge_base_with_main(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def git(*args: str) -> str:
        command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
        return subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "--quiet", "--initial-branch=main")
    git("commit", "--quiet", "--allow-empty", "-m", "on main")
    fork_point = git("rev-parse", "HEAD")
    git("checkout", "--quiet", "-b", "feature")
    git("commit", "--quiet", "--allow-empty", "-m", "on the branch")
    git("checkout", "--quiet", "main")
    git("commit", "--quiet", "--allow-empty", "-m", "main moves on")
    git("checkout", "--quiet", "feature")
    monkeypatch.setattr(git_and_cdk, "REPO_ROOT", tmp_path)

    base = resolve_base(None)

    assert (base.commit, base.description) == (fork_point, "merge base of HEAD and main")


def test_unknown_base_is_a_clear_error() -> None:
    with pytest.raises(ReviewError, match=r"^BASE=no-such-ref is not a commit in this repository"):
        resolve_base("no-such-ref")


def test_exported_base_reuses_this_checkouts_environments(tmp_path: Path) -> None:
    export_commit("HEAD", tmp_path)
    assert (tmp_path / "app.py").read_text() == subprocess.run(
        ["git", "show", "HEAD:app.py"], cwd=REPO_ROOT, check=True, capture_output=True, text=True
    ).stdout
    assert (tmp_path / ".venv").resolve() == (REPO_ROOT / ".venv").resolve()
    assert (tmp_path / "node_modules").resolve() == (REPO_ROOT / "node_modules").resolve()


def test_a_hunk_identical_in_every_environment_is_shown_once(synthesized: Synthesized) -> None:
    # Every environment's Evaluate step lists every environment's threshold: lowering prod's changes all three.
    reviews = []
    for environment in ("dev", "stg", "prod"):
        name = f"{environment}/Training"
        text = stack_templates(synthesized.outdir)[name].read_text()
        assert "prod=0.92" in text
        old, new = json.loads(text), json.loads(text.replace("prod=0.92", "prod=0.9"))
        reviews.append(StackReview(name, "changed", (), "", tuple(pipeline_diffs(name, old, new))))

    text = render_text("Base x.", reviews)

    added = [line for line in text.splitlines() if line.startswith("+") and '"dev=0.85,stg=0.9,prod=0.9"' in line]
    assert len(added) == 1  # the hunk's body, once
    assert text.count("(the same change as in dev/Training)") == 2  # stg's and prod's hunks name it
    assert render_markdown("Base x.", reviews).count("(the same change as in dev/Training)") == 2
