"""AWS's documented sample events, as this project's rules and handlers see them."""

from __future__ import annotations

DATA_BUCKET = "mlops-dev-data-${AWS::AccountId}-${AWS::Region}"
PIPELINE_ARN = "arn:aws:sagemaker:eu-west-1:${AWS::AccountId}:pipeline/mlops-dev-training"

# AWS's sample "Object Created" event (Amazon S3 User Guide, EventBridge event message structure).
OBJECT_CREATED = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "123456789012",
    "time": "2021-11-12T00:00:00Z",
    "region": "eu-west-1",
    "resources": [f"arn:aws:s3:::{DATA_BUCKET}"],
    "detail": {
        "version": "0",
        "bucket": {"name": DATA_BUCKET},
        "object": {
            "key": "incoming/features.csv",
            "size": 5,
            "etag": "b1946ac92492d2347c6235b4d2611184",
            "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
            "sequencer": "00617F08299329D189",
        },
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "1.2.3.4",
        "reason": "PutObject",
    },
}
# AWS's sample "SageMaker Model Building Pipeline Execution Status Change" event (SageMaker Developer Guide).
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
# AWS's sample "SageMaker Model Package State Change" event, trimmed to the fields rules and handlers read.
MODEL_PACKAGE_STATE_CHANGE = {
    "version": "0",
    "id": "844e2571-85d4-695f-b930-0153b71dcb42",
    "detail-type": "SageMaker Model Package State Change",
    "source": "aws.sagemaker",
    "account": "123456789012",
    "time": "2021-02-24T17:00:14Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlops-dev/3"],
    "detail": {
        "ModelPackageGroupName": "mlops-dev",
        "ModelPackageVersion": 3,
        "ModelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlops-dev/3",
        "CreationTime": 1614185940000,
        "ModelApprovalStatus": "PendingManualApproval",
        "ModelPackageStatus": "Completed",
        "CustomerMetadataProperties": {
            "auc": "0.9281",
            "evaluation_uri": "s3://artifacts/pipelines/mlops-dev-training/abc/evaluate/evaluation.json",
            "report_uri": "s3://artifacts/pipelines/mlops-dev-training/abc/evaluate/report.html",
        },
    },
}
