from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from ml_helpers import TrainedRun

import artifacts
import inference
import inference_handlers
import model_io
from inference_handlers import CSV, JSON

ROWS = 200


@pytest.fixture(scope="module")
def model(adult_run: TrainedRun) -> inference_handlers.Model:
    return inference.model_fn(str(adult_run.model))


@pytest.fixture(scope="module")
def test_rows(adult_run: TrainedRun) -> pd.DataFrame:
    """Test rows as a client would send them: the features as text, '?' for missing, the target dropped."""
    frame = artifacts.read_split(adult_run.splits / artifacts.TEST).to_pandas().head(ROWS)
    features = frame[adult_run.manifest.feature_names]
    return features.astype(object).where(features.notna(), "?")


def booster_predict(run: TrainedRun, rows: pd.DataFrame) -> np.ndarray:
    """Booster.predict on the same rows, encoded independently with pandas categoricals."""
    frame = rows.replace("?", np.nan)
    for feature in run.manifest.features:
        if feature.levels is None:
            frame[feature.name] = frame[feature.name].astype(float)
        else:
            frame[feature.name] = pd.Categorical(frame[feature.name], categories=list(feature.levels))
    return model_io.load_booster(run.model).predict(xgb.DMatrix(frame, enable_categorical=True))


def invoke(model, body: str | bytes, content_type: str = CSV, accept: str = JSON):
    return inference.transform_fn(model, body, content_type, accept)


def json_probabilities(response) -> np.ndarray:
    return np.array([row["probability"] for row in json.loads(response.get_data(as_text=True))["predictions"]])


def test_entry_script_defines_only_what_the_xgboost_image_accepts() -> None:
    # sagemaker_xgboost_container.serving refuses transform_fn next to input_fn, predict_fn or output_fn.
    assert callable(inference.model_fn) and callable(inference.transform_fn)
    assert not any(hasattr(inference, name) for name in ("input_fn", "predict_fn", "output_fn"))


def test_csv_round_trip_equals_booster_predict(model, test_rows, adult_run) -> None:
    expected = booster_predict(adult_run, test_rows)
    response = invoke(model, test_rows.to_csv(index=False, header=False), CSV, CSV)
    assert response.status_code == 200 and response.mimetype == CSV
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(lines) == ROWS
    probabilities = np.array([float(probability) for probability, _ in lines], dtype=np.float32)
    np.testing.assert_array_equal(probabilities, expected)
    labels = [label for _, label in lines]
    assert labels == [">50K" if p >= 0.5 else "<=50K" for p in expected]


def test_json_records_and_csv_with_header_give_the_same_answer(model, test_rows, adult_run) -> None:
    expected = booster_predict(adult_run, test_rows)
    records = test_rows.replace("?", None).to_dict(orient="records")
    from_json = json_probabilities(invoke(model, json.dumps(records), JSON))
    shuffled_columns = test_rows[test_rows.columns[::-1]]
    from_header = json_probabilities(
        invoke(model, shuffled_columns.to_csv(index=False).encode(), "text/csv; charset=utf-8")
    )
    np.testing.assert_array_equal(from_json.astype(np.float32), expected)
    np.testing.assert_array_equal(from_header.astype(np.float32), expected)


def test_one_row_as_an_object_and_as_a_csv_line(model, test_rows, adult_run) -> None:
    expected = booster_predict(adult_run, test_rows.head(1))
    record = test_rows.head(1).to_dict(orient="records")[0]
    assert json_probabilities(invoke(model, json.dumps(record), JSON)).astype(np.float32) == expected
    line = test_rows.head(1).to_csv(index=False, header=False)
    assert json_probabilities(invoke(model, line, CSV, "*/*")).astype(np.float32) == expected


def test_unseen_category_is_missing_where_the_contract_says_so(model, test_rows) -> None:
    # data_contract.json lists native-country under unseen_categories_as_missing.
    row = test_rows.head(1).to_dict(orient="records")[0]
    unseen = json_probabilities(invoke(model, json.dumps({**row, "native-country": "Atlantis"}), JSON))
    missing = json_probabilities(invoke(model, json.dumps({**row, "native-country": None}), JSON))
    assert unseen == missing


def test_lower_cased_categories_are_refused_not_scored_as_missing(model, adult_run) -> None:
    # The input that exposed it: the same person with lower-cased categories got 0.21 instead of 0.008, with a 200.
    person = {"age": 45, "workclass": "Private", "fnlwgt": 160000, "education": "Bachelors", "education-num": 13,
              "marital-status": "Married-civ-spouse", "occupation": "Exec-managerial", "relationship": "Husband",
              "race": "White", "sex": "Male", "capital-gain": 0, "capital-loss": 0, "hours-per-week": 50,
              "native-country": "United-States"}  # fmt: skip
    assert invoke(model, json.dumps(person), JSON).status_code == 200
    lowered = {name: value.lower() if isinstance(value, str) else value for name, value in person.items()}
    response = invoke(model, json.dumps(lowered), JSON)
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    workclass = next(feature for feature in adult_run.manifest.features if feature.name == "workclass")
    known = ", ".join(repr(level) for level in (workclass.levels or ())[:5])
    assert text == (
        f"row 1, column 'workclass': unknown category 'private' (did you mean 'Private'?); known values: {known}, "
        f"... ({len(workclass.levels or ())} in all)\n"
    )


def test_unknown_category_without_a_close_match_lists_known_values(model, test_rows) -> None:
    row = test_rows.head(1).to_dict(orient="records")[0]
    response = invoke(model, json.dumps([row, {**row, "sex": "Unknown"}]), JSON)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "row 2, column 'sex': unknown category 'Unknown'; known values: " \
        "'Female', 'Male'\n"  # fmt: skip


def test_byte_order_mark_before_the_csv_header_is_not_part_of_a_column_name(model, test_rows) -> None:
    body = test_rows.head(3).to_csv(index=False)
    expected = json_probabilities(invoke(model, body, CSV))
    # The image hands text/csv bodies over as text (sagemaker-containers' Request.content), BOM included.
    as_text = invoke(model, "\ufeff" + body, CSV)
    as_bytes = invoke(model, ("\ufeff" + body).encode("utf-8"), "text/csv; charset=utf-8")
    assert as_text.status_code == 200 and as_bytes.status_code == 200
    np.testing.assert_array_equal(json_probabilities(as_text), expected)
    np.testing.assert_array_equal(json_probabilities(as_bytes), expected)


def test_target_column_in_the_request_is_ignored(model, test_rows) -> None:
    row = test_rows.head(1).to_dict(orient="records")[0]
    with_target = invoke(model, json.dumps({**row, "income-per-year": ">50K"}), JSON)
    assert with_target.status_code == 200
    assert json_probabilities(with_target) == json_probabilities(invoke(model, json.dumps(row), JSON))


def test_threshold_comes_from_the_environment(adult_run, test_rows, monkeypatch: pytest.MonkeyPatch) -> None:
    body = test_rows.to_csv(index=False, header=False)
    monkeypatch.setenv(inference_handlers.THRESHOLD_ENV, "0.9")
    strict = json.loads(invoke(inference.model_fn(str(adult_run.model)), body).get_data())["predictions"]
    assert all((row["label"] == ">50K") == (row["probability"] >= 0.9) for row in strict)
    assert any(0.5 <= row["probability"] < 0.9 for row in strict)
    monkeypatch.setenv(inference_handlers.THRESHOLD_ENV, "high")
    with pytest.raises(ValueError, match="PREDICTION_THRESHOLD='high' is not a number"):
        inference.model_fn(str(adult_run.model))


def _header_and_row(test_rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    return list(test_rows.columns), [str(value) for value in test_rows.iloc[0]]


def _csv(*rows: list[str]) -> str:
    return "".join(",".join(row) + "\n" for row in rows)


def bad_requests(test_rows: pd.DataFrame) -> dict[str, tuple[object, str, str, int, str]]:
    header, row = _header_and_row(test_rows)
    record = dict(zip(header, row, strict=True))
    text_age = [*row]
    text_age[0] = "forty"
    return {
        "wrong column count": (_csv(row[:-1]), CSV, JSON, 400, "row 1 has 13 values; expected 14"),
        "wrong column count, second row": (_csv(row, [*row, "1"]), CSV, JSON, 400, "row 2 has 15 values"),
        "unknown column in header": (_csv([*header[:-1], "planet"], row), CSV, JSON, 400, "unknown column 'planet'"),
        "unknown key in json": (json.dumps({**record, "planet": "x"}), JSON, JSON, 400, "unknown column 'planet'"),
        "missing key in json": (
            json.dumps({k: v for k, v in record.items() if k != "age"}),
            JSON,
            JSON,
            400,
            "missing column(s) ['age']",
        ),
        "non-numeric where numeric (csv)": (_csv(text_age), CSV, JSON, 400, "row 1, column 'age': expected a number"),
        "non-numeric where numeric (json)": (
            json.dumps([record, {**record, "age": [1]}]),
            JSON,
            JSON,
            400,
            "row 2, column 'age': expected a number",
        ),
        "inf (csv)": (
            _csv([*row[:10], "inf", *row[11:]]),
            CSV,
            JSON,
            400,
            "row 1, column 'capital-gain': expected a finite number",
        ),
        "-inf (csv)": (
            _csv([*row[:10], "-inf", *row[11:]]),
            CSV,
            JSON,
            400,
            "column 'capital-gain': expected a finite",
        ),
        "1e400 (csv)": (_csv(["1e400", *row[1:]]), CSV, JSON, 400, "row 1, column 'age': expected a finite number"),
        "Infinity (json)": (
            json.dumps({**record, "age": float("inf")}),
            JSON,
            JSON,
            400,
            "row 1, column 'age': expected a finite number",
        ),
        "-Infinity (json)": (
            json.dumps({**record, "age": float("-inf")}),
            JSON,
            JSON,
            400,
            "row 1, column 'age': expected a finite number",
        ),
        "1e400 (json)": (
            json.dumps({**record, "age": "A"}).replace('"A"', "1e400"),
            JSON,
            JSON,
            400,
            "row 1, column 'age': expected a finite number",
        ),
        "integer beyond float (json)": (
            json.dumps({**record, "age": 10**400}),
            JSON,
            JSON,
            400,
            "row 1, column 'age': expected a finite number",
        ),
        "integer of 5,000 digits (json)": (
            json.dumps({**record, "age": "A"}).replace('"A"', "9" * 5000),
            JSON,
            JSON,
            400,
            "the JSON body holds a number with too many digits",
        ),
        "number for a category (json)": (
            json.dumps({**record, "education-num": 13, "education": 13}),
            JSON,
            JSON,
            400,
            "row 1, column 'education': expected a category as text",
        ),
        "deeply nested json": ("[" * 100_000 + "]" * 100_000, JSON, JSON, 400, "the JSON body is nested too deeply"),
        "nested value (json)": (
            json.dumps({**record, "age": {"value": [40]}}),
            JSON,
            JSON,
            400,
            "row 1, column 'age': expected a number",
        ),
        "body over the InvokeEndpoint limit": (
            json.dumps([record] * 30_000),
            JSON,
            JSON,
            400,
            "the request body is larger than 6291456 bytes",
        ),
        "csv field over the csv module's limit": (
            _csv(["x" * 200_000, *row[1:]]),
            CSV,
            JSON,
            400,
            "the CSV body could not be parsed: field larger than field limit",
        ),
        "unpaired surrogate in a column name (json)": (
            '{"\\ud800age": 1}',
            JSON,
            JSON,
            400,
            "unknown column '\\ud800age'",
        ),
        "unpaired surrogate in a category (json)": (
            json.dumps(record)[:-1] + ', "sex": "\\ud800"}',
            JSON,
            JSON,
            400,
            "column 'sex': unknown category '\\ud800'",
        ),
        "long unknown value is shortened": (
            json.dumps({**record, "race": "r" * 5000}),
            JSON,
            JSON,
            400,
            "unknown category '" + "r" * 40 + "...'",
        ),
        "empty body": ("", CSV, JSON, 400, "the request body is empty"),
        "blank body": (b"\n  \n", JSON, JSON, 400, "the request body is empty"),
        "header without rows": (_csv(header), CSV, JSON, 400, "has a header but no rows"),
        "invalid json": ("{", JSON, JSON, 400, "the body is not valid JSON"),
        "json not records": ("[1, 2]", JSON, JSON, 400, "list of objects, one per row"),
        "not utf-8": (b"\xff\xfe1,2", CSV, JSON, 400, "not UTF-8"),
        "unsupported content type": (_csv(row), "application/x-npy", JSON, 415, "content type 'application/x-npy'"),
        "json sent as csv": (
            json.dumps([record]),
            CSV,
            JSON,
            400,
            "the body is JSON, not CSV: send it with content type application/json",
        ),
        "csv sent as json": (
            _csv(header, row),
            JSON,
            JSON,
            400,
            "the body looks like CSV, not JSON: send it with content type text/csv",
        ),
        "semicolon-separated csv": (
            ";".join(header) + "\n" + ";".join(row) + "\n",
            CSV,
            JSON,
            400,
            "the CSV body seems to be semicolon (;)-separated: its first line has 14 fields separated by semicolon (;)"
            " and no comma; separate values with commas",
        ),
        "tab-separated csv without header": ("\t".join(row), CSV, JSON, 400, "seems to be tab-separated"),
        "instances of positional features": (
            json.dumps({"instances": [{"features": [39, 77516]}]}),
            JSON,
            JSON,
            400,
            "'instances' holds 'features' entries (the built-in algorithms' positional format); send each row as an "
            "object keyed by column name",
        ),
        "instances of value lists": (
            json.dumps({"instances": [row]}),
            JSON,
            JSON,
            400,
            "'instances' must be a non-empty list of objects keyed by column name",
        ),
        "unsupported accept": (_csv(row), CSV, "application/xml", 406, "accept 'application/xml' is not supported"),
    }


BAD_REQUEST_CASES = [
    "wrong column count", "wrong column count, second row", "unknown column in header", "unknown key in json",
    "missing key in json", "non-numeric where numeric (csv)", "non-numeric where numeric (json)", "empty body",
    "blank body", "header without rows", "invalid json", "json not records", "not utf-8",
    "unsupported content type", "unsupported accept", "inf (csv)", "-inf (csv)", "1e400 (csv)", "Infinity (json)",
    "-Infinity (json)", "1e400 (json)", "integer beyond float (json)", "integer of 5,000 digits (json)",
    "number for a category (json)", "deeply nested json", "nested value (json)", "body over the InvokeEndpoint limit",
    "csv field over the csv module's limit", "unpaired surrogate in a column name (json)", "json sent as csv",
    "csv sent as json", "semicolon-separated csv", "tab-separated csv without header",
    "instances of positional features", "instances of value lists",
    "unpaired surrogate in a category (json)", "long unknown value is shortened",
]  # fmt: skip


@pytest.fixture(scope="module")
def bad_request_cases(test_rows: pd.DataFrame) -> dict[str, tuple[object, str, str, int, str]]:
    """Built once for all the cases: some bodies take megabytes (2.7 s of CPU when each case built them all)."""
    return bad_requests(test_rows)


def test_every_bad_request_is_a_case(bad_request_cases: dict[str, tuple[object, str, str, int, str]]) -> None:
    assert sorted(bad_request_cases) == sorted(BAD_REQUEST_CASES)


@pytest.mark.parametrize("case", BAD_REQUEST_CASES)
def test_bad_requests_get_a_client_error_with_a_message(model, bad_request_cases, case: str) -> None:
    body, content_type, accept, status, expected = bad_request_cases[case]
    response = invoke(model, body, content_type, accept)
    text = response.get_data(as_text=True)
    assert response.status_code == status
    assert response.mimetype == "text/plain"
    assert expected in text
    assert "Traceback" not in text and "forty" not in text
    assert len(text) < 1000


def test_rows_wrapped_in_instances_are_scored_as_a_list_of_records(model, test_rows) -> None:
    records = test_rows.head(3).to_dict(orient="records")
    wrapped = invoke(model, json.dumps({"instances": records}), JSON)
    plain = invoke(model, json.dumps(records), JSON)
    assert wrapped.status_code == 200 and wrapped.get_data() == plain.get_data()


def test_a_long_semicolon_separated_body_names_its_delimiter_too(model, test_rows) -> None:
    body = test_rows.head(60).to_csv(index=False, sep=";")  # long enough for the pyarrow path to be tried first
    response = invoke(model, body, CSV)
    assert response.status_code == 400
    assert "seems to be semicolon (;)-separated" in response.get_data(as_text=True)


def test_accept_header_with_preferences_picks_the_first_supported(model, test_rows) -> None:
    body = test_rows.head(2).to_csv(index=False, header=False)
    response = invoke(model, body, CSV, "application/xml, text/csv;q=0.9, application/json;q=0.5")
    assert response.mimetype == CSV and len(response.get_data(as_text=True).splitlines()) == 2


def test_a_model_whose_manifest_predates_unseen_as_missing_refuses_unseen_levels(
    adult_run, test_rows, tmp_path
) -> None:
    manifest = json.loads((adult_run.model / artifacts.MANIFEST_FILE_NAME).read_text())
    for feature in manifest["features"]:
        feature.pop("unseen_as_missing")
    (tmp_path / artifacts.MANIFEST_FILE_NAME).write_text(json.dumps(manifest))
    (tmp_path / model_io.MODEL_FILE_NAME).symlink_to(adult_run.model / model_io.MODEL_FILE_NAME)
    old_model = inference.model_fn(str(tmp_path))
    row = test_rows.head(1).to_dict(orient="records")[0]
    response = invoke(old_model, json.dumps({**row, "native-country": "Atlantis"}), JSON)
    assert response.status_code == 400
    assert "column 'native-country': unknown category 'Atlantis'" in response.get_data(as_text=True)


# Labels a training file may hold (any text): ones csv must quote, JSON escapes, non-ASCII, empty.
_ODD_LABELS = [">50K", "<=50K", "yes, really", 'say "hi"', "two\nlines", "r\r", "Zürich ✓", "", " padded "]
# float32 values: exact 0 and 1, the smallest subnormal, ones that print long, NaN and infinity.
_PROBABILITIES = np.array(
    [0.0, 1.0, 1e-45, 0.1, 1 / 3, 0.5, 0.9999999, np.float32(2) ** -20, np.nan, np.inf, -np.inf], dtype=np.float32
)


@pytest.mark.parametrize("finite", [True, False], ids=["finite", "with NaN and infinity"])
@pytest.mark.parametrize("positive, negative", [(">50K", "<=50K"), *zip(_ODD_LABELS, _ODD_LABELS[::-1], strict=True)])
def test_answers_are_what_json_dumps_and_csv_writer_write(positive: str, negative: str, finite: bool) -> None:
    probabilities = _PROBABILITIES[np.isfinite(_PROBABILITIES)] if finite else _PROBABILITIES
    labels = [positive if index % 3 else negative for index in range(len(probabilities))]
    prediction = inference_handlers.Prediction(probabilities, labels)
    rows = list(zip(probabilities.tolist(), labels, strict=True))
    written = io.StringIO()
    csv.writer(written, lineterminator="\n").writerows(rows)

    assert inference_handlers.output_fn(prediction, JSON) == (
        json.dumps({"predictions": [{"probability": p, "label": label} for p, label in rows]}),
        JSON,
    )
    assert inference_handlers.output_fn(prediction, CSV) == (written.getvalue(), CSV)
