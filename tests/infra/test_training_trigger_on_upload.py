"""The trigger's entry (on_upload.py): its log lines, and failures logged and raised for a retry."""

from __future__ import annotations

import io
import json
import logging

import pytest

from constructs.training_trigger_lambda.training_trigger import (
    on_upload,
)
from tests.infra.support.trigger_world import (
    DATA_BUCKET,
    GOOD_CSV,
    ROW,
    Aws,
    executions,
    mocked_aws,  # noqa: F401  (the fixture `aws`: the tests name it)
    token_of,
    upload,
)
from twin.lambda_host import LambdaJsonFormatter


def test_logs_are_one_json_object_per_line_without_row_contents(aws: Aws) -> None:
    # As Lambda writes the function's records with its JSON log format, from its ApplicationLogLevel (INFO).
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(LambdaJsonFormatter())
    capture.addFilter(lambda record: "training_trigger" in record.name)
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    try:
        started = on_upload.handler(upload(aws, "incoming/adult.csv", GOOD_CSV), None)
        on_upload.handler(upload(aws, "incoming/extra.csv", b"age,workclass,income-per-year,ssn\n" + ROW), None)
    finally:
        root.removeHandler(capture)
        root.setLevel(level)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["outcome"]) for line in lines] == [("INFO", "started"), ("INFO", "rejected")]
    assert lines[0]["pipeline_execution_arn"] == started["pipeline_execution_arn"]
    assert lines[0]["token"] == token_of(started["input_data_uri"])
    assert {"bucket", "key", "version_id", "token", "event_id", "timestamp", "message"} <= lines[1].keys()
    assert "SECRET-ROW-VALUE" not in stream.getvalue()


def test_a_failure_is_logged_with_its_error_and_raised(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(LambdaJsonFormatter())
    logger = logging.getLogger(on_upload.__name__)
    logger.addHandler(capture)
    monkeypatch.delenv("PIPELINE_NAME")
    try:
        with pytest.raises(RuntimeError, match="PIPELINE_NAME"):
            on_upload.handler(upload(aws, "incoming/adult.csv", GOOD_CSV), None)
    finally:
        logger.removeHandler(capture)

    (line,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert (line["level"], line["outcome"], line["errorType"]) == ("ERROR", "error", "RuntimeError")
    assert "PIPELINE_NAME" in line["errorMessage"]


def test_a_malformed_event_or_missing_setting_raises(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="not an S3 Object Created event"):
        on_upload.handler({"detail": {"bucket": {"name": DATA_BUCKET}}}, None)
    monkeypatch.delenv("TOPIC_ARN")
    with pytest.raises(RuntimeError, match="TOPIC_ARN"):
        on_upload.handler(upload(aws, "incoming/adult.csv", GOOD_CSV), None)
    assert executions(aws) == []
