"""Every request/response example in the README and docs/ is what the shipped model answers.

"The shipped model" is what `make local-run` trains on the shipped sample with default settings (the `adult_run`
fixture: the same scripts, arguments and seed, deterministic offline). The requests live in docs/examples/ with their
expected answers beside them; a Markdown code block preceded by `<!-- example: docs/examples/<file> -->` must hold
that file's text. After an intended change (new sample, new defaults), rewrite the answers and the blocks with
`UPDATE_DOC_EXAMPLES=1 make test-ml` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from ml_helpers import TrainedRun

import inference
import inference_handlers
from inference_handlers import CSV, JSON

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
UPDATE = os.environ.get("UPDATE_DOC_EXAMPLES") == "1"
# request file, content type, accept -> answer file, status
ANSWERS = [
    ("customers.csv", CSV, JSON, "customers.predictions.json", 200),
    ("customers.csv", CSV, CSV, "customers.predictions.csv", 200),
    ("customers.json", JSON, JSON, "customers.predictions.json", 200),
    ("unseen-categories.json", JSON, JSON, "unseen-categories.predictions.json", 200),
    ("unknown-category.json", JSON, JSON, "unknown-category.answer.txt", 400),
]
# A marker, then the fenced block right after it.
MARKED_BLOCK = re.compile(r"<!-- example: (?P<file>[^ ]+) -->\n```[a-z]*\n(?P<body>.*?)^```$", re.S | re.M)
ANY_BLOCK = re.compile(r"(?P<marker><!-- example: [^ ]+ -->\n)?```[a-z]*\n(?P<body>.*?)^```$", re.S | re.M)


@pytest.fixture(scope="module")
def model(adult_run: TrainedRun) -> inference_handlers.Model:
    return inference.model_fn(str(adult_run.model))


def answer(model: inference_handlers.Model, request: str, content_type: str, accept: str) -> tuple[int, str]:
    response = inference.transform_fn(model, (EXAMPLES / request).read_text(encoding="utf-8"), content_type, accept)
    body = response.get_data(as_text=True)
    return response.status_code, body if body.endswith("\n") else body + "\n"


@pytest.mark.parametrize(("request_file", "content_type", "accept", "answer_file", "status"), ANSWERS)
def test_each_example_answer_is_what_the_shipped_model_answers(
    model, request_file: str, content_type: str, accept: str, answer_file: str, status: int
) -> None:
    code, body = answer(model, request_file, content_type, accept)
    path = EXAMPLES / answer_file
    if UPDATE:
        path.write_text(body, encoding="utf-8")
    assert code == status
    assert path.read_text(encoding="utf-8") == body, f"{answer_file} is stale; the model answers:\n{body}"


def test_the_sample_rows_get_both_labels() -> None:
    answers = (EXAMPLES / "customers.predictions.csv").read_text(encoding="utf-8")
    assert {line.split(",")[1] for line in answers.splitlines()} == {"<=50K", ">50K"}


def _rewrite_blocks(page: Path) -> None:
    text = page.read_text(encoding="utf-8")

    def current(match: re.Match[str]) -> str:
        content = (REPO / match["file"]).read_text(encoding="utf-8")
        return match[0].replace(match["body"], content if content.endswith("\n") else content + "\n", 1)

    page.write_text(MARKED_BLOCK.sub(current, text), encoding="utf-8")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_marked_block_holds_its_example_file(page: Path) -> None:
    if UPDATE:
        _rewrite_blocks(page)
    for match in MARKED_BLOCK.finditer(page.read_text(encoding="utf-8")):
        expected = (REPO / match["file"]).read_text(encoding="utf-8")
        assert match["body"] == expected, f"{page.name}: the block marked {match['file']} differs from the file"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_block_with_a_prediction_or_a_request_row_is_a_marked_example(page: Path) -> None:
    """An unmarked example could drift: any block quoting a probability or a sample row must be marked."""
    for match in ANY_BLOCK.finditer(page.read_text(encoding="utf-8")):
        body = match["body"]
        quotes_an_answer = '"probability"' in body or re.search(r"^0\.\d+,", body, re.M)
        quotes_a_request = "State-gov" in body or "Contractor" in body
        assert match["marker"] or not (quotes_an_answer or quotes_a_request), (
            f"{page.name}: an unmarked example block:\n{body[:200]}"
        )


def test_the_pages_show_the_examples() -> None:
    marked = {match["file"] for page in PAGES for match in MARKED_BLOCK.finditer(page.read_text(encoding="utf-8"))}
    assert {
        "docs/examples/customers.csv",
        "docs/examples/customers.predictions.json",
        "docs/examples/customers.predictions.csv",
        "docs/examples/unknown-category.answer.txt",
    } <= marked
