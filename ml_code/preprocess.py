"""Processing job: validate and clean the uploaded CSVs, split them train / validation / test, and write
the splits plus the feature manifest.

    python3 preprocess.py [--input-dir DIR] [--output-dir DIR] [--validation-ratio 0.15]
        [--test-ratio 0.15] [--seed 42] [--min-rows 100] [--contract FILE]
        [--target-column NAME] [--positive-label VALUE] [--train-shards 1]

Writes <output-dir>/{train,validation,test}/ with the split's parquet file(s), and the feature manifest
as validation/manifest.json and (with one train shard) train/manifest.json. With --train-shards N, the
train split is N files, one per training host of a ShardedByS3Key channel; the manifest then stays out
of train/ so that every host receives exactly one data file. A split of more than artifacts.ROWS_PER_FILE
rows that is not sharded is written as consecutive parts (<split>-part-00000.parquet, ...), side by side.

Everything is validated in memory before anything is written, and the outputs are moved into place only
when complete, so a failed job leaves its output folders empty. Bad data ends the job with exit code 1
and one sentence in /opt/ml/output/message (the job's ExitMessage).
"""

from __future__ import annotations

import argparse
import copy
import csv
import functools
import gzip
import itertools
import logging
import shutil
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

import artifacts
from artifacts import Feature, Manifest
from contract import CATEGORICAL, NUMERIC, ContractError, DataContract, load_contract
from job_output import PROCESSING_MESSAGE_FILE, JobArgumentParser, JobFailure, container_path, run_job

log = logging.getLogger("preprocess")
CSV_SUFFIXES = (".csv", ".csv.gz")
# A column with no values at all in one file fits either kind.
_EMPTY = "empty"
# Categorical features are held as codes into their distinct values (about a third of the text's memory);
# the splits are written as plain text.
CATEGORY_CODES = pa.dictionary(pa.int32(), pa.string())
# Rows copied out of the table at a time when writing a split (about 7 MB for 20 numeric and 10 categorical
# features), by each of the writing threads.
ROWS_PER_ROW_GROUP = 32_768
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
        return _EMPTY, column
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


def unified_kinds(per_file: list[tuple[Path, dict[str, str]]], contract: DataContract) -> dict[str, str]:
    """One kind per feature across files; a column numeric in one file and text in another is an error."""
    if contract.features is not None:
        return dict(contract.features)
    unified: dict[str, tuple[str, Path]] = {}
    for path, kinds in per_file:
        for name, kind in kinds.items():
            if kind == _EMPTY:
                continue
            seen = unified.setdefault(name, (kind, path))
            if seen[0] != kind:
                raise JobFailure(
                    f"column '{name}' is {seen[0]} in {seen[1].name} but {kind} in {path.name}: "
                    "a column must have one type in all files"
                )
    first_kinds = per_file[0][1]
    # A column with no value anywhere carries no information but keeps the declared shape: numeric.
    return {name: unified.get(name, (NUMERIC, None))[0] for name in first_kinds}


def combined_table(tables: list[pa.Table], kinds: dict[str, str], target: str) -> pa.Table:
    wanted = {name: pa.float64() if kind == NUMERIC else CATEGORY_CODES for name, kind in kinds.items()}
    wanted[target] = CATEGORY_CODES
    schema = pa.schema([(name, wanted[name]) for name in [*kinds, target]])
    # One dictionary per column across files: a row group taken from the table carries its column's dictionary,
    # and write_rows judges by its size.
    return pa.concat_tables([table.select(schema.names).cast(schema) for table in tables]).unify_dictionaries()


def binary_labels(target: pa.ChunkedArray, contract: DataContract) -> tuple[np.ndarray, str]:
    """(1 for the positive label else 0, the negative label) after checking the target is binary.

    The target (category codes, no nulls) is compared by its codes, read from arrow's buffers: comparing its
    text with a Python str, or Array.to_numpy, would make pyarrow import pandas first (0.17 s), which nothing
    here uses.
    """
    name = contract.target_column
    chunks = target.unify_dictionaries().chunks  # every chunk's codes then index one dictionary
    labels = chunks[0].dictionary.to_pylist() if chunks else []
    codes = np.concatenate([np.empty(0, np.int32), *(_int32_values(chunk.indices) for chunk in chunks)])
    classes = [labels[code] for code in np.flatnonzero(np.bincount(codes, minlength=len(labels)))]
    if contract.positive_label not in classes:
        raise JobFailure(f"the positive label '{contract.positive_label}' never occurs in target column '{name}'")
    if len(classes) == 1:
        raise JobFailure(f"target column '{name}' has only the positive class; both classes are needed")
    if len(classes) > 2:
        raise JobFailure(f"target column '{name}' has {len(classes)} distinct values; a binary target has 2")
    negative = next(value for value in classes if value != contract.positive_label)
    return (codes == labels.index(contract.positive_label)).astype(np.int8), negative


def _int32_values(array: pa.Array) -> np.ndarray:
    """The values of an int32 arrow array without nulls, as a NumPy view of its data buffer."""
    if array.type != pa.int32() or array.null_count:
        raise TypeError(f"expected int32 values without nulls, got {array.type} with {array.null_count} nulls")
    return np.frombuffer(array.buffers()[1], np.int32, len(array), array.offset * np.dtype(np.int32).itemsize)


def arrow_array(values: np.ndarray) -> pa.Array:
    """A NumPy array of integers or floats as an arrow array without copying. pa.array would do the same, but
    first imports pandas to look for pandas types (0.17 s)."""
    if values.dtype.kind not in "iuf" or not values.dtype.isnative:
        raise TypeError(f"expected integers or floats in native byte order, got {values.dtype}")
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def check_missing_fractions(table: pa.Table, kinds: dict[str, str], limit: float) -> None:
    """Stop on a feature with no value at all, or missing in more rows than the contract allows: the model
    would learn nothing from it and then ignore what clients send for it."""
    for name in kinds:
        missing = pc.sum(pc.is_null(table.column(name), nan_is_null=True)).as_py() or 0
        share = missing / table.num_rows
        if missing == table.num_rows:
            raise JobFailure(
                f"column '{name}' has no value in any of the {table.num_rows} rows: fill it in the export, "
                "or remove it from the export and the data contract"
            )
        if share > limit:
            raise JobFailure(
                f"column '{name}' is missing in {share:.1%} of the {table.num_rows} rows; "
                f"the data contract's max_missing_fraction allows {limit:.1%}"
            )


def split_counts(n: int, validation_ratio: float, test_ratio: float) -> tuple[int, int, int]:
    """(train, validation, test) sizes for n rows of one class; each split gets at least one row."""
    n_validation = max(1, round(n * validation_ratio))
    n_test = max(1, round(n * test_ratio))
    return n - n_validation - n_test, n_validation, n_test


def stratified_split(y: np.ndarray, validation_ratio: float, test_ratio: float, seed: int) -> dict[str, np.ndarray]:
    """Row indices per split, each class divided in the same ratios, reproducible for a seed."""
    rng = np.random.default_rng(seed)
    split_of_row = np.empty(len(y), np.int8)  # each row's position in artifacts.SPLITS
    for cls, class_name in ((1, "positive"), (0, "negative")):
        rows = rng.permutation(np.flatnonzero(y == cls))
        n_train, n_validation, _ = split_counts(len(rows), validation_ratio, test_ratio)
        if n_train < 1:
            raise JobFailure(f"only {len(rows)} rows of the {class_name} class: too few to split three ways")
        split_of_row[rows[:n_train]] = 0
        split_of_row[rows[n_train : n_train + n_validation]] = 1
        split_of_row[rows[n_train + n_validation :]] = 2
    # In row order: the splits keep the files' order, which makes them easier to inspect.
    return {split: np.flatnonzero(split_of_row == position) for position, split in enumerate(artifacts.SPLITS)}


def category_levels(column: pa.ChunkedArray) -> tuple[str, ...]:
    return tuple(sorted(value for value in pc.unique(column).to_pylist() if value is not None))


def check_ratios(validation_ratio: float, test_ratio: float) -> None:
    if not (0 < validation_ratio < 1 and 0 < test_ratio < 1 and validation_ratio + test_ratio < 1):
        raise JobFailure(
            f"--validation-ratio {validation_ratio} and --test-ratio {test_ratio} must each be in (0, 1) "
            "and leave rows for training"
        )


def preprocess(
    input_dir: Path,
    output_dir: Path,
    contract: DataContract,
    validation_ratio: float,
    test_ratio: float,
    seed: int,
    min_rows: int,
    train_shards: int = 1,
) -> Manifest:
    check_ratios(validation_ratio, test_ratio)
    if train_shards < 1:
        raise JobFailure(f"--train-shards must be at least 1, got {train_shards}")
    files = csv_files(input_dir)
    if contract.features is None:
        log.warning(
            "features are inferred from the data, not checked against a data contract: target '%s' is not "
            "the contract's target",
            contract.target_column,
        )
    tables, per_file_kinds = [], []
    expected: list[str] | None = None
    for path in files:
        names, table, kinds = read_file(path, contract, expected)
        expected = expected or names
        tables.append(table)
        per_file_kinds.append((path, kinds))
        log.info("read %s: %d rows, %d columns", path.name, table.num_rows, len(names))
    kinds = unified_kinds(per_file_kinds, contract)
    table = combined_table(tables, kinds, contract.target_column)
    del tables  # the combined table holds the only copy we need
    # The raw text read from the CSVs is gone, but arrow's allocator keeps freed pages (many of them in
    # the reader's threads) for reuse; handing them back keeps the peak memory near the table's size
    # (about 60 MB less on the benchmark). Best effort and costly if called often, says pyarrow: once here.
    pa.default_memory_pool().release_unused()

    with_target = pc.is_valid(table.column(contract.target_column))
    dropped = table.num_rows - pc.sum(with_target).as_py()
    if dropped:
        log.info("dropped %d rows without a target value", dropped)
        table = table.filter(with_target)
    if table.num_rows < min_rows:
        raise JobFailure(f"{table.num_rows} rows with a target value; at least {min_rows} are needed (--min-rows)")
    check_missing_fractions(table, kinds, contract.max_missing_fraction)
    y, negative_label = binary_labels(table.column(contract.target_column), contract)
    table = table.set_column(
        table.schema.get_field_index(contract.target_column), contract.target_column, arrow_array(y)
    )
    indices = stratified_split(y, validation_ratio, test_ratio, seed)
    train_rows = indices[artifacts.TRAIN]
    if len(train_rows) < train_shards:
        raise JobFailure(f"{len(train_rows)} training rows can not fill {train_shards} train shards")
    features = tuple(
        Feature(name, NUMERIC)
        if kind == NUMERIC
        else Feature(
            name,
            kind,
            category_levels(table.column(name).take(arrow_array(train_rows))),
            name in contract.unseen_categories_as_missing,
        )
        for name, kind in kinds.items()
    )
    manifest = Manifest(
        target_column=contract.target_column,
        positive_label=contract.positive_label,
        negative_label=negative_label,
        features=features,
        missing_values=contract.missing_values,
        rows={split: len(rows) for split, rows in indices.items()},
        positives={split: int(y[rows].sum()) for split, rows in indices.items()},
        ignored_columns=contract.ignored_columns,
    )
    write_outputs(table, indices, manifest, output_dir, train_shards)
    log.info("wrote splits %s to %s", manifest.rows, output_dir)
    return manifest


def write_outputs(
    table: pa.Table, indices: dict[str, np.ndarray], manifest: Manifest, output_dir: Path, train_shards: int
) -> None:
    """Write into a temp folder beside the outputs, then move each split folder into place.

    The files are written side by side, each by one thread (parquet's writer uses one). The rows are copied out
    of the table a row group at a time, which keeps the peak memory near one table's size.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".preprocess-", dir=output_dir))
    try:
        files: dict[Path, np.ndarray] = {}
        for split, rows in indices.items():
            (staging / split).mkdir()
            shards = train_shards if split == artifacts.TRAIN else 1
            for name, file_rows in artifacts.split_files(split, rows, shards).items():
                files[staging / split / name] = file_rows
        with ThreadPoolExecutor(max_workers=THREADS) as writers:
            list(writers.map(functools.partial(write_rows, table), files.values(), files))
        # The validation channel reaches every training host whole, so train finds the manifest there.
        manifest.save(staging / artifacts.VALIDATION)
        if train_shards == 1:
            manifest.save(staging / artifacts.TRAIN)
        for split in indices:
            destination = output_dir / split
            if destination.exists():
                shutil.rmtree(destination)
            (staging / split).rename(destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_rows(table: pa.Table, rows: np.ndarray, path: Path) -> None:
    """One parquet file of the table's rows at these indices, written one row group per slice of them.

    Category codes go into parquet's own dictionary encoding as they are. Without arrow's schema stored
    beside them, the file reads back as plain text columns. Numbers are stored plain: a dictionary of
    real values costs a hash per value and rarely pays (it is dropped once it outgrows a page). So is text of
    more distinct values than a row group has rows (an identifier): a row group taken from the table carries
    the column's whole dictionary, which would be written again for every row group.
    """
    schema = pa.schema(pa.field(field.name, pa.string()) if _many_levels(table.column(field.name)) else field
                       for field in table.schema)  # fmt: skip
    categorical = [field.name for field in schema if pa.types.is_dictionary(field.type)]
    with pq.ParquetWriter(path, schema, store_schema=False, use_dictionary=categorical) as writer:
        for start in range(0, len(rows), ROWS_PER_ROW_GROUP):
            group = rows[start : start + ROWS_PER_ROW_GROUP]
            # The rows are sorted: taking them from the slice they span spares arrow looking through every
            # chunk of the table.
            first = int(group[0])
            writer.write_table(
                table.slice(first, int(group[-1]) + 1 - first).take(arrow_array(group - first)).cast(schema)
            )


def _many_levels(column: pa.ChunkedArray) -> bool:
    return pa.types.is_dictionary(column.type) and any(
        len(chunk.dictionary) > ROWS_PER_ROW_GROUP for chunk in column.chunks
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = JobArgumentParser(description="Validate, clean and split the uploaded CSVs.")
    parser.add_argument("--input-dir", type=Path, default=container_path("processing/input/data"))
    parser.add_argument("--output-dir", type=Path, default=container_path("processing/output"))
    parser.add_argument("--validation-ratio", type=float, default=0.15)
    parser.add_argument("--test-ratio", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--min-rows", type=int, default=100)
    parser.add_argument("--contract", type=Path, default=None, help="data contract JSON (default: the shipped one)")
    parser.add_argument("--target-column", default=None, help="override the contract's target column")
    parser.add_argument("--positive-label", default=None, help="override the contract's positive label")
    parser.add_argument("--train-shards", type=int, default=1, help="train files, one per training host")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> Manifest:
    args = parse_args(argv)
    try:
        contract = load_contract(args.contract).with_target(args.target_column, args.positive_label)
    except ContractError as error:
        raise JobFailure(str(error)) from None
    return preprocess(
        args.input_dir,
        args.output_dir,
        contract,
        args.validation_ratio,
        args.test_ratio,
        args.seed,
        args.min_rows,
        args.train_shards,
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(run_job("preprocess", run, PROCESSING_MESSAGE_FILE))


if __name__ == "__main__":
    main()
