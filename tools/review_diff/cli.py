"""`make diff`'s command line: the base chosen, both trees synthesized and compared, the report printed and written."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tools import review_diff
from tools.review_diff.comparison import review_assemblies
from tools.review_diff.git_and_cdk import (
    REPO_ROOT,
    ReviewError,
    describe_working_tree,
    export_commit,
    resolve_base,
    synthesize,
)
from tools.review_diff.rendering import render_markdown, render_text
from tools.review_diff.settings_changes import settings_summary

DEFAULT_MARKDOWN = REPO_ROOT / "cdk.out" / "diff.md"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make diff", description=review_diff.__doc__.split("\n\n")[0])
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
