"""AWS's documented sample events, shaped as this project's rules and handlers see them."""

from __future__ import annotations

from typing import Any

DATA_BUCKET = "mlops-dev-data-${AWS::AccountId}-${AWS::Region}"
PIPELINE_ARN = "arn:aws:sagemaker:eu-west-1:${AWS::AccountId}:pipeline/mlops-dev-training"


def object_created(
    bucket: str = DATA_BUCKET,
    key: str = "incoming/features.csv",
    size: int = 5,
    etag: str = "b1946ac92492d2347c6235b4d2611184",
    version_id: str = "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
    region: str = "eu-west-1",
) -> dict[str, Any]:
    """The sample "Object Created" event (Amazon S3 User Guide, EventBridge event message structure)."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2021-11-12T00:00:00Z",
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": etag,
                "version-id": version_id,
                "sequencer": "00617F08299329D189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject",
        },
    }


def model_package_state_change(
    status: str = "PendingManualApproval", group: str = "mlops-dev", version: int = 3
) -> dict[str, Any]:
    """The sample "SageMaker Model Package State Change" event (SageMaker Developer Guide), with the
    metadata this project's pipeline registers. The documented sample repeats "source" (once as a list):
    a typo; the event EventBridge delivers has one."""
    arn = f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/{group}/{version}"
    run = "s3://artifacts/pipelines/mlops-dev-training/abc/evaluate"
    return {
        "version": "0",
        "id": "844e2571-85d4-695f-b930-0153b71dcb42",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2021-02-24T17:00:14Z",
        "region": "eu-west-1",
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageVersion": version,
            "ModelPackageArn": arn,
            "CreationTime": "2021-02-24T17:00:14Z",
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5",
                        "ImageDigest": "sha256:4dc8a7e4a010a19bb9e0a6b063f355393f6e623603361bd8b105f554d4f0c004",
                        "ModelDataUrl": f"s3://artifacts/pipelines/mlops-dev-training/abc/train/{group}/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "CertifyForMarketplace": False,
            "ModelApprovalStatus": status,
            "MetadataProperties": {
                "GeneratedBy": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/mlops-dev-training/execution/abc"
            },
            "CustomerMetadataProperties": {
                "auc": "0.9281",
                "evaluation_uri": f"{run}/evaluation.json",
                "report_uri": f"{run}/report.html",
            },
            "LastModifiedTime": "2021-02-24T17:00:14Z",
        },
    }


OBJECT_CREATED = object_created()
MODEL_PACKAGE_STATE_CHANGE = model_package_state_change()

# The sample "SageMaker Model Building Pipeline Execution Status Change" event (SageMaker Developer Guide).
PIPELINE_STATUS_CHANGE = {
    "version": "0",
    "id": "315c1398-40ff-a850-213b-158f73e60175",
    "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
    "source": "aws.sagemaker",
    "account": "123456789012",
    "time": "2021-03-15T16:10:11Z",
    "region": "eu-west-1",
    "resources": [PIPELINE_ARN, f"{PIPELINE_ARN}/execution/190x2jwd5qkk"],
    "detail": {
        "pipelineExecutionDisplayName": "upload-0123456789abcdef01234567",
        "currentPipelineExecutionStatus": "Failed",
        "previousPipelineExecutionStatus": "Executing",
        "executionStartTime": "2021-03-15T16:03:13Z",
        "executionEndTime": "2021-03-15T16:10:10Z",
        "pipelineExecutionDescription": "s3://bucket/incoming/features.csv version 1",
        "pipelineArn": PIPELINE_ARN,
        "pipelineExecutionArn": f"{PIPELINE_ARN}/execution/190x2jwd5qkk",
    },
}
