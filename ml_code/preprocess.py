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
import functools
import logging
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import artifacts
from artifacts import Feature, Manifest
from contract import NUMERIC, ContractError, DataContract, load_contract
from input_files import CATEGORY_CODES, EMPTY_KIND, THREADS, csv_files, read_file
from job_output import PROCESSING_MESSAGE_FILE, JobArgumentParser, JobFailure, container_path, run_job

log = logging.getLogger("preprocess")
# Rows copied out of the table at a time when writing a split (about 7 MB for 20 numeric and 10 categorical
# features), by each of the writing threads.
ROWS_PER_ROW_GROUP = 32_768


def unified_kinds(per_file: list[tuple[Path, dict[str, str]]], contract: DataContract) -> dict[str, str]:
    """One kind per feature across files; a column numeric in one file and text in another is an error."""
    if contract.features is not None:
        return dict(contract.features)
    unified: dict[str, tuple[str, Path]] = {}
    for path, kinds in per_file:
        for name, kind in kinds.items():
            if kind == EMPTY_KIND:
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
