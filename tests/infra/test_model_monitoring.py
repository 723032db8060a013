"""Monitoring in the templates (schedule, job role, alarms, retraining rule) and its two functions against moto's
SageMaker (botocore's Stubber where moto differs from AWS's documentation)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Match, Template
from botocore.stub import Stubber
from moto import mock_aws

from constructs.model_monitoring import METRICS_NAMESPACE, monitoring_alarm_names
from constructs.model_monitoring_lambda.model_monitoring import aws_clients, launcher, retraining
from tests.infra.support.synthesis import Synthesized

REGION = "eu-west-1"
ENDPOINT = "mlops-test"
GROUP = "mlops-test"
PIPELINE = "mlops-test-training"
CONFIG = "mlops-test-v1-0123456789ab"
BASELINE = "s3://mlops-test-artifacts/pipelines/mlops-test-training/abc/evaluate/monitoring_baseline.json"
MONITOR_SETTINGS = {
    "environment": "test",
    "environment_tag_key": "mlops:environment",
    "endpoint_name": ENDPOINT,
    "variant_name": "AllTraffic",
    "job_name_prefix": "mlops-test-monitor",
    "job_role_arn": "arn:aws:iam::123456789012:role/mlops-test-monitor-job",
    "image_uri": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5",
    "entrypoint": ["/bin/bash", "-c", "run", "run-ml-code"],
    "code_uri": "s3://cdk-assets-test/code-0123.tar.gz",
    "code_path": "/opt/ml/processing/input/code",
    "output_path": "/opt/ml/processing/output/monitoring",
    "capture_uri": "s3://mlops-test-artifacts/data-capture/mlops-test",
    "labels_uri": "s3://mlops-test-artifacts/labels/mlops-test/",
    "report_uri": "s3://mlops-test-artifacts/monitoring/mlops-test",
    "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/test-key",
    "instance_type": "ml.m5.large",
    "window_hours": 24,
    "label_window_days": 7,
    "metrics_namespace": "MLOps/ModelMonitoring",
    "alarms": {
        "feature_psi": 0.25,
        "score_psi": 0.25,
        "realized_auc_drop": 0.05,
        "min_rows": 100,
        "min_labelled_rows": 100,
    },
}
RETRAINING_SETTINGS = {
    "environment": "test",
    "pipeline_name": PIPELINE,
    "endpoint_name": ENDPOINT,
    "variant_name": "AllTraffic",
    "min_interval_hours": 168,
}
SCHEDULED = {"detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-03-04T05:00:00Z", "detail": {}}


def alarm_event(state: str = "ALARM", timestamp: str = "2026-03-04T05:10:00.000+0000") -> dict[str, Any]:
    return {
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "detail": {"alarmName": "mlops-test-feature-drift", "state": {"value": state, "timestamp": timestamp}},
    }


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "MONITOR_SETTINGS": json.dumps(MONITOR_SETTINGS),
        "RETRAINING_SETTINGS": json.dumps(RETRAINING_SETTINGS),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        aws_clients.clients.cache_clear()  # the handlers' clients are created inside this mock
        yield boto3.client("sagemaker")
        aws_clients.clients.cache_clear()


def serve(sagemaker: Any, baseline: str | None = BASELINE) -> str:
    """An endpoint serving version 1 of the group, created as the deploy workflow creates it (model from package)."""
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    extra = {
        "DriftCheckBaselines": {
            "ModelDataQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": baseline}}
        }
    }
    package = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {"Image": MONITOR_SETTINGS["image_uri"], "ModelDataUrl": "s3://mlops-test-artifacts/model.tar.gz"}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        **(extra if baseline else {}),
    )["ModelPackageArn"]
    sagemaker.create_model(
        ModelName=CONFIG,
        Containers=[{"ModelPackageName": package}],
        ExecutionRoleArn="arn:aws:iam::123456789012:role/m",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=CONFIG,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": CONFIG, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=CONFIG)
    return package


def test_the_launcher_starts_the_job_for_the_serving_version(sagemaker: Any) -> None:
    package = serve(sagemaker)
    result = launcher.handler(SCHEDULED, None)
    assert result == {
        "status": "started",
        "job_name": "mlops-test-monitor-202603040500",
        "report_uri": "s3://mlops-test-artifacts/monitoring/mlops-test/mlops-test-monitor-202603040500/monitoring_report.json",
    }
    job = sagemaker.describe_processing_job(ProcessingJobName=result["job_name"])
    arguments = job["AppSpecification"]["ContainerArguments"]
    assert arguments[0] == "monitor.py"
    given = dict(zip(arguments[1::2], arguments[2::2], strict=True))
    assert given["--baseline"] == BASELINE
    assert given["--model-version"] == "1"
    assert given["--window-end"] == "2026-03-04T05:00:00+00:00"
    assert given["--endpoint-name"] == ENDPOINT
    assert given["--metrics-namespace"] == METRICS_NAMESPACE
    assert job["RoleArn"] == MONITOR_SETTINGS["job_role_arn"]
    tags = sagemaker.list_tags(ResourceArn=job["ProcessingJobArn"])["Tags"]
    assert {"Key": "mlops:model-package-arn", "Value": package} in tags
    assert {"Key": "mlops:environment", "Value": "test"} in tags


def test_a_redelivered_schedule_event_starts_nothing_new(sagemaker: Any) -> None:
    serve(sagemaker)
    # moto accepts a second job of the same name; AWS answers ResourceInUse (CreateProcessingJob, Errors). The
    # answers before it as the API reference shapes them (moto's DescribeEndpoint carries an empty DataCaptureConfig).
    package = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"][0]
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    arn = f"arn:aws:sagemaker:{REGION}:123456789012"
    answers = [
        (
            "describe_endpoint",
            {
                "EndpointName": ENDPOINT,
                "EndpointArn": f"{arn}:endpoint/{ENDPOINT}",
                "EndpointConfigName": CONFIG,
                "EndpointStatus": "InService",
                "CreationTime": created,
                "LastModifiedTime": created,
            },
        ),
        (
            "describe_endpoint_config",
            {
                "EndpointConfigName": CONFIG,
                "EndpointConfigArn": f"{arn}:endpoint-config/{CONFIG}",
                "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": CONFIG}],
                "CreationTime": created,
            },
        ),
        (
            "describe_model",
            {
                "ModelName": CONFIG,
                "ModelArn": f"{arn}:model/{CONFIG}",
                "Containers": [{"ModelPackageName": package["ModelPackageArn"]}],
                "CreationTime": created,
            },
        ),
        (
            "describe_model_package",
            {
                "ModelPackageName": GROUP,
                "ModelPackageArn": package["ModelPackageArn"],
                "ModelPackageVersion": 1,
                "CreationTime": created,
                "ModelPackageStatus": "Completed",
                "ModelPackageStatusDetails": {"ValidationStatuses": []},
                "DriftCheckBaselines": {
                    "ModelDataQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": BASELINE}}
                },
            },
        ),
    ]
    client = boto3.client("sagemaker")
    with Stubber(client) as stub:
        for operation, response in answers:
            response.pop("ResponseMetadata", None)
            stub.add_response(operation, response)
        stub.add_client_error("create_processing_job", "ResourceInUse", "Job name must be unique")
        assert launcher.run(SCHEDULED, MONITOR_SETTINGS, aws_clients.Clients(sagemaker=client)) == {
            "status": "already started",
            "job_name": "mlops-test-monitor-202603040500",
        }


def test_no_endpoint_is_reported_not_raised(sagemaker: Any) -> None:
    result = launcher.handler(SCHEDULED, None)
    assert result["status"] == "skipped"
    assert "does not exist" in result["reason"]


def test_a_version_without_baseline_is_reported_not_raised(sagemaker: Any) -> None:
    serve(sagemaker, baseline=None)
    result = launcher.handler(SCHEDULED, None)
    assert result["status"] == "skipped"
    assert "no drift-check baseline" in result["reason"]
    assert sagemaker.list_processing_jobs()["ProcessingJobSummaries"] == []


def pipeline(sagemaker: Any) -> None:
    sagemaker.create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": []}),
        RoleArn="arn:aws:iam::123456789012:role/mlops-test-pipeline",
    )


def test_retraining_ignores_a_change_back_to_ok(sagemaker: Any) -> None:
    assert retraining.handler(alarm_event("OK"), None)["status"] == "ignored"


def test_retraining_needs_an_earlier_run(sagemaker: Any) -> None:
    pipeline(sagemaker)
    assert retraining.handler(alarm_event(), None) == {
        "status": "skipped",
        "reason": "the pipeline has never run: there is no export to retrain on",
    }


def test_retraining_starts_the_last_runs_input_with_the_serving_champion(sagemaker: Any) -> None:
    package = serve(sagemaker)
    pipeline(sagemaker)
    first = sagemaker.start_pipeline_execution(
        PipelineName=PIPELINE,
        PipelineParameters=[
            {"Name": "InputDataUri", "Value": "s3://mlops-test-artifacts/pipeline-inputs/abc/export.csv"},
            {"Name": "InputDataVersion", "Value": "v1"},
            {"Name": "ChampionModelUri", "Value": ""},
        ],
    )["PipelineExecutionArn"]
    later = datetime.now(timezone.utc) + timedelta(hours=169)
    result = retraining.run(
        alarm_event(), RETRAINING_SETTINGS, aws_clients.Clients(sagemaker=boto3.client("sagemaker")), now=later
    )
    assert result["status"] == "started"
    assert result["pipeline_execution_arn"] != first
    parameters = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=result["pipeline_execution_arn"])
    assert {(p["Name"], p["Value"]) for p in parameters["PipelineParameters"]} == {
        ("InputDataUri", "s3://mlops-test-artifacts/pipeline-inputs/abc/export.csv"),
        ("InputDataVersion", "v1"),
        ("ChampionModelUri", "s3://mlops-test-artifacts/model.tar.gz"),
        ("ChampionModelPackageArn", package),
    }


def test_retraining_waits_for_the_minimum_interval(sagemaker: Any) -> None:
    pipeline(sagemaker)
    sagemaker.start_pipeline_execution(PipelineName=PIPELINE)
    result = retraining.handler(alarm_event(), None)
    assert result == {"status": "skipped", "reason": "the last run started less than 168 hours ago"}


def test_retraining_never_starts_beside_an_executing_run(sagemaker: Any) -> None:
    # moto marks every execution Succeeded at once: the executing run comes from the Stubber.
    client = boto3.client("sagemaker")
    with Stubber(client) as stub:
        stub.add_response(
            "list_pipeline_executions",
            {
                "PipelineExecutionSummaries": [
                    {
                        "PipelineExecutionArn": f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/{PIPELINE}/execution/x",
                        "StartTime": datetime(2020, 1, 1, tzinfo=timezone.utc),
                        "PipelineExecutionStatus": "Executing",
                    }
                ]
            },
        )
        result = retraining.run(alarm_event(), RETRAINING_SETTINGS, aws_clients.Clients(sagemaker=client))
    assert result == {"status": "skipped", "reason": "a run of the pipeline is executing"}


def test_a_redelivered_alarm_event_asks_with_the_same_token(sagemaker: Any) -> None:
    # SageMaker answers a repeated ClientRequestToken with the execution it started (StartPipelineExecution).
    serve(sagemaker)
    pipeline(sagemaker)
    sagemaker.start_pipeline_execution(PipelineName=PIPELINE)
    later = datetime.now(timezone.utc) + timedelta(hours=169)
    tokens = []
    client = boto3.client("sagemaker")
    client.meta.events.register(
        "provide-client-params.sagemaker.StartPipelineExecution",
        lambda params, **_: tokens.append(params["ClientRequestToken"]),
    )
    retraining.run(alarm_event(), RETRAINING_SETTINGS, aws_clients.Clients(sagemaker=client), now=later)
    retraining.run(alarm_event(), RETRAINING_SETTINGS, aws_clients.Clients(sagemaker=client), now=later)
    assert len(tokens) == 2 and tokens[0] == tokens[1]


# ------------------------------------------------------------------------------------------------ templates


def training(synthesized: Synthesized, name: str) -> Template:
    return Template.from_json(synthesized.templates[name]["Training"])


@pytest.mark.parametrize(("name", "state"), [("dev", "DISABLED"), ("stg", "DISABLED"), ("prod", "ENABLED")])
def test_the_schedule_is_on_where_cdk_json_switches_it_on(synthesized: Synthesized, name: str, state: str) -> None:
    training(synthesized, name).has_resource_properties(
        "AWS::Events::Rule",
        {"Name": f"mlops-{name}-monitoring-schedule", "ScheduleExpression": "rate(1 day)", "State": state},
    )


@pytest.mark.parametrize("name", ["dev", "stg", "prod"])
def test_retraining_is_off_by_default(synthesized: Synthesized, name: str) -> None:
    training(synthesized, name).has_resource_properties(
        "AWS::Events::Rule",
        {
            "Name": f"mlops-{name}-monitoring-retraining",
            "State": "DISABLED",
            "EventPattern": Match.object_like(
                {"detail-type": ["CloudWatch Alarm State Change"], "detail": {"state": {"value": ["ALARM"]}}}
            ),
        },
    )


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_each_monitoring_alarm_watches_the_endpoint_in_the_projects_namespace(
    synthesized: Synthesized, name: str
) -> None:
    template = training(synthesized, name)
    for alarm_name, metric in zip(
        monitoring_alarm_names(f"mlops-{name}"), ("MaxFeaturePSI", "ScorePSI", "RealizedAUCDrop"), strict=True
    ):
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "AlarmName": alarm_name,
                "Namespace": METRICS_NAMESPACE,
                "MetricName": metric,
                "Dimensions": [{"Name": "EndpointName", "Value": f"mlops-{name}"}],
                "Period": 86400,
                "TreatMissingData": "ignore",
                "AlarmActions": Match.any_value(),
                "OKActions": Match.any_value(),
            },
        )


def test_the_alarm_thresholds_come_from_cdk_json(synthesized: Synthesized) -> None:
    training(synthesized, "prod").has_resource_properties(
        "AWS::CloudWatch::Alarm", {"AlarmName": "mlops-prod-feature-drift", "Threshold": 0.25}
    )
    training(synthesized, "prod").has_resource_properties(
        "AWS::CloudWatch::Alarm", {"AlarmName": "mlops-prod-realized-auc-drop", "Threshold": 0.05}
    )


def test_the_launcher_settings_are_the_ones_the_tests_give(synthesized: Synthesized) -> None:
    (function,) = [
        resource
        for resource in synthesized.templates["dev"]["Training"]["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"]["Handler"] == "model_monitoring.launcher.handler"
    ]
    rendered = json.dumps(function["Properties"]["Environment"]["Variables"]["MONITOR_SETTINGS"])
    for key in MONITOR_SETTINGS:
        assert f'\\"{key}\\"' in rendered, key
