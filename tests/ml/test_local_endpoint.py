"""`make serve` / `make predict`: the endpoint's HTTP contract around the real entry script and a trained model.

The rules checked here are sagemaker-containers' (the serving stack of SageMaker's XGBoost 3.0-5 image): see the
docstring of ml_code/local_endpoint.py for the source files they come from.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import flask.testing
import pandas as pd
import pytest
from ml_helpers import SMALL_TARGET, TrainedRun, synthesized_pipeline

import artifacts
import inference
import inference_handlers
import local_endpoint
import local_run
from inference_handlers import CSV, JSON

ROWS = 25


@pytest.fixture(scope="module")
def archive(small_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained model packed as SageMaker packs SM_MODEL_DIR."""
    return local_run.pack_model(small_run.model, tmp_path_factory.mktemp("packed") / "model.tar.gz")


@pytest.fixture(scope="module")
def model(archive: Path) -> inference_handlers.Model:
    return local_endpoint.load_model(archive)


@pytest.fixture
def client(model) -> flask.testing.FlaskClient:
    return local_endpoint.endpoint_app(model).test_client()


@pytest.fixture(scope="module")
def rows(small_run: TrainedRun) -> pd.DataFrame:
    """Test rows as a client sends them: features only, missing values empty."""
    frame = artifacts.read_split(small_run.splits / artifacts.TEST).to_pandas().head(ROWS)
    return frame[small_run.manifest.feature_names]


def csv_body(rows: pd.DataFrame, header: bool = True) -> str:
    return rows.to_csv(index=False, header=header)


def programs(node: object) -> list[str]:
    """Every SAGEMAKER_PROGRAM in a pipeline definition (the Register step sits inside the AUC condition)."""
    if isinstance(node, dict):
        found = [node["SAGEMAKER_PROGRAM"]] if "SAGEMAKER_PROGRAM" in node else []
        return found + [program for value in node.values() for program in programs(value)]
    if isinstance(node, list):
        return [program for value in node for program in programs(value)]
    return []


def test_the_entry_script_is_the_one_the_model_package_names() -> None:
    assert programs(synthesized_pipeline("dev")) == [local_endpoint.ENTRY_SCRIPT]


def test_ping_is_200_with_an_empty_body(client) -> None:
    response = client.get("/ping")
    assert (response.status_code, response.get_data()) == (200, b"")


def test_csv_request_answers_what_transform_fn_answers(client, model, rows) -> None:
    body = csv_body(rows)
    response = client.post("/invocations", data=body, headers={"Content-Type": CSV, "Accept": CSV})
    expected = inference.transform_fn(model, body, CSV, CSV)
    assert (response.status_code, response.mimetype) == (200, CSV)
    assert response.get_data() == expected.get_data()
    assert len(list(csv.reader(io.StringIO(response.get_data(as_text=True))))) == ROWS


def test_without_accept_or_with_any_the_answer_is_json(client, rows) -> None:
    for headers in ({"Content-Type": CSV}, {"Content-Type": CSV, "Accept": "*/*"}):
        response = client.post("/invocations", data=csv_body(rows), headers=headers)
        assert (response.status_code, response.mimetype) == (200, JSON)
        assert len(response.get_json()["predictions"]) == ROWS


def test_the_default_accept_comes_from_the_container_setting(model, rows, monkeypatch) -> None:
    monkeypatch.setenv(local_endpoint.DEFAULT_ACCEPT_ENV, CSV)
    client = local_endpoint.endpoint_app(model).test_client()
    response = client.post("/invocations", data=csv_body(rows), headers={"Content-Type": CSV})
    assert response.mimetype == CSV


def test_json_records_are_scored_like_the_same_csv(client, rows) -> None:
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    from_json = client.post("/invocations", json=records, headers={"Accept": JSON}).get_json()
    from_csv = client.post("/invocations", data=csv_body(rows), headers={"Content-Type": CSV}).get_json()
    assert from_json == from_csv


def test_without_a_content_type_the_body_is_read_as_json(client, rows) -> None:
    response = client.post("/invocations", data=csv_body(rows))
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith("the body is not valid JSON")


def test_the_aws_style_contenttype_header_wins(client, rows) -> None:
    response = client.post("/invocations", data=csv_body(rows), headers={"ContentType": CSV, "Content-Type": JSON})
    assert response.status_code == 200


def test_a_csv_content_type_with_parameters_arrives_as_bytes_and_is_scored(client, rows) -> None:
    response = client.post(
        "/invocations", data=csv_body(rows).encode(), headers={"Content-Type": f"{CSV}; charset=utf-8"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"Content-Type": "application/x-npy"}, 415, "content type 'application/x-npy' is not supported"),
        ({"Content-Type": CSV, "Accept": "application/x-recordio-protobuf"}, 406, "accept 'application/x-recordio"),
    ],
)
def test_unsupported_types_are_415_and_406_with_a_message(client, rows, headers, status, message) -> None:
    response = client.post("/invocations", data=csv_body(rows), headers=headers)
    assert (response.status_code, response.mimetype) == (status, "text/plain")
    assert response.get_data(as_text=True).startswith(message)


def test_a_malformed_row_is_400_naming_the_row(client, rows) -> None:
    body = csv_body(rows) + "1,2\n"
    response = client.post("/invocations", data=body, headers={"Content-Type": CSV})
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith(f"row {ROWS + 1} has 2 values")


def test_an_exception_in_the_entry_script_is_a_500(model, rows) -> None:
    def failing(*_: object) -> None:
        raise RuntimeError("boom")

    client = local_endpoint.endpoint_app(model, failing).test_client()
    assert client.post("/invocations", data=csv_body(rows), headers={"Content-Type": CSV}).status_code == 500


def test_other_paths_are_404_and_other_methods_405(client) -> None:
    assert (client.get("/predict").status_code, client.get("/predict").get_data()) == (404, b"{}")
    assert client.get("/invocations").status_code == 405
    assert client.post("/ping").status_code == 405


# --- make predict ----------------------------------------------------------------------------------------------


def test_predict_writes_the_endpoints_csv_answer_for_every_row(archive, model, rows, small_run, tmp_path) -> None:
    data = tmp_path / "to-score.csv"
    # Rows straight from the training file keep their target column: the endpoint ignores it.
    with_target = rows.assign(**{SMALL_TARGET: "no"})
    with_target.to_csv(data, index=False)
    output = tmp_path / "out" / "predictions.csv"

    assert local_endpoint.main(["predict", "--model", str(archive), "--data", str(data), "--output", str(output)]) == 0

    expected = inference.transform_fn(model, data.read_text(), CSV, CSV).get_data()
    assert output.read_bytes() == expected
    assert len(output.read_text().splitlines()) == ROWS


def test_predict_names_an_output_under_runs_when_none_is_given(archive, rows, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(local_endpoint, "DEFAULT_PREDICTIONS_DIR", tmp_path / "runs" / "predictions")
    data = tmp_path / "customers.csv"
    rows.to_csv(data, index=False)
    output, _ = local_endpoint.predict(archive, data, None, JSON)
    assert output.parent == tmp_path / "runs" / "predictions"
    assert output.name.startswith("customers-") and output.suffix == ".json"
    assert len(json.loads(output.read_text())["predictions"]) == ROWS


def test_predict_on_bad_data_says_what_the_endpoint_would_answer_and_writes_nothing(
    archive, rows, tmp_path, capsys
) -> None:
    data = tmp_path / "bad.csv"
    rows.rename(columns={rows.columns[0]: "unexpected"}).to_csv(data, index=False)
    output = tmp_path / "predictions.csv"
    code = local_endpoint.main(["predict", "--model", str(archive), "--data", str(data), "--output", str(output)])
    assert code == 1
    assert capsys.readouterr().err.startswith(
        f"error: DATA={data}: the endpoint would answer 400: CSV header: unknown column 'unexpected'"
    )
    assert not output.exists()


def test_a_model_folder_works_like_its_archive(small_run, archive, rows) -> None:
    from_folder = local_endpoint.endpoint_app(local_endpoint.load_model(small_run.model)).test_client()
    from_archive = local_endpoint.endpoint_app(local_endpoint.load_model(archive)).test_client()
    body = csv_body(rows)
    assert (
        from_folder.post("/invocations", data=body, headers={"Content-Type": CSV}).get_data()
        == from_archive.post("/invocations", data=body, headers={"Content-Type": CSV}).get_data()
    )


@pytest.mark.parametrize("what", ["missing", "not a model"])
def test_a_bad_model_path_is_one_sentence(tmp_path, capsys, what) -> None:
    model = tmp_path / "model.tar.gz"
    if what == "not a model":
        model = tmp_path
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    assert local_endpoint.main(["predict", "--model", str(model), "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: MODEL={model}") and err.count("\n") == 1


def test_predict_warns_when_the_file_is_larger_than_one_endpoint_request(archive, rows, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(local_endpoint, "INVOKE_ENDPOINT_MAX_BYTES", 100)
    data = tmp_path / "big.csv"
    rows.to_csv(data, index=False)
    assert (
        local_endpoint.main(
            ["predict", "--model", str(archive), "--data", str(data), "--output", str(tmp_path / "p.csv")]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "a real endpoint takes at most 6 MB per request, so send it in batches of rows" in captured.err
    assert captured.out == f"{ROWS} rows scored; predictions (the endpoint's text/csv response): {tmp_path / 'p.csv'}\n"


# --- the request examples in docs/consuming-the-endpoint.md --------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "consuming-the-endpoint.md"


def doc_examples(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_the_documented_requests_are_scored_by_a_model_of_the_shipped_contract(adult_run: TrainedRun) -> None:
    client = local_endpoint.endpoint_app(local_endpoint.load_model(adult_run.model)).test_client()
    csv_request, csv_response = doc_examples("csv")
    (json_request, json_response) = doc_examples("json")
    from_csv = client.post("/invocations", data=csv_request, headers={"Content-Type": CSV, "Accept": CSV})
    from_json = client.post("/invocations", data=json_request, headers={"Content-Type": JSON})
    assert from_csv.status_code == 200 and len(from_csv.get_data(as_text=True).splitlines()) == 2
    assert from_json.status_code == 200 and len(from_json.get_json()["predictions"]) == 1
    # The documented responses have the shape the endpoint answers with.
    assert [len(line.split(",")) for line in csv_response.splitlines()] == [2, 2]
    assert set(json.loads(json_response)["predictions"][0]) == set(from_json.get_json()["predictions"][0])
