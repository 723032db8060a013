"""Which object version an event names (uploads.py): keys as they arrive, encoded or not; folder markers; versions
deleted, gone, overwritten or delivered out of order; the request token per version."""

from __future__ import annotations

import re

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from constructs.training_trigger_lambda.training_trigger import (
    aws_clients,
    on_upload,
    uploads,
)
from tests.infra.support.trigger_world import (
    DATA_BUCKET,
    GOOD_CSV,
    Aws,
    executions,
    form_encoded,
    mocked_aws,  # noqa: F401  (the fixture `aws`: the tests name it)
    notifications,
    pinned_body,
    pinned_keys,
    tags_of,
    token_of,
    upload,
    version_id,
)

KEYS = {
    "space and plus": "incoming/2024-06 adult+sample.csv",
    "equals signs": "incoming/export=2024/day=01/features.csv",
    "non-ASCII": "incoming/données été/Ångström 日本.csv",
    "percent and ampersand": "incoming/100% c++ & more.csv",
}


@pytest.mark.parametrize("encoded", [False, True], ids=["key as is", "key URL-encoded"])
@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
def test_a_key_with_special_characters_is_found_either_way_it_arrives(aws: Aws, key: str, encoded: bool) -> None:
    event = upload(aws, key, GOOD_CSV)
    delivered = form_encoded(event) if encoded else event

    result = on_upload.handler(delivered, None)

    assert result["status"] == "started"
    assert pinned_body(aws, result["input_data_uri"], key.rsplit("/", 1)[-1]) == GOOD_CSV
    assert tags_of(aws, key, version_id(event))["mlops:pipeline-execution"] == result["pipeline_execution_arn"]
    [execution] = executions(aws)
    assert execution["PipelineExecutionDescription"] == f"s3://{DATA_BUCKET}/{key} version {version_id(event)}"


def test_the_same_upload_delivered_encoded_and_as_is_starts_one_execution(aws: Aws) -> None:
    event = upload(aws, "incoming/a b+c.csv", GOOD_CSV)

    first = on_upload.handler(form_encoded(event), None)
    second = on_upload.handler(event, None)

    assert first == second
    assert len(executions(aws)) == 1
    assert len(pinned_keys(aws)) == 1


def test_a_plus_names_whichever_object_holds_the_events_version(aws: Aws) -> None:
    # "incoming/a+b.csv" in an event is "a b.csv" URL-encoded or a literal "a+b.csv": the version decides.
    spaced = upload(aws, "incoming/a b.csv", GOOD_CSV)
    plussed = upload(aws, "incoming/a+b.csv", GOOD_CSV + b"50,Private,<=50K\n")

    for event, key in ((form_encoded(spaced), "incoming/a b.csv"), (plussed, "incoming/a+b.csv")):
        assert event["detail"]["object"]["key"] == "incoming/a+b.csv"
        result = on_upload.handler(event, None)
        assert result["status"] == "started"
        stored = aws.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
        assert pinned_body(aws, result["input_data_uri"], key.rsplit("/", 1)[-1]) == stored
    assert len(executions(aws)) == 2


def test_the_consoles_folder_marker_is_ignored_silently(aws: Aws) -> None:
    event = upload(aws, "incoming/", b"")

    assert on_upload.handler(event, None) == {"status": "ignored", "reason": "folder marker"}

    assert tags_of(aws, "incoming/", version_id(event)) == {"owner": "feature-export"}
    assert notifications(aws) == []
    assert executions(aws) == []


def test_an_upload_deleted_before_the_event_is_handled_is_not_trained_and_notified_once(aws: Aws) -> None:
    key = "incoming/adult.csv"
    event = upload(aws, key, GOOD_CSV)
    aws.s3.delete_object(Bucket=DATA_BUCKET, Key=key)  # versioned: the latest version is now a delete marker

    first, second = on_upload.handler(event, None), on_upload.handler(event, None)

    reason = "deleted before training started: the object's latest version is a delete marker"
    assert first == second == {"status": "rejected", "reason": reason}
    [notification] = notifications(aws)
    assert reason in notification["Message"]
    assert "Upload it again if it should be trained." in notification["Message"]
    assert executions(aws) == []
    assert pinned_keys(aws) == []
    # The deleted version itself is kept (and marked), as every rejected upload is.
    assert aws.s3.get_object(Bucket=DATA_BUCKET, Key=key, VersionId=version_id(event))["Body"].read() == GOOD_CSV
    assert "mlops:rejected" in tags_of(aws, key, version_id(event))


def test_an_upload_whose_version_is_gone_is_not_trained_and_notified(aws: Aws) -> None:
    key = "incoming/adult.csv"
    event = upload(aws, key, GOOD_CSV)
    aws.s3.delete_object(Bucket=DATA_BUCKET, Key=key, VersionId=version_id(event))  # permanently

    result = on_upload.handler(form_encoded(event), None)

    assert result == {
        "status": "gone",
        "reason": "the object version no longer exists (deleted before the upload could be checked)",
    }
    [notification] = notifications(aws)
    assert notification["Subject"] == f"[test] Upload not trained: {key}"
    assert result["reason"] in notification["Message"]
    assert executions(aws) == []
    assert pinned_keys(aws) == []


def test_a_failing_version_listing_raises_for_a_retry_and_reports_nothing(aws: Aws) -> None:
    event = upload(aws, "incoming/adult.csv", GOOD_CSV)
    with Stubber(aws_clients.clients().s3) as stubber:
        stubber.add_client_error("list_object_versions", "SlowDown", "Please reduce your request rate.", 503)
        with pytest.raises(ClientError, match="SlowDown"):
            on_upload.handler(event, None)
        stubber.assert_no_pending_responses()

    assert notifications(aws) == []
    assert executions(aws) == []
    # The redelivery (Lambda's retry) then starts the run.
    assert on_upload.handler(event, None)["status"] == "started"


def test_a_second_version_of_the_same_key_is_a_second_execution_on_its_own_bytes(aws: Aws) -> None:
    key = "incoming/adult.csv"
    second_csv = GOOD_CSV + b"50,Private,<=50K\n"
    first_event = upload(aws, key, GOOD_CSV)
    second_event = upload(aws, key, second_csv)  # overwritten before the first event is handled

    first = on_upload.handler(first_event, None)
    second = on_upload.handler(second_event, None)

    assert first["status"] == second["status"] == "started"
    assert first["pipeline_execution_arn"] != second["pipeline_execution_arn"]
    assert token_of(first["input_data_uri"]) != token_of(second["input_data_uri"])
    assert len(executions(aws)) == 2
    # Each execution reads the bytes of its own version, whatever the key holds now.
    assert pinned_body(aws, first["input_data_uri"], "adult.csv") == GOOD_CSV
    assert pinned_body(aws, second["input_data_uri"], "adult.csv") == second_csv

    aws.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=b"age,workclass,income-per-year\n1,later,x\n")
    assert pinned_body(aws, first["input_data_uri"], "adult.csv") == GOOD_CSV
    assert pinned_body(aws, second["input_data_uri"], "adult.csv") == second_csv


def test_reordered_events_each_train_their_own_version(aws: Aws) -> None:
    # EventBridge does not promise order: the newer version's event may come first.
    key = "incoming/adult.csv"
    second_csv = GOOD_CSV + b"50,Private,<=50K\n"
    first_event = upload(aws, key, GOOD_CSV)
    second_event = upload(aws, key, second_csv)

    second = on_upload.handler(second_event, None)
    first = on_upload.handler(first_event, None)
    again = on_upload.handler(second_event, None)

    assert first["status"] == second["status"] == "started"
    assert again == second
    assert pinned_body(aws, first["input_data_uri"], "adult.csv") == GOOD_CSV
    assert pinned_body(aws, second["input_data_uri"], "adult.csv") == second_csv
    assert len(executions(aws)) == 2


def test_token_is_per_object_version_and_fits_sagemaker() -> None:
    base = uploads.Upload(bucket=DATA_BUCKET, key="incoming/a.csv", size=1, etag="e1", version_id="v1")
    token = uploads.derive_token(base)
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    model = botocore.session.get_session().get_service_model("sagemaker")
    limits = model.operation_model("StartPipelineExecution").input_shape.members["ClientRequestToken"].metadata
    assert limits["min"] <= len(token) <= limits["max"]
    assert uploads.derive_token(base) == token
    assert uploads.derive_token(uploads.Upload(DATA_BUCKET, "incoming/a.csv", 1, "e1", "v2")) != token
    assert uploads.derive_token(uploads.Upload(DATA_BUCKET, "incoming/b.csv", 1, "e1", "v1")) != token
    # Without a version id the etag tells uploads apart.
    unversioned = uploads.Upload(DATA_BUCKET, "incoming/a.csv", 1, "e1", None)
    assert uploads.derive_token(unversioned) != uploads.derive_token(
        uploads.Upload(DATA_BUCKET, "incoming/a.csv", 1, "e2", None)
    )
