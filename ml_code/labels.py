"""Outcomes the calling application uploads later, keyed by the InferenceId it sent with the request.

A label file is CSV with a header row, or JSON Lines, with these fields (docs/monitoring.md):

    inference_id   the InferenceId passed to InvokeEndpoint (data capture records it as eventMetadata.inferenceId)
    label          the outcome: the positive or negative label as in the training data (e.g. >50K / <=50K),
                   or 1 / 0, or true / false
    row            optional, 0-based: the row of a request that sent several rows (default 0)

A row that cannot be read (no inference id, a bad label, a bad row number) and a label given twice with different
values are counted by reason; the first value of a consistent duplicate is kept.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

LABEL_SUFFIXES = (".csv", ".jsonl", ".json")


def label_value(value: object, positive: str, negative: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    text = str(value).strip() if value is not None else ""
    if text == positive or text.lower() in ("1", "true"):
        return 1
    if text == negative or text.lower() in ("0", "false"):
        return 0
    raise ValueError("bad label value")


def _row_number(value: object) -> int:
    if value is None or value == "":
        return 0
    number = int(str(value).strip())
    if number < 0:
        raise ValueError("negative row")
    return number


def _entries(path: Path, problems: Counter) -> Iterable[dict]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        problems["label file is not UTF-8 text"] += 1
        return []
    if path.suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "inference_id" not in reader.fieldnames or "label" not in reader.fieldnames:
            problems["label CSV without an inference_id,label header"] += 1
            return []
        return list(reader)
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            problems["label line is not JSON"] += 1
            continue
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            problems["label line is not a JSON object"] += 1
    return entries


def read_labels(files: Iterable[Path], positive: str, negative: str) -> tuple[dict[tuple[str, int], int], Counter]:
    """(inference id, row) -> 0/1, and the count of unusable entries by reason."""
    labels: dict[tuple[str, int], int] = {}
    problems: Counter = Counter()
    for path in files:
        for entry in _entries(path, problems):
            inference_id = entry.get("inference_id")
            if inference_id is None or not str(inference_id).strip():
                problems["label without an inference_id"] += 1
                continue
            try:
                value = label_value(entry.get("label"), positive, negative)
            except ValueError:
                problems["label value is neither the positive nor the negative label, 1/0 or true/false"] += 1
                continue
            try:
                row = _row_number(entry.get("row"))
            except ValueError:
                problems["label row is not a whole number >= 0"] += 1
                continue
            key = (str(inference_id).strip(), row)
            if key in labels and labels[key] != value:
                problems["label given twice with different values (first kept)"] += 1
                continue
            labels.setdefault(key, value)
    return labels, problems


def label_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix in LABEL_SUFFIXES)
