"""The report as text (printed) and Markdown (the pull request's job summary), a pipeline hunk repeated in several
environments shown once and named where it repeats."""

from __future__ import annotations

from collections.abc import Sequence

from tools.review_diff.comparison import StackReview

# GitHub drops a larger step summary whole ("$GITHUB_STEP_SUMMARY upload aborted, supports content up to a
# size of 1024k"; docs.github.com, Workflow commands for GitHub Actions, "Adding a job summary").
GITHUB_STEP_SUMMARY_LIMIT_BYTES = 1024 * 1024


def _changed_names(reviews: Sequence[StackReview]) -> list[str]:
    return [review.name for review in reviews if review.status != "unchanged"]


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
