"""An accepted upload's pinned copy and its pipeline execution (pipeline_start.py): one per object version,
whatever SageMaker or the redelivery does."""

from __future__ import annotations

import gzip

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from constructs.training_trigger_lambda.training_trigger import (
    aws_clients,
    on_upload,
)
from tests.infra.support.trigger_world import (
    DATA_BUCKET,
    GOOD_CSV,
    NO_CHAMPION,
    PINNED_BUCKET,
    PINNED_PREFIX,
    STUBBED_EXECUTION_ARN,
    Aws,
    executions,
    expect_no_champion,
    mocked_aws,  # noqa: F401  (the fixture `aws`: the tests name it)
    notifications,
    pinned_body,
    pinned_keys,
    start_request,
    tags_of,
    token_of,
    upload,
    version_id,
)


def test_good_upload_starts_the_pipeline_on_a_pinned_copy_of_that_version(aws: Aws) -> None:
    key = "incoming/2024-06 adult+sample.csv"
    event = upload(aws, key, GOOD_CSV)

    result = on_upload.handler(event, None)

    assert result["status"] == "started"
    token = token_of(result["input_data_uri"])
    assert pinned_keys(aws) == [f"{PINNED_PREFIX}{token}/2024-06 adult+sample.csv"]
    assert pinned_body(aws, result["input_data_uri"], "2024-06 adult+sample.csv") == GOOD_CSV
    pinned_tags = aws.s3.get_object_tagging(Bucket=PINNED_BUCKET, Key=pinned_keys(aws)[0])["TagSet"]
    assert pinned_tags == []
    [execution] = executions(aws)
    assert execution["PipelineExecutionArn"] == result["pipeline_execution_arn"]
    assert execution["PipelineExecutionDescription"] == f"s3://{DATA_BUCKET}/{key} version {version_id(event)}"
    assert execution["PipelineExecutionDisplayName"] == f"upload-{token[:24]}"
    parameters = aws.sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=result["pipeline_execution_arn"]
    )["PipelineParameters"]
    assert parameters == [
        {"Name": "InputDataUri", "Value": result["input_data_uri"]},
        {"Name": "InputDataVersion", "Value": version_id(event)},
        *NO_CHAMPION,  # the environment's first model: gated on the threshold alone
    ]
    # The source version is marked as started, its own tags kept; nothing is notified on success.
    assert tags_of(aws, key, version_id(event)) == {
        "owner": "feature-export",
        "mlops:pipeline-execution": result["pipeline_execution_arn"],
    }
    assert notifications(aws) == []


def test_a_compressed_upload_starts_the_pipeline_on_a_pinned_gzip_copy(aws: Aws) -> None:
    body = gzip.compress(GOOD_CSV, mtime=0)
    event = upload(aws, "incoming/adult.csv.gz", body)

    result = on_upload.handler(event, None)

    assert result["status"] == "started"
    # Preprocess reads *.csv.gz under InputDataUri as gzip (ml_code/input_files.py, CSV_SUFFIXES).
    assert pinned_body(aws, result["input_data_uri"], "adult.csv.gz") == body


def test_an_upper_case_suffix_is_pinned_with_the_suffix_preprocess_reads(aws: Aws) -> None:
    result = on_upload.handler(upload(aws, "incoming/Export.CSV", GOOD_CSV), None)

    assert result["status"] == "started"
    assert pinned_body(aws, result["input_data_uri"], "Export.csv") == GOOD_CSV


def test_duplicate_delivery_starts_one_execution(aws: Aws) -> None:
    event = upload(aws, "incoming/adult.csv", GOOD_CSV)

    results = [on_upload.handler(event, None) for _ in range(3)]

    assert results[1] == results[0] == results[2]
    assert [e["PipelineExecutionArn"] for e in executions(aws)] == [results[0]["pipeline_execution_arn"]]
    assert len(pinned_keys(aws)) == 1


def test_throttled_start_raises_and_the_retry_starts_with_the_same_token(aws: Aws) -> None:
    key = "incoming/adult.csv"
    event = upload(aws, key, GOOD_CSV)
    sagemaker = aws_clients.clients().sagemaker
    with Stubber(sagemaker) as stubber:
        expect_no_champion(stubber)
        stubber.add_client_error("start_pipeline_execution", "ThrottlingException", "Rate exceeded", 400)
        with pytest.raises(ClientError, match="ThrottlingException"):
            on_upload.handler(event, None)
        # The pinned copy exists now; the redelivery must still start the pipeline.
        assert len(pinned_keys(aws)) == 1
        assert "mlops:pipeline-execution" not in tags_of(aws, key, version_id(event))

        arn = STUBBED_EXECUTION_ARN
        token = token_of(f"s3://{PINNED_BUCKET}/{pinned_keys(aws)[0].rsplit('/', 1)[0]}/")
        expect_no_champion(stubber)
        stubber.add_response(
            "start_pipeline_execution", {"PipelineExecutionArn": arn}, expected_params=start_request(token, event)
        )
        result = on_upload.handler(event, None)
        stubber.assert_no_pending_responses()

    assert result["pipeline_execution_arn"] == arn
    assert tags_of(aws, key, version_id(event))["mlops:pipeline-execution"] == arn
    assert notifications(aws) == []
