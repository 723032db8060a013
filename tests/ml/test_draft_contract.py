from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ml_helpers import SAMPLE_DATA, SMALL_POSITIVE, SMALL_TARGET, small_frame

import draft_contract
import preprocess
from contract import load_contract


def draft_file(data: Path, output: Path, *args: str) -> int:
    return draft_contract.main(["--data", str(data), "--output", str(output), *args])


def test_draft_from_the_sample_is_the_shipped_contract_but_its_reviewed_choices(tmp_path: Path) -> None:
    output = tmp_path / "draft.json"
    assert draft_file(SAMPLE_DATA, output, "--target-column", "income-per-year") == 0
    drafted, shipped = load_contract(output), load_contract()
    assert drafted.target_column == shipped.target_column
    assert drafted.positive_label == shipped.positive_label  # the rarer class
    assert list(drafted.features.items()) == list(shipped.features.items())
    assert drafted.missing_values == shipped.missing_values
    # What the team decided on review: the shipped contract scores unseen countries as missing.
    assert drafted.unseen_categories_as_missing == frozenset()
    assert shipped.unseen_categories_as_missing == {"native-country"}


def an_export(rows: int = 400) -> pd.DataFrame:
    """A team's export with the traps a sample holds: codes, odd markers, identifiers, sparse columns."""
    rng = np.random.default_rng(1)
    frame = small_frame(rows)
    frame["zip"] = rng.choice(["02134", "10001", "94105"], rows)
    frame["customer_id"] = [f"c-{index:05d}" for index in range(rows)]
    frame["discount"] = np.where(rng.random(rows) < 0.7, "NA", rng.integers(0, 30, rows).astype(str))
    frame["visits"] = np.where(rng.random(rows) < 0.05, "unknown", rng.integers(0, 9, rows).astype(str))
    frame["fax"] = ""
    return frame


def test_draft_of_an_export_types_columns_finds_markers_and_says_what_to_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, output = tmp_path / "export.csv", tmp_path / "draft.json"
    an_export().to_csv(data, index=False)
    assert draft_file(data, output, "--target-column", SMALL_TARGET) == 0
    contract = json.loads(output.read_text())
    assert contract["positive_label"] == SMALL_POSITIVE  # "yes" reads as the positive answer
    assert contract["features"] == {
        "tenure": "numeric",
        "plan": "categorical",
        "spend": "numeric",
        "region": "categorical",
        "zip": "categorical",
        "discount": "numeric",
        "visits": "categorical",
        "fax": "numeric",
    }
    assert contract["ignored_columns"] == ["customer_id"]
    assert contract["missing_values"] == ["", "NA"]
    assert contract["max_missing_fraction"] == 0.8  # raised for discount's ~70%, with a note
    review = capsys.readouterr().out
    for expected in (
        "max_missing_fraction raised to 0.8 for 'discount' 7",
        "'fax' has no value in the sample: preprocess stops on it",
        "'NA' is read as missing everywhere; if it is a real value in ['discount']",
        "'zip' holds numbers with leading zeros: kept as categorical codes",
        "'visits' is mostly numbers but also holds ['unknown']",
        "- 'customer_id': an identifier by its name",
        f"make local-run DATA=<export> CONTRACT={output}",
    ):
        assert expected in review


def test_a_drafted_contract_checks_the_export_it_came_from(tmp_path: Path) -> None:
    data, output = tmp_path / "in" / "export.csv", tmp_path / "draft.json"
    data.parent.mkdir()
    an_export().drop(columns=["fax"]).to_csv(data, index=False)
    assert draft_file(data, output, "--target-column", SMALL_TARGET) == 0
    argv = ["--input-dir", str(data.parent), "--output-dir", str(tmp_path / "out"), "--contract", str(output)]
    manifest = preprocess.run(argv)
    assert [feature.kind for feature in manifest.features] == list(json.loads(output.read_text())["features"].values())
    zip_codes = next(feature for feature in manifest.features if feature.name == "zip")
    assert zip_codes.levels == ("02134", "10001", "94105")


@pytest.mark.parametrize(
    ("frame", "args", "expected"),
    [
        (small_frame(50).assign(churned=["yes", "no", "maybe"] * 16 + ["no", "no"]), [],
         "target column 'churned' has 3 distinct values"),
        (small_frame(50), ["--positive-label", "Yes"], "the positive label 'Yes' never occurs in target column"),
        (small_frame(50).drop(columns=[SMALL_TARGET]), [], "has no column 'churned'"),
        (small_frame(50).head(0), [], "export.csv has a header but no data rows"),
    ],
)  # fmt: skip
def test_a_sample_that_can_not_make_a_contract_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], frame: pd.DataFrame, args: list[str], expected: str
) -> None:
    data, output = tmp_path / "export.csv", tmp_path / "draft.json"
    frame.to_csv(data, index=False)
    assert draft_file(data, output, "--target-column", SMALL_TARGET, *args) == 1
    assert expected in capsys.readouterr().err
    assert not output.exists()


def test_an_existing_file_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, output = tmp_path / "export.csv", tmp_path / "draft.json"
    small_frame(50).to_csv(data, index=False)
    output.write_text("reviewed by hand")
    assert draft_file(data, output, "--target-column", SMALL_TARGET) == 1
    assert "draft.json exists; remove it or choose another OUT=" in capsys.readouterr().err
    assert output.read_text() == "reviewed by hand"
