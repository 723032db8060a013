"""The approver's world in moto: the dev environment's registry, S3, endpoint and deploy workflow as the pipeline and
the workflow leave them, with botocore's Stubber for Step Functions (moto cannot run the workflow's Lambda steps,
and the Stubber checks each request against the service model); and the command line run against it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.stub import Stubber
from moto import mock_aws

from settings import resource_names
from tools.approver import cli, environment, queries

ENV = "dev"
GROUP = resource_names.model_package_group_name(ENV)
ACCOUNT = "123456789012"  # moto's account
BUCKET = "mlops-dev-artifacts-123456789012-eu-west-1"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5"
MACHINE_ARN = f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:{resource_names.deploy_state_machine_name(ENV)}"
UPLOAD = "s3://mlops-dev-data-123456789012-eu-west-1/incoming/features.csv version 3HL4kqtJlcpXroDTDmJ"


def evaluation_json(auc: float, interval: tuple[float, float], **extra: Any) -> dict[str, Any]:
    """evaluation.json as ml_code/evaluate.py writes it (only the fields the tool reads, plus `extra`)."""
    return {
        "binary_classification_metrics": {
            name: {"value": value, "standard_deviation": 0.001}
            for name, value in {
                "auc": auc,
                "pr_auc": 0.81,
                "log_loss": 0.29,
                "brier_score": 0.09,
                "precision": 0.77,
                "recall": 0.64,
                "f1": 0.70,
                "accuracy": 0.87,
            }.items()
        },
        "evaluation_details": {
            "test_rows": 4885,
            "test_positive_rate": 0.239,
            "auc_confidence_interval_95": list(interval),
            "bootstrap_samples": 1000,
            "best_f1_threshold": 0.38,
            "calibration": [],
        },
        **extra,
    }


class Registry:
    """The dev environment as the pipeline and the deploy workflow leave it, in moto."""

    def __init__(self) -> None:
        self.region = environment.load_environment(ENV).region
        self.sagemaker = boto3.client("sagemaker", region_name=self.region)
        self.s3 = boto3.client("s3", region_name=self.region)
        self.s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": self.region})
        self.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        self.sagemaker.create_pipeline(
            PipelineName=resource_names.training_pipeline_name(ENV),
            PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/pipeline",
        )
        self.stepfunctions = boto3.client("stepfunctions", region_name=self.region)
        self.stub = Stubber(self.stepfunctions)

    def register(self, auc: float, status: str = queries.PENDING, **evaluation_extra: Any) -> str:
        """A package as the pipeline's Register step creates it, with its evaluation.json and report in S3."""
        execution = self.sagemaker.start_pipeline_execution(
            PipelineName=resource_names.training_pipeline_name(ENV),
            PipelineParameters=[
                {"Name": "InputDataUri", "Value": "s3://artifacts/pipeline-inputs/abc123/features.csv"},
                {"Name": "AucThreshold", "Value": "0.85"},
            ],
            PipelineExecutionDescription=UPLOAD,
        )["PipelineExecutionArn"]
        prefix = f"pipelines/mlops-dev-training/{execution.rsplit('/', 1)[1]}/evaluate"
        document = evaluation_json(auc, (auc - 0.007, auc + 0.006), **evaluation_extra)
        self.s3.put_object(Bucket=BUCKET, Key=f"{prefix}/evaluation.json", Body=json.dumps(document).encode())
        self.s3.put_object(Bucket=BUCKET, Key=f"{prefix}/report.html", Body=b"<html></html>")
        evaluation_uri = f"s3://{BUCKET}/{prefix}/evaluation.json"
        return self.sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/train/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv", "application/json"],
                "SupportedResponseMIMETypes": ["text/csv", "application/json"],
            },
            ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": evaluation_uri}}},
            MetadataProperties={"GeneratedBy": execution},
            CustomerMetadataProperties={
                "auc": str(auc),
                "evaluation_uri": evaluation_uri,
                "report_uri": f"s3://{BUCKET}/{prefix}/report.html",
            },
        )["ModelPackageArn"]

    def serve(self, package_arn: str, version: int) -> None:
        """The endpoint as the deploy workflow leaves it: config and model named after the version."""
        name = f"{resource_names.endpoint_name(ENV)}-v{version}-0123abcd"
        self.sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/model",
            Containers=[{"ModelPackageName": package_arn}],
        )
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
        )
        self.sagemaker.create_endpoint(EndpointName=resource_names.endpoint_name(ENV), EndpointConfigName=name)

    def clients(self, region: str, profile: str | None) -> environment.Aws:
        assert (region, profile) == (self.region, None)
        s3 = boto3.client("s3", region_name=region, config=environment.aws_clients(region).s3.meta.config)
        sts = boto3.client("sts", region_name=region)
        return environment.Aws(sagemaker=self.sagemaker, s3=s3, stepfunctions=self.stepfunctions, sts=sts)

    def status_of(self, arn: str) -> dict[str, Any]:
        return self.sagemaker.describe_model_package(ModelPackageName=arn)


def registry_in_moto() -> Iterator[Registry]:
    """For a fixture: a Registry inside mock_aws, its Step Functions stub checked for unused responses at the end."""
    with mock_aws():
        registry = Registry()
        with registry.stub:
            yield registry
        registry.stub.assert_no_pending_responses()


def run(registry: Registry, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), registry.clients, out, err)
    return code, out.getvalue(), err.getvalue()


def run_json(registry: Registry, *argv: str) -> dict[str, Any]:
    code, out, err = run(registry, "--json", *argv)
    assert (code, err) == (0, "")
    return json.loads(out)
