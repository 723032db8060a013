from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ml_helpers import (
    ML_CODE,
    SAMPLE_DATA,
    SMALL_TARGET,
    SMALL_TARGET_ARGS,
    adult_rows,
    run_preprocess,
    small_frame,
)

import artifacts
import preprocess
from contract import load_contract
from job_output import PROCESSING_MESSAGE_FILE


def test_real_sample_is_split_stratified_and_complete(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / SAMPLE_DATA.name).symlink_to(SAMPLE_DATA)
    manifest = preprocess.run(["--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out")])

    contract = load_contract()
    assert manifest.feature_names == list(contract.features)
    assert [feature.kind for feature in manifest.features] == list(contract.features.values())
    assert manifest.negative_label == "<=50K"
    splits = {split: pq.read_table(tmp_path / "out" / split / f"{split}.parquet") for split in artifacts.SPLITS}
    total = sum(table.num_rows for table in splits.values())
    assert total == 48842 == sum(manifest.rows.values())
    assert splits["test"].num_rows == pytest.approx(0.15 * total, abs=2)
    assert splits["validation"].num_rows == pytest.approx(0.15 * total, abs=2)
    rates = [np.mean(artifacts.labels(table, manifest)) for table in splits.values()]
    assert max(rates) - min(rates) < 0.001  # stratified
    assert rates[0] == pytest.approx(11687 / 48842, abs=0.001)
    workclass = next(feature for feature in manifest.features if feature.name == "workclass")
    assert workclass.levels == tuple(sorted(workclass.levels or ())) and "?" not in workclass.levels
    # "?" became missing: occupation has 2,809 of them in the full data set.
    missing = sum(table.column("occupation").null_count for table in splits.values())
    assert missing == 2809
    for split in (artifacts.TRAIN, artifacts.VALIDATION):
        assert artifacts.Manifest.load(tmp_path / "out" / split) == manifest
    # The contract's unseen_categories_as_missing reaches the endpoint through the manifest.
    assert [feature.name for feature in manifest.features if feature.unseen_as_missing] == ["native-country"]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(artifacts.SPLITS)


def test_same_seed_same_split_other_seed_other_split(tmp_path: Path, write_csv: Callable[..., Path]) -> None:
    source = write_csv(small_frame(500)).parent
    outputs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert run_preprocess(source, tmp_path / name, *SMALL_TARGET_ARGS, "--seed", str(seed)) == 0
        outputs[name] = pq.read_table(tmp_path / name / "test" / "test.parquet")
    assert outputs["a"].equals(outputs["b"])
    assert not outputs["a"].equals(outputs["c"])


def test_train_shards_are_one_file_per_host_without_the_manifest(
    tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    write_csv(small_frame(600))
    assert run_preprocess(tmp_path / "input", tmp_path / "out", *SMALL_TARGET_ARGS, "--train-shards", "3") == 0
    manifest = artifacts.Manifest.load(tmp_path / "out" / "validation")
    train_dir = tmp_path / "out" / "train"
    assert sorted(path.name for path in train_dir.iterdir()) == [f"train-0000{shard}.parquet" for shard in range(3)]
    shards = [pq.read_table(path) for path in sorted(train_dir.iterdir())]
    assert [table.num_rows for table in shards] == [manifest.rows["train"] // 3 + (i < manifest.rows["train"] % 3)
                                                    for i in range(3)]  # fmt: skip
    assert sum(int(np.sum(artifacts.labels(table, manifest))) for table in shards) == manifest.positives["train"]
    assert artifacts.read_split(train_dir).num_rows == manifest.rows["train"]


def test_a_split_of_more_than_rows_per_file_is_written_as_consecutive_parts(
    tmp_path: Path, write_csv: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_csv(small_frame(600)).parent
    assert run_preprocess(source, tmp_path / "whole", *SMALL_TARGET_ARGS) == 0
    monkeypatch.setattr(artifacts, "ROWS_PER_FILE", 150)

    assert run_preprocess(source, tmp_path / "parts", *SMALL_TARGET_ARGS) == 0

    manifest = artifacts.Manifest.load(tmp_path / "parts" / "train")
    assert manifest.rows["train"] > 2 * 150 and manifest.rows["validation"] <= 150
    train_files = sorted(path.name for path in (tmp_path / "parts" / "train").iterdir())
    assert train_files == ["manifest.json", *(f"train-part-0000{part}.parquet" for part in range(3))]
    assert [path.name for path in (tmp_path / "parts" / "validation").glob("*.parquet")] == ["validation.parquet"]
    for split in artifacts.SPLITS:  # read in name order, the parts are the split in its row order
        assert artifacts.read_split(tmp_path / "parts" / split).equals(artifacts.read_split(tmp_path / "whole" / split))


def test_text_of_more_distinct_values_than_a_row_group_has_rows_is_written_without_a_dictionary(
    tmp_path: Path, write_csv: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An identifier read as a feature: every row group taken from the table carries its whole dictionary. In six
    # files, each has fewer distinct values than a row group has rows; all of them together have more.
    frame = small_frame(600).assign(customer=[f"customer-{row}" for row in range(600)])
    for part in range(6):
        write_csv(frame.iloc[part * 100 : (part + 1) * 100], f"part-{part}.csv")
    monkeypatch.setattr(preprocess, "ROWS_PER_ROW_GROUP", 100)

    assert run_preprocess(tmp_path / "input", tmp_path / "out", *SMALL_TARGET_ARGS) == 0

    metadata = pq.ParquetFile(tmp_path / "out" / "train" / "train.parquet").metadata
    assert metadata.num_row_groups > 1
    chunks = [metadata.row_group(0).column(index) for index in range(metadata.num_columns)]
    with_dictionary = {chunk.path_in_schema: chunk.has_dictionary_page for chunk in chunks}
    assert with_dictionary["customer"] is False and with_dictionary["plan"] is True
    customers = [artifacts.read_split(tmp_path / "out" / split).column("customer") for split in artifacts.SPLITS]
    assert sorted(value for column in customers for value in column.to_pylist()) == sorted(frame["customer"])
    levels = next(feature.levels for feature in artifacts.Manifest.load(tmp_path / "out" / "train").features
                  if feature.name == "customer")  # fmt: skip
    assert levels == tuple(sorted(customers[0].to_pylist()))  # the train split's, as for any category


def test_preprocess_does_not_import_pandas(tmp_path: Path, write_csv: Callable[..., Path]) -> None:
    # pyarrow imports pandas on its first conversion between arrow and NumPy (0.17 s of a 1.6 s benchmark run),
    # and preprocess uses no pandas. (A file with spaces around its text values still pays it: the trimming
    # builds an arrow array of the missing markers.)
    source = write_csv(small_frame(600)).parent
    script = "import sys, preprocess; preprocess.run(sys.argv[1:]); print('pandas' in sys.modules)"
    arguments = ["--input-dir", str(source), "--output-dir", str(tmp_path / "out"), *SMALL_TARGET_ARGS]

    completed = subprocess.run(
        [sys.executable, "-c", script, *arguments], cwd=ML_CODE, capture_output=True, text=True, check=True
    )

    assert (tmp_path / "out" / "train" / "train.parquet").is_file()
    assert completed.stdout.split() == ["False"]


def test_many_files_are_combined_whatever_their_column_order(tmp_path: Path, write_csv: Callable[..., Path]) -> None:
    frame = small_frame(600)
    write_csv(frame.iloc[:300], "part-1.csv")
    write_csv(frame.iloc[300:, ::-1], "z-later/part-2.csv")
    assert run_preprocess(tmp_path / "input", tmp_path / "out", *SMALL_TARGET_ARGS) == 0
    manifest = artifacts.Manifest.load(tmp_path / "out" / "train")
    assert sum(manifest.rows.values()) == 600
    assert manifest.feature_names == ["tenure", "plan", "spend", "region"]
    assert [feature.kind for feature in manifest.features] == ["numeric", "categorical", "numeric", "categorical"]
    assert manifest.features[1].levels == ("basic", "plus", "pro")


ADULT_HEADER = ",".join(adult_rows(1).columns)


def _adult_text(rows: int = 300) -> str:
    return adult_rows(rows).to_csv(index=False)


def _small_text(rows: int = 300) -> str:
    return small_frame(rows).to_csv(index=False)


def _replace_line(text: str, line: int, new: str) -> str:
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


def _adult_with_text_age() -> str:
    frame = adult_rows()
    frame.loc[2, "age"] = "forty"
    return frame.to_csv(index=False)


def _adult_with(column: str, value: str, rows: slice | int) -> str:
    frame = adult_rows()
    frame.loc[rows, column] = value
    return frame.to_csv(index=False)


def _not_utf8() -> bytes:
    return _small_text().encode("utf-8").replace(b"north", b"n\xf6rth", 1)


BAD_DATA = {
    "empty file": ({"data.csv": ""}, [], "data.csv is empty"),
    "header only": ({"data.csv": "tenure,plan,spend,region,churned\n"}, [], "data.csv has a header but no data rows"),
    "not utf-8": ({"data.csv": _not_utf8()}, [], "data.csv is not UTF-8 text (line "),
    "ragged row": (
        {"data.csv": _replace_line(_small_text(), 4, "1,basic,2")},
        [],
        "data.csv, line 4: 3 fields where the header has 5",
    ),
    "no target column": (
        {"data.csv": small_frame().drop(columns=[SMALL_TARGET])},
        [],
        "has no target column 'churned'",
    ),
    "positive label absent": (
        {"data.csv": small_frame().assign(churned="no")},
        [],
        "the positive label 'yes' never occurs in target column 'churned'",
    ),
    "one class only": (
        {"data.csv": small_frame().assign(churned="yes")},
        [],
        "target column 'churned' has only the positive class",
    ),
    "three classes": (
        {"data.csv": small_frame().assign(churned=["yes", "no", "maybe"] * 200)},
        [],
        "target column 'churned' has 3 distinct values",
    ),
    "too few rows": ({"data.csv": small_frame(50)}, [], "50 rows with a target value; at least 100 are needed"),
    "duplicate column": (
        {"data.csv": _small_text().replace("region", "plan", 1)},
        [],
        "data.csv: column 'plan' appears more than once in the header",
    ),
    "unexpected column (contract)": (
        {"adult.csv": adult_rows().assign(extra="1")},
        None,
        "adult.csv: unexpected column 'extra' (not in the data contract); to leave it out of the model, list it in"
        " ignored_columns",
    ),
    "missing column (contract)": (
        {"adult.csv": adult_rows().drop(columns=["age"])},
        None,
        "adult.csv: column 'age' is missing (required by the data contract)",
    ),
    "text in a numeric column (contract)": (
        {"adult.csv": _adult_with_text_age()},
        None,
        "adult.csv, line 4: column 'age' must be numeric but holds text",
    ),
    # Columns are converted side by side; the first in header order is the one named, whatever its line.
    "text in two numeric columns (contract)": (
        {"adult.csv": _adult_with("hours-per-week", "many", 0) + _adult_with_text_age().split("\n", 1)[1]},
        None,
        "adult.csv, line 304: column 'age' must be numeric but holds text",
    ),
    # An export whose occupation field was never filled: it trained, and the model ignored occupation.
    "feature entirely missing (contract)": (
        {"adult.csv": _adult_with("occupation", "?", slice(None))},
        None,
        "column 'occupation' has no value in any of the 300 rows",
    ),
    "feature entirely missing (inferred)": (
        {"data.csv": small_frame().assign(region=None)},
        [],
        "column 'region' has no value in any of the 600 rows",
    ),
    # 180 rows set to "?" plus the 7 the first 300 rows of the sample already lack.
    "feature above the missing limit (contract)": (
        {"adult.csv": _adult_with("occupation", "?", slice(0, 179))},
        None,
        "column 'occupation' is missing in 62.3% of the 300 rows; the data contract's max_missing_fraction "
        "allows 50.0%",
    ),
    # "inf" passed preprocess and then failed training with "unexpected XGBoostError".
    "inf in a numeric column (contract)": (
        {"adult.csv": _adult_with("capital-gain", "inf", 2)},
        None,
        "adult.csv, line 4: column 'capital-gain' holds an infinite number",
    ),
    "-inf in a numeric column (contract)": (
        {"adult.csv": _adult_with("hours-per-week", "-inf", 7)},
        None,
        "adult.csv, line 9: column 'hours-per-week' holds an infinite number",
    ),
    "1e400 in a numeric column (contract)": (
        {"adult.csv": _adult_with("age", "1e400", 0)},
        None,
        "adult.csv, line 2: column 'age' holds an infinite number",
    ),
    "Infinity in an inferred numeric column": (
        {"data.csv": _replace_line(_small_text(), 6, "3,basic,Infinity,north,no")},
        [],
        "data.csv, line 6: column 'spend' holds an infinite number",
    ),
    "columns differ between files": (
        {"a.csv": small_frame(), "b.csv": small_frame().rename(columns={"spend": "spent"})},
        [],
        "b.csv: unexpected column 'spent' (not in the first file)",
    ),
    "types differ between files": (
        {"a.csv": small_frame(), "b.csv": small_frame().assign(tenure="long")},
        [],
        "column 'tenure' is numeric in a.csv but categorical in b.csv",
    ),
    "no csv files": ({"notes.txt": "hello"}, [], "no .csv or .csv.gz file under"),
    "bad ratios": ({"data.csv": small_frame()}, ["--test-ratio", "0.6", "--validation-ratio", "0.5"], "leave rows"),
    "more shards than rows": (
        {"data.csv": small_frame(200)},
        ["--train-shards", "500"],
        "can not fill 500 train shards",
    ),
}


def test_the_line_named_counts_blank_lines_and_quoted_line_breaks(
    tmp_path: Path, write_csv: Callable[..., Path], sm_output_dir: Path
) -> None:
    lines = _small_text(200).splitlines()
    lines[2] = '12,basic,40.5,"no\nrth",no'  # a quoted value over two lines
    lines.insert(5, "")
    lines[9] = "5,plus,-inf,east,no"
    write_csv("\n".join(lines) + "\n")
    assert run_preprocess(tmp_path / "input", tmp_path / "out", *SMALL_TARGET_ARGS) == 1
    message = (sm_output_dir / PROCESSING_MESSAGE_FILE).read_text(encoding="utf-8")
    # The file's line 11 (line 10 of the list, plus the line inside the quoted value).
    assert "data.csv, line 11: column 'spend' holds an infinite number" in message


@pytest.mark.parametrize("case", BAD_DATA, ids=list(BAD_DATA))
def test_bad_data_fails_with_one_clear_message_and_writes_nothing(
    case: str, tmp_path: Path, write_csv: Callable[..., Path], sm_output_dir: Path
) -> None:
    files, extra_args, expected = BAD_DATA[case]
    for name, content in files.items():
        write_csv(content, name)
    args = extra_args if extra_args is not None else []
    if (extra_args is not None and "--test-ratio" not in extra_args) or extra_args == []:
        args = [*SMALL_TARGET_ARGS, *args]
    output = tmp_path / "out"

    assert run_preprocess(tmp_path / "input", output, *args) == 1

    message = (sm_output_dir / PROCESSING_MESSAGE_FILE).read_text(encoding="utf-8")
    assert message.startswith("preprocess failed: ")
    assert expected in message
    assert "\n" not in message
    assert not output.exists() or list(output.iterdir()) == []


@pytest.mark.parametrize(
    "values",
    [np.arange(10, dtype=np.int64)[::3], np.array([1, -2], np.int8), np.array([0.5, np.nan]), np.empty(0, np.int64)],
    ids=["strided int64", "int8", "float64 with NaN", "empty"],
)
def test_arrow_array_holds_the_numpy_values(values: np.ndarray) -> None:
    assert preprocess.arrow_array(values).to_numpy(zero_copy_only=False).tolist() == pytest.approx(
        values.tolist(), nan_ok=True
    )


@pytest.mark.parametrize("values", [np.array([True, False]), np.array([1, 2], ">i4")], ids=["bool", "big-endian"])
def test_arrow_array_refuses_what_it_would_misread(values: np.ndarray) -> None:
    with pytest.raises(TypeError, match="expected integers or floats"):
        preprocess.arrow_array(values)


def test_int32_values_read_a_slice_and_refuse_nulls_or_other_widths() -> None:
    assert preprocess._int32_values(pa.array(range(6), pa.int32()).slice(2, 3)).tolist() == [2, 3, 4]
    for array in (pa.array([1, None], pa.int32()), pa.array([1, 2], pa.int8())):
        with pytest.raises(TypeError, match="expected int32 values without nulls"):
            preprocess._int32_values(array)


def test_the_contracts_ignored_columns_are_dropped_when_present_and_not_required(tmp_path: Path) -> None:
    contract = json.loads((ML_CODE / "data_contract.json").read_text())
    contract["ignored_columns"] = ["id", "created_at"]
    contract_path = tmp_path / "contract.json"
    contract_path.write_text(json.dumps(contract))
    (tmp_path / "in").mkdir()
    rows = adult_rows()
    # One file carries both ignored columns (with values no numeric or categorical feature would take), one neither.
    rows.head(150).assign(id=range(150), created_at="2026-10-01T12:00:00Z").to_csv(
        tmp_path / "in" / "a.csv", index=False
    )
    rows.tail(150).to_csv(tmp_path / "in" / "b.csv", index=False)

    manifest = preprocess.run(["--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out"),
                               "--contract", str(contract_path)])  # fmt: skip

    assert manifest.feature_names == list(contract["features"])
    assert manifest.ignored_columns == ("id", "created_at")
    for split in artifacts.SPLITS:
        assert not {"id", "created_at"} & set(artifacts.read_split(tmp_path / "out" / split).column_names)
