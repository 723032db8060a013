"""The endpoint's request handling: parse a body, check it against the manifest, predict, serialise.

These are the classic input_fn / predict_fn / output_fn, kept out of inference.py on purpose: the XGBoost
image refuses to start when the entry script defines transform_fn together with any of them, and only
transform_fn can answer a bad request with 400 instead of 500. Reading a request's rows into the model's features
(and BadRequest) is request_features.py.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import xgboost as xgb

import model_io
from arrow_csv import BOM
from artifacts import Manifest
from request_features import BadRequest, ParsedBody, encoded_request, request_columns

CSV = "text/csv"
JSON = "application/json"
ANY = "*/*"
THRESHOLD_ENV = "PREDICTION_THRESHOLD"
DEFAULT_THRESHOLD = 0.5
# InvokeEndpoint's Body is at most 6 MB (6291456 bytes; SageMaker Runtime API reference, InvokeEndpoint):
# a larger body can only come from somewhere else (a local server, a proxy) and is refused unread.
MAX_BODY_BYTES = 6 * 1024 * 1024
# The request wrapper of TensorFlow Serving and of SageMaker's common JSON inference format ("Common data formats for
# inference"): {"instances": [...]}. Rows keyed by column name inside it are read as a plain list of records.
INSTANCES_KEY = "instances"
# The keys of an instance in that format's positional shapes, which carry values without column names.
_POSITIONAL_KEYS = frozenset({"features", "data", "configuration"})


class UnsupportedContentType(BadRequest):
    status = 415


class UnsupportedAccept(BadRequest):
    status = 406


@dataclasses.dataclass(frozen=True)
class Model:
    booster: xgb.Booster
    manifest: Manifest
    threshold: float


@dataclasses.dataclass(frozen=True)
class Prediction:
    probabilities: np.ndarray
    labels: list[str]


def threshold_from_env(environ: dict[str, str]) -> float:
    raw = environ.get(THRESHOLD_ENV, str(DEFAULT_THRESHOLD))
    try:
        threshold = float(raw)
    except ValueError:
        raise ValueError(f"{THRESHOLD_ENV}={raw!r} is not a number") from None
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"{THRESHOLD_ENV}={raw!r} must be between 0 and 1")
    return threshold


def load_model(model_dir: Path, threshold: float) -> Model:
    return Model(model_io.load_booster(model_dir), Manifest.load(model_dir), threshold)


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _looks_like_json(text: str) -> bool:
    """Whether a text/csv body is in fact a JSON document (an object or a list)."""
    if text[:1] not in ("{", "["):
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _looks_like_csv(text: str) -> bool:
    """Whether an application/json body that is not JSON reads as CSV: no JSON opening, a comma on its first line."""
    return text[:1] not in ("{", "[", '"') and "," in text.split("\n", 1)[0]


def _parsed_json(body: str) -> object:
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        if _looks_like_csv(body.strip()):
            raise BadRequest(f"the body looks like CSV, not JSON: send it with content type {CSV}") from None
        raise BadRequest(f"the body is not valid JSON (line {error.lineno}, column {error.colno})") from None
    except ValueError:
        # Python refuses to convert integers of more than 4,300 digits (sys.get_int_max_str_digits).
        raise BadRequest("the JSON body holds a number with too many digits") from None
    except RecursionError:
        raise BadRequest("the JSON body is nested too deeply; send an object or a list of objects") from None


def input_fn(body: str | bytes, content_type: str) -> ParsedBody:
    media_type = _media_type(content_type)
    if media_type not in (CSV, JSON):
        raise UnsupportedContentType(f"content type {media_type or 'none'!r} is not supported; use {CSV} or {JSON}")
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes, SageMaker's limit for a request")
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequest("the request body is not UTF-8 text") from None
    # The XGBoost image hands text/csv and application/json bodies over as text (sagemaker-containers'
    # Request.content decodes them), so a byte order mark arrives as a character.
    elif body.startswith(BOM):
        body = body[1:]
    if not body.strip():
        raise BadRequest("the request body is empty")
    if media_type == CSV:
        text = body.strip()
        if _looks_like_json(text):
            raise BadRequest(f"the body is JSON, not CSV: send it with content type {JSON}")
        return ParsedBody(csv_text=text)
    document = _parsed_json(body)
    if isinstance(document, dict) and list(document) == [INSTANCES_KEY]:
        document = _instances(document[INSTANCES_KEY])
    records = [document] if isinstance(document, dict) else document
    if not isinstance(records, list) or not records or not all(isinstance(record, dict) for record in records):
        raise BadRequest("a JSON body must be an object or a non-empty list of objects, one per row")
    return ParsedBody(records=records)


def _instances(instances: object) -> object:
    """The rows of an {"instances": [...]} body: objects keyed by column name are taken as they are; the positional
    shapes of SageMaker's built-in algorithms ({"features": [...]}, {"data": ...}, bare lists) are refused by name,
    since a list of values carries no column names to check."""
    if isinstance(instances, list) and instances and all(isinstance(row, dict) for row in instances):
        first = set(instances[0])
        if first and first <= _POSITIONAL_KEYS:
            raise BadRequest(
                f"'instances' holds {sorted(first)[0]!r} entries (the built-in algorithms' positional format); "
                "send each row as an object keyed by column name"
            )
        return instances
    raise BadRequest(
        "'instances' must be a non-empty list of objects keyed by column name, one per row (lists of values carry "
        "no column names)"
    )


def predicted_labels(probabilities: np.ndarray, model: Model) -> list[str]:
    positive, negative = model.manifest.positive_label, model.manifest.negative_label
    # One comparison for all rows, in float32 as `p >= threshold` of each float32 p would be (NumPy 2 compares a
    # Python float with float32 values in float32).
    return [positive if hit else negative for hit in (probabilities >= model.threshold).tolist()]


def predict_fn(data: ParsedBody, model: Model) -> Prediction:
    manifest = model.manifest
    probabilities = model.booster.inplace_predict(encoded_request(request_columns(data, manifest), manifest))
    return Prediction(probabilities, predicted_labels(probabilities, model))


def response_type(accept: str | None) -> str:
    """The first supported media type in the Accept header; JSON when the client takes anything."""
    for part in (accept or ANY).split(","):
        media_type = _media_type(part)
        if media_type in (JSON, ANY, ""):
            return JSON
        if media_type == CSV:
            return CSV
    raise UnsupportedAccept(f"accept {accept!r} is not supported; use {CSV} or {JSON}")


def output_fn(prediction: Prediction, accept: str | None) -> tuple[str, str]:
    """(body, media type): JSON {"predictions": [{"probability", "label"}]} or CSV rows `probability,label`."""
    media_type = response_type(accept)
    # A float32 as a Python float prints its exact value, so clients get what Booster.predict returned.
    probabilities = prediction.probabilities.tolist()
    labels = prediction.labels
    if media_type == CSV:
        return _csv_predictions(probabilities, labels), CSV
    if np.isfinite(prediction.probabilities).all():
        return _json_predictions(probabilities, labels), JSON
    # Only json.dumps writes a non-finite float as JSON's NaN or Infinity.
    rows = [{"probability": p, "label": label} for p, label in zip(probabilities, labels, strict=True)]
    return json.dumps({"predictions": rows}), JSON


# The two bodies below are what json.dumps and csv.writer write, character for character (tests compare them),
# but formatted row by row from each float's repr (which both write) and each label's form, found once: for a
# 1,000-row answer, a third of json.dumps's time and two thirds of csv.writer's.


def _json_predictions(probabilities: list[float], labels: list[str]) -> str:
    """json.dumps({"predictions": [{"probability": p, "label": label}, ...]}) for finite probabilities."""
    encoded = {label: json.dumps(label) for label in set(labels)}
    rows = [
        f'{{"probability": {p!r}, "label": {encoded[label]}}}' for p, label in zip(probabilities, labels, strict=True)
    ]
    return '{"predictions": [' + ", ".join(rows) + "]}"


def _csv_predictions(probabilities: list[float], labels: list[str]) -> str:
    """csv.writer's rows `probability,label` (lines ending in \\n)."""
    cells = {label: _csv_cell(label) for label in set(labels)}
    return "".join([f"{p!r},{cells[label]}\n" for p, label in zip(probabilities, labels, strict=True)])


def _csv_cell(text: str) -> str:
    """The text as csv.writer writes it in a row's last cell: quoted only where it must be."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([0, text])
    return buffer.getvalue()[len("0,") : -1]
