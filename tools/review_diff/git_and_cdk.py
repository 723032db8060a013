"""git and the CDK CLI as `make diff` runs them: the base commit exported, both trees synthesized, `cdk diff`."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CLI = REPO_ROOT / "node_modules" / ".bin" / "cdk"
MAIN_BRANCHES = ("main", "origin/main")  # origin/main: CI checkouts have no local main branch


class ReviewError(RuntimeError):
    """The review could not be made: a git ref, a synth or the CDK CLI failed."""


@dataclass(frozen=True)
class Base:
    commit: str
    description: str  # how it was chosen, e.g. "merge base of HEAD and main"


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
