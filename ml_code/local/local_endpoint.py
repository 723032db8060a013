"""The endpoint's HTTP contract on this machine, around the real entry script (inference.py).

    python ml_code/local/local_endpoint.py serve --model MODEL [--host 127.0.0.1] [--port 8080]
    python ml_code/local/local_endpoint.py predict --model MODEL --data FILE.csv [--output FILE] [--accept text/csv]

MODEL is a model.tar.gz (as training writes it), a folder holding its files, a local run's folder, or `latest` (the
newest run under runs/); the entry script and the modules it imports are loaded from the model's own code/ folder,
as the container loads them. `predict` posts the file as text/csv requests of at most 6 MB each (InvokeEndpoint's
limit; a larger file goes in batches of whole rows, each with the header) and writes the answers, in order, as one
body; `serve` answers HTTP on localhost until stopped.

In SageMaker's XGBoost 3.0-5 image a script-mode model is served by sagemaker-containers: nginx on port 8080 in
front of gunicorn running a Flask app (`Worker`) whose /invocations calls the entry script's transform_fn through
`Transformer`. `endpoint_app` rebuilds that app's rules (aws/sagemaker-containers, src/sagemaker_containers/
_worker.py and _transformer.py at 526dda9, etc/nginx.conf.template; aws/sagemaker-xgboost-container,
src/sagemaker_xgboost_container/serving.py):

- GET /ping: 200 with an empty body once model_fn has loaded the model.
- POST /invocations: the content type is the `ContentType` header, else `Content-Type`, else application/json; the
  body reaches transform_fn as text when the content type is exactly text/csv or application/json, as bytes
  otherwise. Accept is the `Accept` header, or SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (default application/json)
  when it is missing or */*. transform_fn's Flask Response goes back as it is, a (body, mimetype) tuple as a 200;
  an exception is a 500.
- Any other path: 404 with the body {} (nginx); another method on /ping or /invocations: 405 (Flask).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import flask
from werkzeug.serving import make_server

# The container modules are this folder's parent, imported as flat siblings as in the containers. The tools live
# apart so that the code bundle carries only what SageMaker runs (ml_code/bundle_contents.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import local_run
import model_io

# What the entry script reads its label cut-off from (inference_handlers.THRESHOLD_ENV), as the model package sets it.
THRESHOLD_ENV = "PREDICTION_THRESHOLD"
# The entry script the model package names (SAGEMAKER_PROGRAM; tests check it against the synthesized pipeline).
ENTRY_SCRIPT = "inference.py"
CSV = "text/csv"
JSON = "application/json"
ANY = "*/*"
TEXT_TYPES = (JSON, CSV)
DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
# InvokeEndpoint's Body is at most 6 MB (6,291,456 bytes; botocore's sagemaker-runtime service model).
INVOKE_ENDPOINT_MAX_BYTES = 6 * 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS_DIR = REPO_ROOT / "runs"
DEFAULT_PREDICTIONS_DIR = RUNS_DIR / "predictions"
LATEST = "latest"


class LocalEndpointError(Exception):
    """Bad MODEL or DATA, or a request the endpoint refused: one sentence for the user."""


@dataclass(frozen=True)
class LoadedModel:
    """A model as model_fn returned it, and the entry script that loaded it (whose transform_fn serves it)."""

    model: Any
    entry_script: Any


def resolve_model(text: str, runs_dir: Path = RUNS_DIR) -> Path:
    """MODEL as given: `latest` (or `latest run`) is the newest local run's model; a run's folder is its model."""
    if text.strip().lower() in (LATEST, f"{LATEST} run"):
        # Run folders are named by UTC time, so the last in name order is the newest.
        archives = sorted(runs_dir.glob(f"*/model/{model_io.MODEL_ARCHIVE_NAME}"))
        if not archives:
            raise LocalEndpointError(f"MODEL={text}: no run under {runs_dir} has a model yet; run make local-run first")
        return archives[-1]
    model = Path(text)
    in_run = model / "model" / model_io.MODEL_ARCHIVE_NAME
    return in_run if in_run.is_file() else model


def entry_script(code_dir: Path | None = None) -> Any:
    """The entry script: from the model's own code/ folder when it has one, as the container loads it
    (SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code), else ml_code's (a model trained before code/ existed)."""
    if code_dir is None:
        return importlib.import_module(Path(ENTRY_SCRIPT).stem)
    # The entry script and every module it imports come from code_dir, not from the ml_code this process runs:
    # each is loaded fresh, and the modules already loaded are put back afterwards.
    names = [path.stem for path in code_dir.glob("*.py")]
    loaded_before = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, str(code_dir))
    importlib.invalidate_caches()
    try:
        return importlib.import_module(Path(ENTRY_SCRIPT).stem)
    finally:
        sys.path.remove(str(code_dir))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(loaded_before)


def load(model: Path) -> LoadedModel:
    """model_fn on what SageMaker would put in /opt/ml/model: MODEL itself, or its archive extracted."""
    if not model.exists():
        raise LocalEndpointError(f"MODEL={model}: no such file or folder")
    with tempfile.TemporaryDirectory(prefix="local-endpoint-") as staging:
        folder = model
        if model.is_file():
            # extract_model_archive reads `model.tar.gz` inside a folder and extracts it to a new temp folder.
            shutil.copyfile(model, Path(staging) / model_io.MODEL_ARCHIVE_NAME)
            folder = model_io.extract_model_archive(Path(staging))
        try:
            if not (folder / model_io.MODEL_FILE_NAME).is_file():
                raise LocalEndpointError(
                    f"MODEL={model} holds no {model_io.MODEL_FILE_NAME}: give a model.tar.gz from training or its folder"
                )
            code_dir = folder / model_io.SERVING_CODE_DIR_NAME
            script = entry_script(code_dir if (code_dir / ENTRY_SCRIPT).is_file() else None)
            return LoadedModel(script.model_fn(str(folder)), script)
        finally:
            if folder not in (model, Path(staging)):
                shutil.rmtree(folder, ignore_errors=True)  # the model and its code are in memory now


def load_model(model: Path) -> Any:
    return load(model).model


def endpoint_app(model: Any, transform_fn: Callable[..., Any] | None = None) -> flask.Flask:
    """A Flask app with the container's /ping and /invocations around the entry script's transform_fn."""
    transform = transform_fn or entry_script().transform_fn
    default_accept = os.environ.get(DEFAULT_ACCEPT_ENV, JSON)
    app = flask.Flask("local_endpoint")

    @app.get("/ping")
    def ping() -> flask.Response:
        return flask.Response(status=200)

    @app.post("/invocations")
    def invocations() -> Any:
        request = flask.request
        content_type = request.headers.get("ContentType") or request.headers.get("Content-Type") or JSON
        accept = request.headers.get("Accept")
        if not accept or accept == ANY:
            accept = default_accept
        body = request.get_data(as_text=content_type in TEXT_TYPES)
        result = transform(model, body, content_type, accept)
        if isinstance(result, tuple):
            return flask.Response(response=result[0], mimetype=result[1])
        return result

    @app.errorhandler(404)
    def not_found(_: Exception) -> flask.Response:
        return flask.Response("{}", status=404, mimetype="application/octet-stream")

    return app


def read_data(data: Path) -> bytes:
    if not data.is_file():
        raise LocalEndpointError(f"DATA={data}: no such file")
    return data.read_bytes()


def default_output(data: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return DEFAULT_PREDICTIONS_DIR / f"{data.name.split('.')[0]}-{stamp}.csv"


def batches(body: bytes, header: bytes | None, limit: int) -> list[bytes]:
    """The body cut into requests of at most `limit` bytes, at line ends, each starting with the header (if any)."""
    if len(body) <= limit:
        return [body]
    lines = body.splitlines(keepends=True)
    if header is not None:
        lines = lines[1:]
    prefix = header or b""
    parts, current, size = [], [prefix], len(prefix)
    for line in lines:
        if len(prefix) + len(line) > limit:
            raise LocalEndpointError(f"a line of {len(line)} bytes does not fit a request of {limit} bytes")
        if size + len(line) > limit:
            parts.append(b"".join(current))
            current, size = [prefix], len(prefix)
        current.append(line)
        size += len(line)
    parts.append(b"".join(current))
    return parts


def _header_line(body: bytes, model: Any) -> bytes | None:
    """The body's first line when it is a header (names a known column), as the endpoint decides it."""
    first = body.split(b"\n", 1)[0] + b"\n"
    manifest = model.manifest
    known = {*manifest.feature_names, manifest.target_column, *manifest.ignored_columns}
    names = first.decode("utf-8-sig", "replace").strip().split(",")
    return first if any(name.strip() in known for name in names) else None


def _joined(answers: list[bytes], mimetype: str) -> bytes:
    if len(answers) == 1:
        return answers[0]
    if mimetype == JSON:
        rows = [row for answer in answers for row in json.loads(answer)["predictions"]]
        return json.dumps({"predictions": rows}).encode("utf-8")
    return b"".join(answers)


def predict(model: Path, data: Path, output: Path | None, accept: str = CSV) -> tuple[Path, bytes]:
    """POST DATA to /invocations as text/csv requests of at most INVOKE_ENDPOINT_MAX_BYTES, as the endpoint receives them; write
    the answers in order (one body, as one request would have given it). Nothing is written if a request fails."""
    body = read_data(data)
    loaded = load(model)
    client = endpoint_app(loaded.model, loaded.entry_script.transform_fn).test_client()
    requests = batches(body, _header_line(body, loaded.model), INVOKE_ENDPOINT_MAX_BYTES)
    answers, mimetype = [], CSV
    for number, request in enumerate(requests, start=1):
        response = client.post("/invocations", data=request, headers={"Content-Type": CSV, "Accept": accept})
        if response.status_code != 200:
            message = response.get_data().decode("utf-8", "replace").strip()
            where = f" (request {number} of {len(requests)}; rows are counted within it)" if len(requests) > 1 else ""
            raise LocalEndpointError(f"DATA={data}: the endpoint would answer {response.status_code}{where}: {message}")
        answers.append(response.get_data())
        mimetype = response.mimetype
    answer = _joined(answers, mimetype)
    if output is None:
        output = default_output(data).with_suffix(".json" if mimetype == JSON else ".csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(answer)
    return output, answer


def serve(model: Path, host: str, port: int) -> None:
    loaded = load(model)
    app = endpoint_app(loaded.model, loaded.entry_script.transform_fn)
    try:
        # Bound here, before anything is printed: a busy port fails now, not after "serving at ..." (werkzeug's own
        # check would print its advice and exit).
        listening = socket.create_server((host, port))
    except OSError as error:
        raise LocalEndpointError(
            f"cannot listen on {host}:{port} ({error.strerror}); choose another PORT=..."
        ) from None
    server = make_server(host, port, app, fd=listening.fileno())
    print(f"serving {model} at http://{host}:{port} (GET /ping, POST /invocations); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        listening.close()


@contextlib.contextmanager
def report_cut_off() -> Iterator[None]:
    """The entry script labels at the cut-off a local run's report shows (cdk.json's first environment), unless
    PREDICTION_THRESHOLD is set; the process's environment is as it was afterwards."""
    if THRESHOLD_ENV in os.environ:
        yield
        return
    os.environ[THRESHOLD_ENV] = local_run.label_threshold()
    try:
        yield
    finally:
        os.environ.pop(THRESHOLD_ENV, None)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The endpoint's entry script on this machine.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="answer GET /ping and POST /invocations on localhost")
    model_help = f"a model.tar.gz, its folder, a run's folder, or {LATEST!r} (the newest run under runs/)"
    serve_parser.add_argument("--model", required=True, help=model_help)
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8080)  # the port SageMaker sends requests to
    predict_parser = commands.add_parser("predict", help="score a CSV file as one request to the endpoint")
    predict_parser.add_argument("--model", required=True, help=model_help)
    predict_parser.add_argument("--data", type=Path, required=True)
    predict_parser.add_argument("--output", type=Path, help=f"default: {DEFAULT_PREDICTIONS_DIR}/<data>-<time>.csv")
    predict_parser.add_argument("--accept", default=CSV, choices=[CSV, JSON])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        model = resolve_model(args.model)
        with report_cut_off():
            if args.command == "serve":
                serve(model, args.host, args.port)
                return 0
            output, answer = predict(model, args.data, args.output, args.accept)
    except LocalEndpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    size = args.data.stat().st_size
    if size > INVOKE_ENDPOINT_MAX_BYTES:
        requests = -(-size // INVOKE_ENDPOINT_MAX_BYTES)
        print(
            f"note: {args.data} is {size / 1024 / 1024:.1f} MB, over a request's 6 MB: sent as at least {requests} "
            "requests of whole rows, as a client of the real endpoint must",
            file=sys.stderr,
        )
    rows = answer.count(b"\n") if args.accept == CSV else None
    scored = f"{rows} rows scored; " if rows is not None else ""
    print(f"{scored}predictions (the endpoint's {args.accept} response): {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
