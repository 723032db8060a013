"""The README and docs/ pages point at what exists: every relative link and its #anchor, and the README's layout
table. Plain text parsing, no Markdown library; links inside fenced code blocks are not links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.support.synthesis import REPO_ROOT

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (?P<title>.+)$", re.M)


def _prose(page: Path) -> str:
    return FENCE.sub("", page.read_text(encoding="utf-8"))


def anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lowercased, punctuation other than `-` and `_` dropped, spaces to `-`, and a
    repeated id suffixed `-1`, `-2`, ..."""
    seen: dict[str, int] = {}
    result = set()
    for match in HEADING.finditer(_prose(page)):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match["title"]).strip()
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def test_anchors_follow_github_ids() -> None:
    page = REPO_ROOT / "docs" / "security.md"
    assert "least-privilege-proven-both-ways-testsinfratest_iam_least_privilegepy" in anchors(page)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for match in LINK.finditer(_prose(page)):
        target = match["target"]
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with that id in {linked.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_every_path_in_the_readme_layout_exists() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    paths = [path for row in rows for path in re.findall(r"`([^`]+)`", row.split(" | ")[0])]
    assert len(paths) >= 10
    missing = [path for path in paths if not (REPO_ROOT / path).exists()]
    assert not missing, f"README's layout names what does not exist: {missing}"
