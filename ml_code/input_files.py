"""Preprocess's input: the CSV files of the upload, each read against the data contract into typed Arrow columns
(float64 numbers, or text held as category codes), and the one-sentence errors that name the file, line and column.

Large files are streamed; quoted values may hold line ends; a file that is not UTF-8, has ragged rows, text in a
numeric column or an infinite number stops the job with the line it happens on.
"""

from __future__ import annotations

import copy
import csv
import gzip
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from contract import CATEGORICAL, NUMERIC, DataContract
from job_output import JobFailure

CSV_SUFFIXES = (".csv", ".csv.gz")


# A column with no values at all in one file fits either kind.
EMPTY_KIND = "empty"


# Categorical features are held as codes into their distinct values (about a third of the text's memory);
# the splits are written as plain text.
CATEGORY_CODES = pa.dictionary(pa.int32(), pa.string())


# A quoted value may hold a line end. pyarrow assumes by default that none does: its whole-file reader then cuts
# blocks inside such a value and fails (the streaming readers cost the same either way).
PARSE_OPTIONS = pa_csv.ParseOptions(newlines_in_values=True)


# Threads for reading, converting columns and writing files: a processing instance has at least two vCPUs, and
# each more would hold one more block, column or row group in memory.
THREADS = 2


# Quotes before the middle of a file are counted this many bytes at a time (bounded memory).
_COUNTING_CHUNK_BYTES = 8 * 1024 * 1024


def csv_files(input_dir: Path) -> list[Path]:
    """Every CSV (plain or gzip) under the input folder, in a stable order."""
    if not input_dir.is_dir():
        raise JobFailure(f"input folder {input_dir} does not exist")
    files = sorted(path for path in input_dir.rglob("*") if path.is_file() and path.name.endswith(CSV_SUFFIXES))
    if not files:
        raise JobFailure(f"no .csv or .csv.gz file under {input_dir}")
    return files


def _open(path: Path, mode: str, **text_options: str) -> IO:
    opener = gzip.open if path.name.endswith(".gz") else open
    return opener(path, mode, **text_options)


def _binary_lines(path: Path) -> Iterator[bytes]:
    with _open(path, "rb") as file:
        yield from file


def _first_non_utf8_line(path: Path) -> int | None:
    for number, line in enumerate(_binary_lines(path), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return None


def _first_ragged_line(path: Path, n_columns: int) -> tuple[int, int] | None:
    """(line number, field count) of the first row whose field count differs from the header's."""
    with _open(path, "rt", encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        for row in reader:
            if row and len(row) != n_columns:
                return reader.line_num, len(row)
    return None


def read_header(path: Path) -> list[str]:
    """The header's column names; fails on an empty, non-UTF-8 or malformed header."""
    first_line = next(_binary_lines(path), b"")
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JobFailure(f"{path.name} is not UTF-8 text (line 1)") from None
    if not text.strip():
        raise JobFailure(f"{path.name} is empty: expected a header row and data rows")
    names = [name.strip() for name in next(csv.reader([text]))]
    if any(not name for name in names):
        raise JobFailure(f"{path.name}: the header has an empty column name (column {names.index('') + 1})")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise JobFailure(f"{path.name}: column '{duplicates[0]}' appears more than once in the header")
    return names


def check_columns(path: Path, names: list[str], contract: DataContract, expected: list[str] | None) -> None:
    """The header against the contract, or (features inferred) against the first file's header."""
    if contract.target_column not in names:
        raise JobFailure(f"{path.name} has no target column '{contract.target_column}'")
    allowed = contract.allowed_columns() or expected
    if allowed is None:
        return
    source = "the data contract" if contract.features is not None else "the first file"
    for name in names:
        if name not in allowed and name not in contract.ignored_columns:
            # With a contract, the column may just be one the model should not use (an id, a timestamp).
            hint = "; to leave it out of the model, list it in ignored_columns" if contract.features is not None else ""
            raise JobFailure(f"{path.name}: unexpected column '{name}' (not in {source}){hint}")
    for name in allowed:
        if name not in names:
            raise JobFailure(f"{path.name}: column '{name}' is missing (required by {source})")


def _read_csv(path: Path, names: list[str], contract: DataContract) -> pa.Table:
    # Text columns are read as text so that "007" stays "007"; numeric ones are inferred and checked later.
    text_columns = [contract.target_column]
    if contract.features is not None:
        text_columns += [name for name, kind in contract.features.items() if kind == CATEGORICAL]
    convert_options = pa_csv.ConvertOptions(
        # The contract's ignored columns are never converted: the model does not use them.
        include_columns=[name for name in names if name not in contract.ignored_columns],
        column_types={name: pa.string() for name in text_columns},
        null_values=list(contract.missing_values),
        strings_can_be_null=True,
    )
    try:
        try:
            # Streaming holds a few blocks at a time: about half read_csv's peak memory. It fixes each
            # column's type from the first block, so a file whose later rows need another type (an
            # integer column with a decimal further down) is read again whole, with whole-file inference.
            table = _streamed_csv(path, convert_options, names)
        except pa.ArrowInvalid:
            table = pa_csv.read_csv(path, parse_options=PARSE_OPTIONS, convert_options=convert_options)
    except (pa.ArrowInvalid, OSError) as error:
        raise JobFailure(_parse_problem(path, len(names))) from error
    if any(pa.types.is_binary(field.type) for field in table.schema):
        # Arrow infers bytes that are not UTF-8 as a binary column instead of failing.
        raise JobFailure(_parse_problem(path, len(names)))
    if table.num_rows == 0:
        raise JobFailure(f"{path.name} has a header but no data rows")
    return table


def _streamed_csv(path: Path, convert_options: pa_csv.ConvertOptions, names: list[str]) -> pa.Table:
    """The file read by streaming readers, one per half of the file, in parallel threads.

    A streaming reader parses on one thread only; two halves keep two cores busy, and the peak memory stays a
    streaming reader's. The halves meet at the start of a line outside any quoted value (a quoted value may
    hold a line end, which one reader reads as part of the value). Both halves are read with the column names
    and types a single reader would have inferred from the first block, so a type that block did not foresee
    fails alike (ArrowInvalid); fixed types also convert faster than a reader that goes on inferring. Text
    columns come as category codes (_text_as_codes). A file that can not be halved (gzip, less than two
    blocks, or no line start after the middle) is read by one reader, which gives text as text.
    """
    size = path.stat().st_size
    if path.name.endswith(".gz") or size < 2 * pa_csv.ReadOptions().block_size:
        return pa_csv.open_csv(path, parse_options=PARSE_OPTIONS, convert_options=convert_options).read_all()
    middle = _row_start_after(path, size // 2)
    with pa.OSFile(str(path)) as source:
        if middle == size:
            return pa_csv.open_csv(source, parse_options=PARSE_OPTIONS, convert_options=convert_options).read_all()
        with pa_csv.open_csv(
            source.get_stream(0, middle), parse_options=PARSE_OPTIONS, convert_options=convert_options
        ) as inferring:
            schema = inferring.schema  # closed at once: it has read blocks ahead
        typed_options = copy.copy(convert_options)
        typed_options.column_types = _text_as_codes(schema)
        first = pa_csv.open_csv(
            source.get_stream(0, middle), parse_options=PARSE_OPTIONS, convert_options=typed_options
        )
        second = pa_csv.open_csv(
            source.get_stream(middle, size - middle),
            read_options=pa_csv.ReadOptions(column_names=names),  # all of the header's, included or not
            parse_options=PARSE_OPTIONS,
            convert_options=typed_options,
        )
        with ThreadPoolExecutor(max_workers=THREADS) as readers:  # read_all releases the GIL
            halves = list(readers.map(pa.RecordBatchReader.read_all, (first, second)))
    return pa.concat_tables(halves)


def _text_as_codes(schema: pa.Schema) -> pa.Schema:
    """The schema with text columns as category codes: the reader then stores each block's distinct values once,
    not every cell's text (70 MB less at the peak on the benchmark), as the cleaned columns are stored anyway."""
    return pa.schema(
        pa.field(field.name, CATEGORY_CODES) if pa.types.is_string(field.type) else field for field in schema
    )


def _row_start_after(path: Path, offset: int) -> int:
    """The offset of the first line after `offset` that starts outside any quoted value, that is after an even
    number of quote characters (a quote inside a quoted value is doubled); the file's size when there is none."""
    quotes = 0
    with path.open("rb") as file:
        while file.tell() < offset:
            quotes += file.read(min(offset - file.tell(), _COUNTING_CHUNK_BYTES)).count(b'"')
        while line := file.readline():
            quotes += line.count(b'"')
            if quotes % 2 == 0:
                return file.tell()
        return file.tell()


def _parse_problem(path: Path, n_columns: int) -> str:
    """Why pyarrow could not read the file, found by a slower line-by-line pass (arrow's text quotes rows)."""
    bad_line = _first_non_utf8_line(path)
    if bad_line is not None:
        return f"{path.name} is not UTF-8 text (line {bad_line})"
    ragged = _first_ragged_line(path, n_columns)
    if ragged is not None:
        line, fields = ragged
        return f"{path.name}, line {line}: {fields} fields where the header has {n_columns}"
    return f"{path.name} could not be parsed as CSV (check quoting and line endings)"


def _cleaned_text(column: pa.ChunkedArray, missing_values: tuple[str, ...]) -> pa.ChunkedArray:
    """Text as category codes, surrounding spaces removed; missing markers (after trimming, e.g. " ?") as nulls.

    The reader already turned exact missing markers into nulls; trimming copies the column, so it is done
    only when some value has surrounding whitespace. Encoding finds the distinct values, far fewer than the
    rows of a text column: they are what the (costly) pattern is matched against.
    """
    # Read as codes already (one dictionary per block, unified by combined_table), or text to encode.
    codes = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column.cast(pa.string()))
    if not pc.any(pc.match_substring_regex(pc.unique(codes).cast(pa.string()), r"^\s|\s$")).as_py():
        return codes
    trimmed = pc.utf8_trim_whitespace(codes.cast(pa.string()))
    missing = pc.is_in(trimmed, value_set=pa.array(missing_values))
    return pc.dictionary_encode(pc.if_else(missing, pa.scalar(None, pa.string()), trimmed))


def _as_numbers(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The column as float64, or None when some value is not a number."""
    try:
        return column.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _line_of_row(path: Path, row: int) -> int:
    """The file's line number of data row `row` (0-based), counted as the CSV reader does: blank lines are
    skipped and a quoted value may span lines. Only called on the way to an error message."""
    with _open(path, "rt", encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        next(reader, None)  # the header
        records = (reader.line_num for fields in reader if fields)
        return next(itertools.islice(records, row, None))


def _first_non_number_row(column: pa.ChunkedArray) -> int:
    for row, value in enumerate(column.to_pylist()):
        if value is not None:
            try:
                float(value)
            except ValueError:
                return row
    raise AssertionError("called only for a column that failed to convert")


def _checked_finite(path: Path, name: str, numbers: pa.ChunkedArray) -> pa.ChunkedArray:
    """The numeric column, unless it holds inf or -inf (e.g. "inf", "1e400"), which XGBoost can not train on."""
    infinite = pc.is_inf(numbers)
    if not pc.any(infinite).as_py():
        return numbers
    row = pc.index(infinite, True).as_py()
    raise JobFailure(
        f"{path.name}, line {_line_of_row(path, row)}: column '{name}' holds an infinite number; "
        "write a finite value or leave the cell empty for missing"
    )


def typed_column(
    path: Path, name: str, column: pa.ChunkedArray, declared: str | None, contract: DataContract
) -> tuple[str, pa.ChunkedArray]:
    """(kind, column as float64 or category codes) for one feature of one file."""
    if column.null_count == len(column):
        return EMPTY_KIND, column
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        # Declared categorical columns were read as text, so a column typed as numbers is numeric.
        return NUMERIC, _checked_finite(path, name, column.cast(pa.float64()))
    text = _cleaned_text(column, contract.missing_values)
    if declared == CATEGORICAL:
        return CATEGORICAL, text
    numbers = _as_numbers(text)
    if numbers is not None:
        return NUMERIC, _checked_finite(path, name, numbers)
    if declared == NUMERIC:
        line = _line_of_row(path, _first_non_number_row(text))
        raise JobFailure(f"{path.name}, line {line}: column '{name}' must be numeric but holds text")
    return CATEGORICAL, text


def read_file(
    path: Path, contract: DataContract, expected: list[str] | None
) -> tuple[list[str], pa.Table, dict[str, str]]:
    """(header, table with typed feature columns and cleaned target, kind per feature) for one CSV."""
    names = read_header(path)
    check_columns(path, names, contract, expected)
    raw = _read_csv(path, names, contract)
    names = raw.column_names  # without the ignored columns
    features = contract.features or {}
    # Taken out of the table one by one, so that each raw column is freed once it is converted.
    raw_columns = dict(zip(raw.column_names, raw.columns, strict=True))
    del raw

    def converted(name: str) -> tuple[str | None, pa.ChunkedArray]:
        column = raw_columns.pop(name)
        if name == contract.target_column:
            return None, _cleaned_text(column, contract.missing_values)
        return typed_column(path, name, column, features.get(name), contract)

    # Columns are converted side by side (arrow's kernels release the GIL); results, and so the first error,
    # come in header order.
    with ThreadPoolExecutor(max_workers=THREADS) as workers:
        results = dict(zip(names, workers.map(converted, names), strict=True))
    columns = {name: column for name, (_, column) in results.items()}
    kinds = {name: kind for name, (kind, _) in results.items() if kind is not None}
    return names, pa.table(columns), kinds
