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


def test_unseen_category_is_treated_as_missing(model, test_rows) -> None:
    row = test_rows.head(1).to_dict(orient="records")[0]
    unseen = json_probabilities(invoke(model, json.dumps({**row, "native-country": "Atlantis"}), JSON))
    missing = json_probabilities(invoke(model, json.dumps({**row, "native-country": None}), JSON))
    assert unseen == missing


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
        "empty body": ("", CSV, JSON, 400, "the request body is empty"),
        "blank body": (b"\n  \n", JSON, JSON, 400, "the request body is empty"),
        "header without rows": (_csv(header), CSV, JSON, 400, "has a header but no rows"),
        "invalid json": ("{", JSON, JSON, 400, "the body is not valid JSON"),
        "json not records": ("[1, 2]", JSON, JSON, 400, "list of objects, one per row"),
        "not utf-8": (b"\xff\xfe1,2", CSV, JSON, 400, "not UTF-8"),
        "unsupported content type": (_csv(row), "application/x-npy", JSON, 415, "content type 'application/x-npy'"),
        "unsupported accept": (_csv(row), CSV, "application/xml", 406, "accept 'application/xml' is not supported"),
    }


BAD_REQUEST_CASES = [
    "wrong column count", "wrong column count, second row", "unknown column in header", "unknown key in json",
    "missing key in json", "non-numeric where numeric (csv)", "non-numeric where numeric (json)", "empty body",
    "blank body", "header without rows", "invalid json", "json not records", "not utf-8",
    "unsupported content type", "unsupported accept",
]  # fmt: skip


@pytest.mark.parametrize("case", BAD_REQUEST_CASES)
def test_bad_requests_get_a_client_error_with_a_message(model, test_rows, case: str) -> None:
    body, content_type, accept, status, expected = bad_requests(test_rows)[case]
    response = invoke(model, body, content_type, accept)
    text = response.get_data(as_text=True)
    assert response.status_code == status
    assert response.mimetype == "text/plain"
    assert expected in text
    assert "Traceback" not in text and "forty" not in text


def test_accept_header_with_preferences_picks_the_first_supported(model, test_rows) -> None:
    body = test_rows.head(2).to_csv(index=False, header=False)
    response = invoke(model, body, CSV, "application/xml, text/csv;q=0.9, application/json;q=0.5")
    assert response.mimetype == CSV and len(response.get_data(as_text=True).splitlines()) == 2
