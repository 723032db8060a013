"""SageMaker's data-capture files, read into requests: the rows a caller sent and the scores the endpoint answered.

The format ("Capture data from real-time endpoint", SageMaker developer guide; its example record):

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "69,0,153.7,...", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "text/csv; charset=utf-8", "mode": "OUTPUT",
                                        "data": "0.0254", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "...", "inferenceId": "...", "inferenceTime": "2019-11-22T08:24:40Z"},
     "eventVersion": "0"}

One JSON object per line, in files under <DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/. `encoding` is
CSV or JSON for the content types named in CaptureContentTypeHeader (the deploy workflow names text/csv and
application/json), BASE64 otherwise. `inferenceId` is there when the caller passed InvokeEndpoint's InferenceId.

Bodies are read as the endpoint reads them (inference_handlers): CSV with or without a header row, JSON as an
object, a list of objects or {"instances": [...]}; answers as JSON {"predictions": [{"probability": ...}]} or
CSV rows `probability,label`. What cannot be read is counted by reason, never dropped silently.
"""

from __future__ import annotations

import base64
import binascii
import csv
import dataclasses
import io
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

CSV = "text/csv"
JSON = "application/json"
BOM = "\ufeff"


@dataclasses.dataclass
class CapturedRequest:
    rows: list[dict[str, object]]  # column name -> value as sent
    scores: list[float] | None  # one per row, or None when the answer could not be read as scores
    inference_id: str | None
    inference_time: str | None


@dataclasses.dataclass
class CaptureWindow:
    requests: list[CapturedRequest] = dataclasses.field(default_factory=list)
    files: int = 0
    records: int = 0
    # reason -> number of records (or requests) that could not be used, e.g. "not JSON", "unreadable input body".
    problems: Counter = dataclasses.field(default_factory=Counter)

    @property
    def rows(self) -> int:
        return sum(len(request.rows) for request in self.requests)


class CaptureProblem(ValueError):
    """Why one captured record cannot be used; the message is a reason to count (no data in it)."""


def _media_type(content_type: object) -> str:
    return str(content_type or "").split(";")[0].strip().lower()


def payload_text(payload: object) -> tuple[str, str]:
    """(media type, text) of a captured endpointInput or endpointOutput."""
    if not isinstance(payload, dict) or "data" not in payload:
        raise CaptureProblem("record without data")
    data, encoding = payload["data"], str(payload.get("encoding", "")).upper()
    if not isinstance(data, str):
        raise CaptureProblem("data is not a string")
    if encoding == "BASE64":
        try:
            raw = base64.b64decode(data, validate=True)
            data = raw.decode("utf-8-sig")
        except (binascii.Error, ValueError):
            raise CaptureProblem("data is not base64-encoded UTF-8 text") from None
    elif encoding not in ("CSV", "JSON"):
        raise CaptureProblem(f"unknown encoding {encoding[:20]!r}")
    return _media_type(payload.get("observedContentType")), data.removeprefix(BOM)


def _json_rows(text: str) -> list[dict[str, object]]:
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise CaptureProblem("input body is not JSON") from None
    if isinstance(document, dict) and list(document) == ["instances"]:
        document = document["instances"]
    rows = [document] if isinstance(document, dict) else document
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        raise CaptureProblem("JSON input body is not an object or a list of objects")
    return rows


def _csv_rows(text: str, features: list[str], known_columns: set[str]) -> list[dict[str, object]]:
    try:
        lines = [line for line in csv.reader(io.StringIO(text.strip())) if line]
    except csv.Error:
        raise CaptureProblem("input body is not readable CSV") from None
    if not lines:
        raise CaptureProblem("input body is empty")
    # As the endpoint decides: the first row is a header when any of its fields is a known column name.
    header = [name.strip() for name in lines[0]]
    names = header if any(name in known_columns for name in header) else features
    data = lines[1:] if names is header else lines
    if any(len(line) != len(names) for line in data):
        raise CaptureProblem("CSV input row with the wrong number of values")
    if not data:
        raise CaptureProblem("CSV input body has a header but no rows")
    return [dict(zip(names, line, strict=True)) for line in data]


def input_rows(payload: object, features: list[str], known_columns: set[str]) -> list[dict[str, object]]:
    media_type, text = payload_text(payload)
    if media_type == CSV:
        return _csv_rows(text, features, known_columns)
    if media_type == JSON:
        return _json_rows(text)
    raise CaptureProblem(f"input content type {media_type[:40]!r} is not text/csv or application/json")


def _score(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CaptureProblem("answer holds a score that is not a number")
    try:
        score = float(value)
    except ValueError:
        raise CaptureProblem("answer holds a score that is not a number") from None
    if not 0.0 <= score <= 1.0:
        raise CaptureProblem("answer holds a score outside [0, 1]")
    return score


def output_scores(payload: object) -> list[float]:
    """The probabilities of an answer: {"predictions": [{"probability": p, ...}]} or CSV rows `p[,label]`."""
    media_type, text = payload_text(payload)
    if media_type == JSON:
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise CaptureProblem("answer is not JSON") from None
        predictions = document.get("predictions") if isinstance(document, dict) else None
        if not isinstance(predictions, list) or not all(isinstance(item, dict) for item in predictions):
            raise CaptureProblem("answer has no predictions (an error answer?)")
        return [_score(item.get("probability")) for item in predictions]
    if media_type == CSV:
        lines = [line for line in csv.reader(io.StringIO(text.strip())) if line]
        return [_score(line[0]) for line in lines]
    raise CaptureProblem(f"answer content type {media_type[:40]!r} is not text/csv or application/json")


def parse_record(line: str, features: list[str], known_columns: set[str], window: CaptureWindow) -> None:
    """One captured line into the window, or one more count of what was wrong with it."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        window.problems["capture line is not JSON"] += 1
        return
    data = record.get("captureData") if isinstance(record, dict) else None
    if not isinstance(data, dict):
        window.problems["capture line has no captureData"] += 1
        return
    metadata = record.get("eventMetadata") if isinstance(record.get("eventMetadata"), dict) else {}
    try:
        rows = input_rows(data.get("endpointInput"), features, known_columns)
    except CaptureProblem as problem:
        window.problems[f"request unusable: {problem}"] += 1
        return
    scores: list[float] | None
    try:
        scores = output_scores(data.get("endpointOutput"))
        if len(scores) != len(rows):
            raise CaptureProblem("answer has a different number of scores than the request has rows")
    except CaptureProblem as problem:
        window.problems[f"answer unusable (features still counted): {problem}"] += 1
        scores = None
    inference_id = metadata.get("inferenceId")
    window.requests.append(
        CapturedRequest(
            rows=rows,
            scores=scores,
            inference_id=str(inference_id) if inference_id is not None else None,
            inference_time=metadata.get("inferenceTime"),
        )
    )


def capture_files(folder: Path) -> list[Path]:
    """Every capture file under a folder (SageMaker's dated layout, any depth), in name order."""
    return sorted(path for path in folder.rglob("*.jsonl") if path.is_file())


def read_lines(lines: Iterable[str], features: list[str], known_columns: set[str], window: CaptureWindow) -> None:
    for line in lines:
        if line.strip():
            window.records += 1
            parse_record(line, features, known_columns, window)


def read_window(files: Iterable[Path], features: list[str], known_columns: set[str]) -> CaptureWindow:
    window = CaptureWindow()
    for path in files:
        window.files += 1
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            window.problems["capture file is not UTF-8 text"] += 1
            continue
        read_lines(text.splitlines(), features, known_columns, window)
    return window


def capture_record(
    input_body: str,
    input_type: str,
    output_body: str,
    output_type: str,
    inference_id: str | None = None,
    inference_time: str = "2026-01-01T00:00:00Z",
    base64_encoded: bool = False,
) -> str:
    """One line as data capture writes it (for replays and tests): text payloads with encoding CSV or JSON, or
    BASE64 as for content types outside CaptureContentTypeHeader."""

    def payload(body: str, content_type: str, mode: str) -> dict[str, str]:
        if base64_encoded:
            return {
                "observedContentType": content_type,
                "mode": mode,
                "data": base64.b64encode(body.encode("utf-8")).decode("ascii"),
                "encoding": "BASE64",
            }
        encoding = "JSON" if _media_type(content_type) == JSON else "CSV"
        return {"observedContentType": content_type, "mode": mode, "data": body, "encoding": encoding}

    metadata: dict[str, str] = {"eventId": f"event-{inference_id or 'none'}", "inferenceTime": inference_time}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    record = {
        "captureData": {
            "endpointInput": payload(input_body, input_type, "INPUT"),
            "endpointOutput": payload(output_body, output_type, "OUTPUT"),
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }
    return json.dumps(record)
