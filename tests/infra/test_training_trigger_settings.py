"""The trigger's settings (settings.py): which columns the environment's settings allow or ignore, and a malformed
setting refused as a configuration error."""

from __future__ import annotations

import json

import pytest

from constructs.training_trigger_lambda.training_trigger import (
    on_upload,
    settings,
)
from tests.infra.support.trigger_world import (
    ROW,
    Aws,
    mocked_aws,  # noqa: F401  (the fixture `aws`: the tests name it)
    upload,
)


def test_any_columns_are_allowed_when_allowed_columns_is_null(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_COLUMNS", "null")
    event = upload(aws, "incoming/wide.csv", b"age,anything,else,income-per-year\n" + ROW)

    assert on_upload.handler(event, None)["status"] == "started"


@pytest.mark.parametrize(
    "header", [b"id,age,workclass,email,income-per-year", b"age,workclass,income-per-year"], ids=["present", "absent"]
)
def test_the_contracts_ignored_columns_are_accepted_and_not_required(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, header: bytes
) -> None:
    monkeypatch.setenv("IGNORED_COLUMNS", json.dumps(["id", "email", "created_at"]))
    row = b"7,39,State-gov,a@example.com,<=50K\n" if header.startswith(b"id") else ROW
    event = upload(aws, "incoming/export.csv", header + b"\n" + row)

    assert on_upload.handler(event, None)["status"] == "started"


def test_a_malformed_ignored_columns_setting_is_a_configuration_error() -> None:
    environ = {
        name: "x"
        for name in (
            "PIPELINE_NAME",
            "TOPIC_ARN",
            "TARGET_COLUMN",
            "PINNED_INPUT_BUCKET",
            "PINNED_INPUT_PREFIX",
            "ENVIRONMENT_NAME",
            "ENDPOINT_NAME",
        )
    }
    environ |= {"MAX_UPLOAD_BYTES": "1", "ALLOWED_COLUMNS": "null", "IGNORED_COLUMNS": '"id"'}
    with pytest.raises(RuntimeError, match="IGNORED_COLUMNS must be a JSON list"):
        settings.load_settings(environ)
