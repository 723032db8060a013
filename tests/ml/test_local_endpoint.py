"""`make serve` / `make predict`: the endpoint's HTTP contract around the real entry script and a trained model.

The rules checked here are sagemaker-containers' (the serving stack of SageMaker's XGBoost 3.0-5 image): see the
docstring of ml_code/local/local_endpoint.py for the source files they come from.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
from pathlib import Path

import flask.testing
import pandas as pd
import pytest
from ml_helpers import SMALL_POSITIVE, SMALL_TARGET, TrainedRun, synthesized_pipeline

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
    # A CSV body read as JSON: the message names the content type to send.
    assert response.get_data(as_text=True) == "the body looks like CSV, not JSON: send it with content type text/csv\n"


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


@pytest.mark.parametrize("accept", [CSV, JSON])
def test_a_file_over_one_request_is_sent_in_batches_and_answered_as_one(
    archive, model, rows, tmp_path, monkeypatch, capsys, accept: str
) -> None:
    monkeypatch.setattr(local_endpoint, "INVOKE_ENDPOINT_MAX_BYTES", 150)
    data, output = tmp_path / "big.csv", tmp_path / "p.out"
    rows.to_csv(data, index=False)
    assert data.stat().st_size > 3 * 150  # several requests

    assert local_endpoint.main(["predict", "--model", str(archive), "--data", str(data), "--output", str(output),
                                "--accept", accept]) == 0  # fmt: skip

    whole = inference.transform_fn(model, data.read_text(), CSV, accept).get_data()
    assert output.read_bytes() == whole
    assert "sent as at least 4 requests of whole rows" in capsys.readouterr().err


def test_batches_are_whole_lines_each_with_the_header_and_within_the_limit() -> None:
    body = b"h1,h2\n" + b"".join(b"%d,%d\n" % (n, n) for n in range(100))
    parts = local_endpoint.batches(body, b"h1,h2\n", limit=60)
    assert all(len(part) <= 60 and part.startswith(b"h1,h2\n") for part in parts)
    assert b"".join(part.removeprefix(b"h1,h2\n") for part in parts) == body.removeprefix(b"h1,h2\n")


def test_a_refused_batch_names_its_request_and_nothing_is_written(archive, rows, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(local_endpoint, "INVOKE_ENDPOINT_MAX_BYTES", 150)
    data, output = tmp_path / "big.csv", tmp_path / "p.csv"
    bad = rows.astype(object)
    bad.iloc[-1, 0] = "not-a-number" if rows.dtypes.iloc[0].kind == "f" else "unheard-of-level"
    bad.to_csv(data, index=False)
    assert local_endpoint.main(["predict", "--model", str(archive), "--data", str(data), "--output", str(output)]) == 1
    assert re.search(r"would answer 400 \(request (\d+) of \1; rows are counted within it\)", capsys.readouterr().err)
    assert not output.exists()


def _run_with_model(runs: Path, name: str, archive: Path) -> Path:
    folder = runs / name / "model"
    folder.mkdir(parents=True)
    (folder / "model.tar.gz").write_bytes(archive.read_bytes())
    return folder / "model.tar.gz"


@pytest.mark.parametrize("given", ["latest", "latest run", "LATEST"])
def test_latest_is_the_newest_runs_model(archive, tmp_path, given: str) -> None:
    _run_with_model(tmp_path, "20261127-053000-ab12", archive)
    newest = _run_with_model(tmp_path, "20261128-010000-0001", archive)
    assert local_endpoint.resolve_model(given, tmp_path) == newest


def test_a_runs_folder_is_its_model_and_other_paths_are_taken_as_they_are(archive, tmp_path) -> None:
    model = _run_with_model(tmp_path, "20261127-053000-ab12", archive)
    assert local_endpoint.resolve_model(str(tmp_path / "20261127-053000-ab12"), tmp_path) == model
    assert local_endpoint.resolve_model(str(archive), tmp_path) == archive


def test_latest_without_any_run_says_to_run_one(tmp_path) -> None:
    with pytest.raises(local_endpoint.LocalEndpointError, match=r"no run under .* has a model yet; run make local-run"):
        local_endpoint.resolve_model("latest", tmp_path)


def test_serve_on_a_busy_port_fails_before_saying_it_serves(archive, capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = local_endpoint.main(["serve", "--model", str(archive), "--port", str(port)])
    captured = capsys.readouterr()
    assert code == 1
    assert "serving" not in captured.out
    assert captured.err.startswith(f"error: cannot listen on 127.0.0.1:{port} (")
    assert captured.err.rstrip().endswith("choose another PORT=...")


def test_serving_locally_labels_at_the_cut_off_the_local_runs_report_shows(
    archive, rows, tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv(local_endpoint.THRESHOLD_ENV, raising=False)
    monkeypatch.setattr(local_endpoint.local_run, "label_threshold", lambda: "0.0")  # every row positive
    data, output = tmp_path / "rows.csv", tmp_path / "p.csv"
    rows.to_csv(data, index=False)
    assert local_endpoint.main(["predict", "--model", str(archive), "--data", str(data), "--output", str(output)]) == 0
    assert {line.split(",")[1] for line in output.read_text().splitlines()} == {SMALL_POSITIVE}
    assert local_endpoint.THRESHOLD_ENV not in os.environ  # set for the run only


def test_the_local_threshold_variable_is_the_entry_scripts() -> None:
    assert local_endpoint.THRESHOLD_ENV == inference_handlers.THRESHOLD_ENV
