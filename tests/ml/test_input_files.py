"""Reading the upload's CSV files (input_files.py): cleaning, type inference across blocks, the two halves of a large
file, quoted line ends, and gzip. Through preprocess where the behaviour is the job's."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from ml_helpers import SMALL_TARGET, SMALL_TARGET_ARGS, run_preprocess, small_frame

import artifacts
import input_files


# 120,000 rows make a file of two blocks or more, read in halves as category codes.
@pytest.mark.parametrize("rows", [300, 120_000], ids=["one reader", "two halves"])
def test_cleaning_trims_spaces_maps_missing_markers_and_drops_rows_without_target(
    rows: int, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    frame = small_frame(rows).astype(str)
    frame.loc[0:9, "plan"] = " ?"
    frame.loc[10:19, "plan"] = "  pro "
    frame.loc[20:24, SMALL_TARGET] = ""
    path = write_csv(frame.to_csv(index=False).replace(",nan,", ",,"))
    assert (path.stat().st_size >= 2 * pa_csv.ReadOptions().block_size) == (rows > 300)
    assert run_preprocess(tmp_path / "input", tmp_path / "out", *SMALL_TARGET_ARGS) == 0
    manifest = artifacts.Manifest.load(tmp_path / "out" / "train")
    assert sum(manifest.rows.values()) == rows - 5
    assert manifest.features[1].levels == ("basic", "plus", "pro")
    tables = [artifacts.read_split(tmp_path / "out" / split) for split in artifacts.SPLITS]
    assert sum(table.column("plan").null_count for table in tables) == 10


@pytest.mark.parametrize("row", [60_000, 149_990], ids=["in the first half", "in the second half"])
def test_a_type_that_shows_only_after_the_first_block_is_still_inferred(
    row: int, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    # Arrow's streaming reader types columns from the first block (1 MB, about 40,000 rows here): here "tenure"
    # looks integer there.
    frame = small_frame(150_000)
    frame["tenure"] = frame["tenure"].astype(int).astype(object)
    frame.loc[row, "tenure"] = 2.5
    write_csv(frame)
    assert run_preprocess(tmp_path / "input", tmp_path / "out", *SMALL_TARGET_ARGS) == 0
    tables = [artifacts.read_split(tmp_path / "out" / split) for split in artifacts.SPLITS]
    assert 2.5 in {value for table in tables for value in table.column("tenure").to_pylist()}


def test_a_large_file_is_read_in_two_halves_as_one_reader_reads_it(
    tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    frame = small_frame(150_000)
    frame.loc[::7, "spend"] = np.nan  # missing values on both sides of the middle
    path = write_csv(frame)
    assert path.stat().st_size >= 2 * pa_csv.ReadOptions().block_size  # large enough to be split
    options = pa_csv.ConvertOptions(column_types={SMALL_TARGET: pa.string()}, strings_can_be_null=True)

    halves = input_files._streamed_csv(path, options, list(frame.columns))

    assert _decoded(halves).equals(pa_csv.open_csv(path, convert_options=options).read_all())
    # Text is read as category codes, which hold each block's distinct values once.
    assert halves.schema.field("plan").type == halves.schema.field(SMALL_TARGET).type == input_files.CATEGORY_CODES


def _decoded(table: pa.Table) -> pa.Table:
    """The table with category codes turned back into text, as a single reader gives it."""
    columns = [column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
               for column in table.columns]  # fmt: skip
    return pa.table(columns, names=table.column_names)


def test_the_halves_meet_at_the_start_of_a_line_outside_quotes(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_bytes(b'a,b\n1,2\n33,44\n5,"x\ny"\n6,"say ""hi"""\n7,8\n')
    assert input_files._row_start_after(path, 4) == 8  # inside "1,2": the next line
    assert input_files._row_start_after(path, 3) == 4  # on the header's line end: the line after it
    assert input_files._row_start_after(path, 16) == 22  # inside the quoted value "x\ny": after its row
    assert input_files._row_start_after(path, 24) == 37  # doubled quotes inside a value count as two
    assert input_files._row_start_after(path, 38) == 41  # inside the last line: the file's end


def test_a_quoted_value_with_a_line_end_across_the_middle_is_read_as_one_reader_reads_it(tmp_path: Path) -> None:
    header, row = b"tenure,plan,spend,region,churned\n", b"12,basic,50.5,north,no\n"
    rows = 2 * pa_csv.ReadOptions().block_size // len(row) + 1000
    quoted = b'3,"' + b"x" * 200 + b"\n" + b"y" * 200 + b'",1.5,south,yes\n'
    # The quoted row sits where the middle of the file falls inside its first line.
    before = (len(header) + rows * len(row) + len(quoted)) // 2 - 100
    first_rows = (before - len(header)) // len(row)
    path = tmp_path / "quoted.csv"
    path.write_bytes(header + row * first_rows + quoted + row * (rows - first_rows))
    quote_at = len(header) + first_rows * len(row) + 2
    assert quote_at < path.stat().st_size // 2 < quote_at + 200  # the middle is inside the quoted value
    options = pa_csv.ConvertOptions(column_types={"plan": pa.string()}, strings_can_be_null=True)

    halves = input_files._streamed_csv(path, options, ["tenure", "plan", "spend", "region", "churned"])

    assert _decoded(halves).equals(pa_csv.open_csv(path, convert_options=options).read_all())
    assert halves.num_rows == rows + 1


def test_a_quoted_line_end_where_a_block_ends_is_read_by_the_whole_file_reader_too(tmp_path: Path) -> None:
    # A decimal in the last row sends the file to the whole-file reader, which parses blocks in parallel: pyarrow
    # assumes by default that no value holds a line end, and would cut a block inside the quoted value.
    block = pa_csv.ReadOptions().block_size
    header, rows = b"tenure,plan,spend,region,churned\n", b"12,basic,50.5,north,no\n3,pro,20.0,south,yes\n"
    before = header + rows * ((block - 200) // len(rows))
    quoted = b'7,plus,1.5,"' + b"x" * (block - len(before) - 20) + b'\nsouth",yes\n'
    assert len(before) + quoted.index(b"\n") < block < len(before) + len(quoted)  # the line end is the block's last
    path = tmp_path / "input" / "data.csv"
    path.parent.mkdir()
    path.write_bytes(before + quoted + rows * 1000 + b"2.5,pro,20.0,south,yes\n")

    assert run_preprocess(tmp_path / "input", tmp_path / "out", *SMALL_TARGET_ARGS) == 0

    tables = [artifacts.read_split(tmp_path / "out" / split) for split in artifacts.SPLITS]
    assert sum(table.num_rows for table in tables) == path.read_bytes().count(b"\n") - 2  # header, quoted line end
    regions = {value for table in tables for value in table.column("region").to_pylist()}
    assert "x" * (block - len(before) - 20) + "\nsouth" in regions


def test_gzip_input_and_declared_types_keep_text_categories(tmp_path: Path) -> None:
    frame = small_frame(300)
    frame["plan"] = np.where(frame["plan"] == "basic", "007", "008")  # digits, but a category
    contract = tmp_path / "contract.json"
    contract.write_text(
        '{"target_column": "churned", "positive_label": "yes", "features": {"tenure": "numeric", '
        '"plan": "categorical", "spend": "numeric", "region": "categorical"}}',
        encoding="utf-8",
    )
    (tmp_path / "in").mkdir()
    with gzip.open(tmp_path / "in" / "data.csv.gz", "wt", encoding="utf-8") as file:
        frame.to_csv(file, index=False)
    assert run_preprocess(tmp_path / "in", tmp_path / "out", "--contract", str(contract)) == 0
    manifest = artifacts.Manifest.load(tmp_path / "out" / "train")
    assert manifest.features[1].levels == ("007", "008")
