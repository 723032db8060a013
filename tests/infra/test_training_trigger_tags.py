"""The tags the trigger writes on an upload's version (tags.py), within S3's tag rules and limits."""

from __future__ import annotations

from botocore.stub import Stubber

from constructs.training_trigger_lambda.training_trigger import (
    aws_clients,
    on_upload,
)
from constructs.training_trigger_lambda.training_trigger import tags as trigger_tags
from tests.infra.support.trigger_world import (
    GOOD_CSV,
    PINNED_BUCKET,
    PINNED_PREFIX,
    ROW,
    STUBBED_EXECUTION_ARN,
    TAG_VALUE,
    Aws,
    executions,
    expect_no_champion,
    mocked_aws,  # noqa: F401  (the fixture `aws`: the tests name it)
    start_request,
    tags_of,
    token_of,
    upload,
    version_id,
)


def test_rejection_tag_is_sanitised_to_s3_tag_rules() -> None:
    reason = "unknown columns 'a;b', 'ünïcode' (not in the data contract)\nnext" + "x" * 300
    value = trigger_tags.sanitize_tag_value(reason)
    assert value.startswith("unknown columns a b ünïcode not in the data contract next")
    assert len(value) == 256
    assert TAG_VALUE.fullmatch(value)


def test_a_bad_version_is_judged_on_its_own_bytes_and_only_it_is_tagged(aws: Aws) -> None:
    key = "incoming/adult.csv"
    bad_event = upload(aws, key, b"age,workclass,income-per-year,ssn\n" + ROW)
    good_event = upload(aws, key, GOOD_CSV)

    assert on_upload.handler(bad_event, None)["status"] == "rejected"
    assert on_upload.handler(good_event, None)["status"] == "started"

    assert "mlops:rejected" in tags_of(aws, key, version_id(bad_event))
    assert "mlops:rejected" not in tags_of(aws, key, version_id(good_event))
    assert len(executions(aws)) == 1


def test_without_room_for_the_marker_tag_redelivery_relies_on_the_request_token(aws: Aws) -> None:
    # moto starts a new execution for every call, repeated token or not; real SageMaker returns the first one.
    # The Stubber checks both calls carry the same token (and validates them against the service model).
    key = "incoming/adult.csv"
    full_tags = "&".join(f"t{i}=v{i}" for i in range(10))
    event = upload(aws, key, GOOD_CSV, tags=full_tags)
    arn = STUBBED_EXECUTION_ARN
    with Stubber(aws_clients.clients().sagemaker) as stubber:
        expect_no_champion(stubber)
        stubber.add_response("start_pipeline_execution", {"PipelineExecutionArn": arn})
        first = on_upload.handler(event, None)
        token = token_of(first["input_data_uri"])
        assert first["input_data_uri"] == f"s3://{PINNED_BUCKET}/{PINNED_PREFIX}{token}/"
        expect_no_champion(stubber)
        stubber.add_response(
            "start_pipeline_execution", {"PipelineExecutionArn": arn}, expected_params=start_request(token, event)
        )
        second = on_upload.handler(event, None)
        stubber.assert_no_pending_responses()

    assert (
        first
        == second
        == {"status": "started", "pipeline_execution_arn": arn, "input_data_uri": first["input_data_uri"]}
    )
    assert tags_of(aws, key, version_id(event)) == {f"t{i}": f"v{i}" for i in range(10)}
