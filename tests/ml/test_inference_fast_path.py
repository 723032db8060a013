"""arrow_csv's fast path against the per-value path: the same arrays and the same responses, edge cases included."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ml_helpers import TrainedRun

import arrow_csv
import artifacts
import inference
import inference_handlers
import model_io
import request_features
from inference_handlers import CSV, JSON, Model

NUMBER_CELLS = [
    " 1", "1 ", "\t2.5\t", "+1", ".5", "1.", "-0", "007", "1e5", "1E-5", "-.5e-1", "1_000", "nan", "NaN", "-nan",
    "nan(1)", "inf", "-inf", "Infinity", "+inf", "1e400", "-1e400", "1e-400", "-1e-400", "0x10", "0x1p3", "1e",
    "--1", "\u0661\u0662", "\uff11", "\u00a01", "1\x00", "", " ", "?", " ? ", "\t?", "NA", "null", "true", "0." + "1" * 400,
    "9" * 400, "-999", " -999 ", "12", "39.25", "\ud800",
]  # fmt: skip
CATEGORY_CELLS = ["", " ", "?", " ? ", "\ud800", "Atlantis", "13", "nan", "NaN", "-999", " -999", "Ünknown", "x" * 60]


def _with_manifest(run: TrainedRun, folder: Path, change: Callable[[dict], None]) -> Model:
    """The run's booster with an edited manifest: the fast path must agree with the per-value path for any."""
    manifest = json.loads((run.model / artifacts.MANIFEST_FILE_NAME).read_text())
    change(manifest)
    folder.mkdir()
    (folder / artifacts.MANIFEST_FILE_NAME).write_text(json.dumps(manifest))
    (folder / model_io.MODEL_FILE_NAME).symlink_to(run.model / model_io.MODEL_FILE_NAME)
    return inference.model_fn(str(folder))


def _finite_marker(manifest: dict) -> None:
    # A marker that reads as a number: " -999 " is missing for the per-value path, -999 for pyarrow.
    manifest["missing_values"] = [*manifest["missing_values"], "-999", "NaN"]


def _spaced_level(manifest: dict) -> None:
    # A level with spaces around it can never match the per-value path's stripped look-up.
    (workclass,) = [feature for feature in manifest["features"] if feature["name"] == "workclass"]
    workclass["levels"] = [f" {level} " if level == "Private" else level for level in workclass["levels"]]


def _spaced_marker(manifest: dict) -> None:
    # Markers with spaces around them (the Adult data's raw missing value is " ?"): the per-value path strips a
    # cell before it looks for a marker, so it never finds one of these, while pyarrow matches cells exactly.
    manifest["missing_values"] = [*manifest["missing_values"], " ?", "NA "]


def _marker_as_level(manifest: dict) -> None:
    # The per-value path finds the level "?" before it looks at the missing markers.
    (race,) = [feature for feature in manifest["features"] if feature["name"] == "race"]
    race["levels"] = ["?", *race["levels"][1:]]


@pytest.fixture(scope="module")
def models(adult_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Model]:
    folder = tmp_path_factory.mktemp("manifests")
    return {
        "as trained": inference.model_fn(str(adult_run.model)),
        "finite marker": _with_manifest(adult_run, folder / "finite", _finite_marker),
        "spaced level": _with_manifest(adult_run, folder / "spaced", _spaced_level),
        "spaced marker": _with_manifest(adult_run, folder / "spaced-marker", _spaced_marker),
        "marker as a level": _with_manifest(adult_run, folder / "level", _marker_as_level),
    }


@pytest.fixture(scope="module")
def rows(adult_run: TrainedRun) -> pd.DataFrame:
    """Test rows as text, '?' for missing, as a client would send them."""
    frame = artifacts.read_split(adult_run.splits / artifacts.TEST).to_pandas().head(60)
    features = frame[adult_run.manifest.feature_names]
    return features.astype(object).where(features.notna(), "?").astype(str)


def per_value_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrow_csv, "request_columns", lambda *args: None)


def _body(rows: pd.DataFrame, model: Model, rng: random.Random) -> str:
    """Some rows as a CSV body, with a few cells replaced by edge cases and the layout varied."""
    frame = rows.sample(n=rng.choice([1, 38, 39, 40, 55]), random_state=rng.randrange(1000)).copy()
    for _ in range(rng.choice([0, 0, 1, 2, 3])):
        feature = rng.choice(model.manifest.features)
        if feature.levels is None:
            cell = rng.choice(NUMBER_CELLS)
        else:
            level = rng.choice(feature.levels)
            cell = rng.choice([*CATEGORY_CELLS, level, f" {level}", f"{level}\t", level.lower(), f"{level}?"])
        frame.iloc[rng.randrange(len(frame)), frame.columns.get_loc(feature.name)] = cell
    header = rng.random() < 0.4
    if header and rng.random() < 0.5:
        frame = frame[frame.columns[::-1]]
    lines = [",".join(frame.columns)] if header else []
    lines += [",".join(row) for row in frame.itertuples(index=False)]
    if rng.random() < 0.2:
        lines.insert(rng.randrange(1, len(lines) + 1), "")
    body = "\n".join(lines) + rng.choice(["\n", "", "\n\n", " \n"])
    return ("\ufeff" + body) if rng.random() < 0.1 else body


def _responses(model: Model, body: str) -> list[tuple[int, str, str]]:
    answers = []
    for accept in (CSV, JSON):
        response = inference.transform_fn(model, body, CSV, accept)
        answers.append((response.status_code, response.mimetype, response.get_data(as_text=True)))
    return answers


def _fast_path_results(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, for each CSV body arrow_csv sees, whether it read it (True) or left it to the per-value path."""
    results: list[bool] = []
    read = arrow_csv.request_columns

    def recording(*args: object) -> object:
        columns = read(*args)
        results.append(columns is not None)
        return columns

    monkeypatch.setattr(arrow_csv, "request_columns", recording)
    return results


@pytest.mark.parametrize(
    "variant", ["as trained", "finite marker", "spaced level", "spaced marker", "marker as a level"]
)
def test_generated_bodies_get_the_same_response_either_way(models, rows, variant, monkeypatch) -> None:
    model, rng = models[variant], random.Random(variant)
    bodies = [_body(rows, model, rng) for _ in range(150)]
    with monkeypatch.context() as patch:
        read = _fast_path_results(patch)
        fast = [_responses(model, body) for body in bodies]
    with monkeypatch.context() as patch:
        per_value_only(patch)
        slow = [_responses(model, body) for body in bodies]
    for body, fast_answers, slow_answers in zip(bodies, fast, slow, strict=True):
        assert fast_answers == slow_answers, body
    statuses = {answers[0][0] for answers in fast}
    assert statuses == {200, 400}  # both kinds of answer were compared
    if variant in ("finite marker", "marker as a level"):
        assert not any(read)  # such a model's requests stay per-value
    else:
        assert sum(read) > 20 and not all(read)


def _encoded(model: Model, body: str) -> np.ndarray:
    data = inference_handlers.input_fn(body, CSV)
    return request_features.encoded_request(request_features.request_columns(data, model.manifest), model.manifest)


def test_fast_path_arrays_are_bit_for_bit_those_of_the_per_value_path(models, rows, monkeypatch) -> None:
    model = models["as trained"]
    cells = ["1e-400", "-1e-400", "-0", ".5", "+1", "0.1000000000000000055511151231257827021181583404541015625",
             "16777217", "3.4028235e38", "1e-45", "0.30000000000000004", "?", ""]  # fmt: skip
    frame = rows.head(50).copy()
    for number, cell in enumerate(cells):
        frame.iloc[number, frame.columns.get_loc("capital-gain")] = cell
    body = frame.to_csv(index=False, header=False)
    with monkeypatch.context() as patch:
        read = _fast_path_results(patch)
        fast = _encoded(model, body)
    assert read == [True]
    with monkeypatch.context() as patch:
        per_value_only(patch)
        slow = _encoded(model, body)
    assert fast.dtype == slow.dtype == np.float32
    np.testing.assert_array_equal(fast.view(np.uint32), slow.view(np.uint32))


NOT_FINITE = "row 3, column 'capital-gain': expected a finite number; send null or leave it empty for missing\n"
NOT_A_NUMBER = "row 3, column 'capital-gain': expected a number\n"


@pytest.mark.parametrize(
    ("cell", "message"),
    [("inf", NOT_FINITE), ("-inf", NOT_FINITE), ("1e400", NOT_FINITE), ("Infinity", NOT_FINITE),
     ("0x10", NOT_A_NUMBER), ("nan(1)", NOT_A_NUMBER), ("1 2", NOT_A_NUMBER)],
)  # fmt: skip
def test_values_the_per_value_path_refuses_are_refused_in_a_long_request(models, rows, cell, message) -> None:
    frame = rows.head(50).copy()
    frame.iloc[2, frame.columns.get_loc("capital-gain")] = cell
    response = inference.transform_fn(models["as trained"], frame.to_csv(index=False, header=False), CSV, JSON)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == message


@pytest.mark.parametrize("rows_before", [2, 45], ids=["near the start", "near the end"])
def test_a_field_over_the_csv_limit_is_refused_in_a_long_request(models, rows, rows_before: int) -> None:
    frame = rows.head(50).copy()
    frame.iloc[rows_before, frame.columns.get_loc("native-country")] = "x" * (csv.field_size_limit() + 1)
    response = inference.transform_fn(models["as trained"], frame.to_csv(index=False, header=False), CSV, JSON)
    assert response.status_code == 400
    assert "the CSV body could not be parsed: field larger than field limit" in response.get_data(as_text=True)


def test_unknown_and_unseen_categories_in_a_long_request(models, rows) -> None:
    model = models["as trained"]
    frame = rows.head(50).copy()
    frame.iloc[4, frame.columns.get_loc("native-country")] = "Atlantis"  # unseen_categories_as_missing
    missing = frame.copy()
    missing.iloc[4, missing.columns.get_loc("native-country")] = "?"
    as_unseen = inference.transform_fn(model, frame.to_csv(index=False, header=False), CSV, CSV)
    as_missing = inference.transform_fn(model, missing.to_csv(index=False, header=False), CSV, CSV)
    assert as_unseen.status_code == 200 and as_unseen.get_data() == as_missing.get_data()
    frame.iloc[7, frame.columns.get_loc("sex")] = "Unknown"
    refused = inference.transform_fn(model, frame.to_csv(index=False, header=False), CSV, JSON)
    assert refused.status_code == 400
    assert refused.get_data(as_text=True) == "row 8, column 'sex': unknown category 'Unknown'; known values: " \
        "'Female', 'Male'\n"  # fmt: skip


def test_labels_compare_each_float32_probability_with_the_threshold_as_before(models) -> None:
    probabilities = np.array([0.0, 0.5, np.nextafter(np.float32(0.5), 0), 0.9, 0.7, 1.0], dtype=np.float32)
    thresholds = [0.5, 0.9, float(np.float32(0.9)), 0.7, float(np.float32(0.7)), np.nextafter(0.7, 1), 0.0, 1.0]
    manifest = models["as trained"].manifest
    for threshold in thresholds:
        model = Model(models["as trained"].booster, manifest, threshold)
        expected = [manifest.positive_label if p >= threshold else manifest.negative_label for p in probabilities]
        assert inference_handlers.predicted_labels(probabilities, model) == expected


def test_output_prints_each_float32_probability_exactly(models) -> None:
    rng = np.random.default_rng(0)
    probabilities = np.concatenate([rng.random(500), rng.random(100) * 1e-6, [0.0, 1.0, 1e-45]]).astype(np.float32)
    labels = ["yes"] * len(probabilities)
    prediction = inference_handlers.Prediction(probabilities, labels)
    exact = [float(p) for p in probabilities]
    body, _ = inference_handlers.output_fn(prediction, CSV)
    assert [float(p) for p, _ in csv.reader(io.StringIO(body))] == exact
    assert body == "".join(f"{p!r},yes\n" for p in exact)
    body, _ = inference_handlers.output_fn(prediction, JSON)
    assert body == json.dumps({"predictions": [{"probability": p, "label": "yes"} for p in exact]})


def _long_body_with(rows: pd.DataFrame, column: str, cell: str, header: bool) -> str:
    """50 rows, the third with the cell; "*" and a cell fill the whole column with it (the fast path takes a column or
    leaves it whole)."""
    frame = rows.head(50).copy()
    if cell.startswith("*"):
        frame[column] = cell[1:]
    else:
        frame.iloc[2, frame.columns.get_loc(column)] = cell
    lines = [",".join(frame.columns)] if header else []
    return "\n".join([*lines, *(",".join(row) for row in frame.itertuples(index=False))]) + "\n"


SWEEP = [
    *(("as trained", column, cell) for column in ("age", "capital-gain") for cell in NUMBER_CELLS),
    *(("as trained", column, cell) for column in ("sex", "native-country") for cell in CATEGORY_CELLS),
    *(("as trained", "native-country", cell) for cell in ("United-States", " United-States", "united-states")),
    *(("spaced level", "workclass", cell) for cell in (" Private ", "Private", "* Private ", "*Private")),
    *(("marker as a level", "race", cell) for cell in ("?", " ? ", "")),
    *(("finite marker", "age", cell) for cell in ("-999", " -999 ", "NaN", " NaN", "nan")),
    *(("spaced marker", column, cell) for column in ("age", "sex") for cell in (" ?", "? ", "\t?", "?", "NA ", "NA")),
]


@pytest.mark.parametrize(("variant", "column", "cell"), SWEEP)
def test_each_edge_case_cell_gets_the_same_response_either_way(models, rows, variant, column, cell, monkeypatch):
    model = models[variant]
    for header in (False, True):
        body = _long_body_with(rows, column, cell, header)
        fast = _responses(model, body)
        with monkeypatch.context() as patch:
            per_value_only(patch)
            assert _responses(model, body) == fast


@pytest.mark.parametrize("prefix", ["\ufeff\ufeff", " \ufeff", "\ufeff \ufeff"])
@pytest.mark.parametrize("header", [False, True])
def test_a_byte_order_mark_input_fn_leaves_gets_the_same_response_either_way(models, rows, prefix, header, monkeypatch):
    # input_fn drops one mark at the very start; pyarrow would skip another that starts the text, csv.reader not.
    model = models["as trained"]
    body = prefix + _long_body_with(rows, "age", "39", header)
    fast = _responses(model, body)
    with monkeypatch.context() as patch:
        per_value_only(patch)
        assert _responses(model, body) == fast


def test_a_line_longer_than_the_limit_is_found_wherever_it_is() -> None:
    # Lines of lengths around the limit and half of it, in every order, against measuring every line.
    generator = random.Random(0)
    for _ in range(5_000):
        limit = generator.randint(1, 40)
        lengths = [0, 1, limit // 2, limit - 1, limit, limit + 1, 2 * limit, generator.randint(0, 3 * limit)]
        text = "\n".join("x" * generator.choice(lengths) for _ in range(generator.randint(1, 8)))
        longest = max(map(len, text.split("\n")))
        assert arrow_csv._has_line_longer_than(text, limit) == (longest > limit), (limit, text)
