"""The approvers' command line (tools/approver/) against moto, with botocore's Stubber for Step Functions.

moto holds the model registry, S3, the endpoint and STS. Step Functions executions are stubbed: moto cannot
run the deploy workflow's Lambda steps, and the Stubber checks each request against the service model.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from botocore.awsrequest import AWSResponse
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


@pytest.fixture
def registry() -> Iterator[Registry]:
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


# --- pending ---------------------------------------------------------------------------------------------------


def test_pending_lists_only_versions_waiting_with_auc_interval_and_the_serving_models_auc(registry) -> None:
    served = registry.register(0.921, status=queries.APPROVED)
    registry.serve(served, 1)
    registry.register(0.915, status=queries.REJECTED)
    registry.register(0.931)
    registry.register(0.925)

    result = run_json(registry, "pending", ENV)

    assert [item["version"] for item in result["pending"]] == [4, 3]  # newest first
    newest = result["pending"][0]
    assert newest["auc"] == 0.925
    assert newest["auc_interval_95"] == pytest.approx([0.918, 0.931])
    assert newest["auc_vs_serving"] == pytest.approx(0.925 - 0.921)
    assert result["serving"]["version"] == 1 and result["auc_threshold"] == 0.85


def test_pending_report_link_is_a_sigv4_presigned_get_of_the_report(registry) -> None:
    registry.register(0.931)
    (item,) = run_json(registry, "pending", ENV)["pending"]
    link = urlparse(item["report_link"])
    query = parse_qs(link.query)
    assert link.scheme == "https" and link.path.endswith("/evaluate/report.html")
    assert link.hostname == f"{BUCKET}.s3.{registry.region}.amazonaws.com"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(queries.REPORT_LINK_SECONDS)]


def test_pending_text_has_one_row_per_version_and_says_nothing_serves(registry) -> None:
    registry.register(0.931)
    code, out, _ = run(registry, "pending", ENV)
    lines = out.splitlines()
    assert code == 0
    assert "1 version(s) waiting" in lines[0] and "nothing from this group serves yet" in lines[0]
    assert lines[3].split()[:3] == ["1", "0.9310", "[0.9240,"]
    assert lines[4].strip().startswith("report: https://")


# --- show ------------------------------------------------------------------------------------------------------


def test_show_gives_metrics_comparison_and_where_the_data_came_from(registry) -> None:
    registry.serve(registry.register(0.921, status=queries.APPROVED), 1)
    registry.register(0.931)

    result = run_json(registry, "show", ENV, "2")

    assert result["metrics"]["auc"] == 0.931 and result["metrics"]["pr_auc"] == 0.81
    assert result["auc_vs_serving"] == pytest.approx(0.01)
    origin = result["provenance"]
    assert origin["upload"] == UPLOAD
    assert origin["parameters"]["InputDataUri"] == "s3://artifacts/pipeline-inputs/abc123/features.csv"
    assert origin["model_data"] == f"s3://{BUCKET}/train/model.tar.gz"
    assert result["report_link"].startswith("https://")


def test_show_lists_evaluation_fields_it_does_not_lay_out(registry) -> None:
    registry.register(0.931, provenance={"code_bundle_hash": "9bd88f2a", "input_data_version": "3HL4kq"})
    code, out, _ = run(registry, "show", ENV, "1")
    assert code == 0
    assert "provenance.code_bundle_hash: 9bd88f2a" in out and "provenance.input_data_version: 3HL4kq" in out


# evaluation.json's champion comparison and threshold verdicts, as evaluate writes them when the run had a champion.
CHAMPION = {
    "champion_comparison": {
        "champion": {
            "model_package_arn": f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/{GROUP}/1",
            "auc": {"value": 0.928, "confidence_interval_95": [0.921, 0.934]},
        },
        "auc_difference": {"value": 0.003, "confidence_interval_95": [-0.001, 0.007], "bootstrap_samples": 1000},
        "gate": {"margin": 0.01, "minimum_auc": 0.918, "passes": True},
    },
    "thresholds": {
        "environments": [
            {"environment": "dev", "threshold": 0.85, "passes": True, "this_run": True},
            {"environment": "prod", "threshold": 0.94, "passes": False, "this_run": False},
        ]
    },
}


def test_show_lays_out_the_runs_champion_comparison_and_every_threshold(registry) -> None:
    registry.register(0.931, **CHAMPION)
    result = run_json(registry, "show", ENV, "1")
    assert result["champion_comparison"] == {
        "champion_model_package_arn": f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/{GROUP}/1",
        "champion_auc": 0.928,
        "auc_difference": 0.003,
        "auc_difference_interval_95": [-0.001, 0.007],
        "gate_passes": True,
    }
    _, out, _ = run(registry, "show", ENV, "1")
    assert "+0.0030, paired 95% interval [-0.0010, 0.0070]; champion gate passes" in out
    assert "thresholds    dev 0.85 passes, prod 0.94 BELOW" in out
    assert "champion_comparison." not in out  # laid out above, not repeated among the other fields


def test_pending_shows_the_paired_difference_when_the_run_had_a_champion(registry) -> None:
    registry.register(0.931, **CHAMPION)
    registry.register(0.925)
    first, second = run_json(registry, "pending", ENV)["pending"]
    assert first["champion_comparison"] is None
    assert second["champion_comparison"]["auc_difference_interval_95"] == [-0.001, 0.007]


def test_show_text_sections(registry) -> None:
    registry.register(0.931)
    code, out, _ = run(registry, "show", ENV, "1")
    assert code == 0
    assert "threshold 0.85 (dev): passes" in out
    assert f"upload: {UPLOAD}" in out
    assert "parameter AucThreshold: 0.85" in out
    assert "Report (link valid 60 min): https://" in out


def test_show_says_when_evaluation_json_cannot_be_read(registry) -> None:
    arn = registry.register(0.931)
    uri = registry.status_of(arn)["CustomerMetadataProperties"]["evaluation_uri"]
    registry.s3.delete_object(Bucket=BUCKET, Key=uri.split(f"s3://{BUCKET}/", 1)[1])
    result = run_json(registry, "show", ENV, "1")
    assert result["evaluation_problem"] == f"cannot read {uri}: NoSuchKey"
    assert result["package"]["auc"] == 0.931  # still from the package's metadata


# --- approve / reject ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "status"), [("approve", queries.APPROVED), ("reject", queries.REJECTED)])
def test_decision_sets_status_and_the_note_as_approval_description(registry, command, status) -> None:
    arn = registry.register(0.931)
    code, out, err = run(registry, command, ENV, "1", "--note", "  report read by Ana; AUC fine  ")
    package = registry.status_of(arn)
    assert (code, err) == (0, "")
    assert package["ModelApprovalStatus"] == status
    assert package["ApprovalDescription"] == "report read by Ana; AUC fine"
    assert out.startswith(f"{status} {GROUP} version 1: report read by Ana; AUC fine")


def test_approve_says_how_to_follow_the_deployment(registry) -> None:
    registry.register(0.931)
    _, out, _ = run(registry, "approve", ENV, "1", "--note", "ok")
    assert resource_names.deploy_state_machine_name(ENV) in out and 'make approver ARGS="status dev"' in out


@pytest.mark.parametrize("decided", [queries.APPROVED, queries.REJECTED])
def test_a_decided_version_is_refused_in_one_line_and_left_unchanged(registry, decided) -> None:
    arn = registry.register(0.931, status=decided)
    before = registry.status_of(arn)
    code, out, err = run(registry, "approve", ENV, "1", "--note", "again")
    assert (code, out) == (1, "")
    assert err == f"error: version 1 of {GROUP} is already {decided}; nothing changed\n"
    after = registry.status_of(arn)
    assert (after["ModelApprovalStatus"], after.get("ApprovalDescription")) == (
        decided,
        before.get("ApprovalDescription"),
    )


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("   ", "error: --note must say why (it is kept as the package's approval description)\n"),
        ("x" * 1025, "error: --note is 1025 characters; the approval description takes at most 1024\n"),
    ],
)
def test_an_empty_or_too_long_note_is_refused_before_anything_changes(registry, note, message) -> None:
    arn = registry.register(0.931)
    assert run(registry, "approve", ENV, "1", "--note", note) == (1, "", message)
    assert registry.status_of(arn)["ModelApprovalStatus"] == queries.PENDING


def test_an_unknown_version_names_the_versions_there_are(registry) -> None:
    registry.register(0.931)
    registry.register(0.932)
    assert run(registry, "show", ENV, "9") == (1, "", f"error: {GROUP} has no version 9 (versions 1 to 2)\n")


def test_an_undeployed_environment_says_so(registry) -> None:
    code, _, err = run(registry, "pending", "stg")  # the registry holds only dev's group
    assert code == 1
    assert err.startswith(
        f"error: model package group {resource_names.model_package_group_name('stg')} does not exist in"
    )
    assert err.count("\n") == 1


def test_an_unknown_environment_names_the_known_ones(registry) -> None:
    assert run(registry, "status", "qa") == (
        1,
        "",
        "error: unknown environment 'qa': cdk.json defines dev, prod, stg\n",
    )


# --- status ----------------------------------------------------------------------------------------------------


def execution(name: str, status: str, started: datetime) -> dict[str, Any]:
    entry = {
        "executionArn": f"{MACHINE_ARN.replace(':stateMachine:', ':execution:')}:{name}",
        "stateMachineArn": MACHINE_ARN,
        "name": name,
        "status": status,
        "startDate": started,
    }
    if status != "RUNNING":
        entry["stopDate"] = started + timedelta(minutes=20)
    return entry


def test_status_shows_serving_version_last_outcome_and_running_deployments(registry) -> None:
    registry.serve(registry.register(0.921, status=queries.APPROVED), 1)
    registry.register(0.931)
    start = datetime(2026, 11, 27, 5, 0, tzinfo=timezone.utc)
    running = execution("run-3", "RUNNING", start + timedelta(hours=2))
    rolled_back = execution("run-2", "FAILED", start)
    # Docs (ListExecutions): "Results are sorted by time, with the most recent execution first."
    registry.stub.add_response(
        "list_executions", {"executions": [running, rolled_back]}, {"stateMachineArn": MACHINE_ARN, "maxResults": 20}
    )
    registry.stub.add_response(
        "describe_execution",
        {
            **rolled_back,
            "input": json.dumps({"detail": {"ModelPackageVersion": 2}}),
            "error": "RolledBack",
            "cause": "SageMaker rolled the endpoint back to mlops-dev-v1-0123abcd",
        },
        {"executionArn": rolled_back["executionArn"]},
    )

    result = run_json(registry, "status", ENV)

    assert result["serving"]["endpoint_status"] == "InService"
    assert result["serving"]["package"]["version"] == 1
    last = result["deployments"]["last"]
    assert (last["version"], last["outcome"], last["reason"]) == (
        2,
        "RolledBack",
        "SageMaker rolled the endpoint back to mlops-dev-v1-0123abcd",
    )
    assert [item["execution"] for item in result["deployments"]["running"]] == [running["executionArn"]]
    assert result["pending_approvals"] == 1


def test_status_reads_the_outcome_of_a_succeeded_deployment_from_its_output(registry) -> None:
    registry.serve(registry.register(0.921, status=queries.APPROVED), 1)
    done = execution("run-1", "SUCCEEDED", datetime(2026, 11, 27, 5, 0, tzinfo=timezone.utc))
    registry.stub.add_response(
        "list_executions", {"executions": [done]}, {"stateMachineArn": MACHINE_ARN, "maxResults": 20}
    )
    output = {"outcome": "deployed", "reason": "endpoint is InService on mlops-dev-v1-0123abcd", "package_version": 1}
    registry.stub.add_response(
        "describe_execution", {**done, "output": json.dumps(output)}, {"executionArn": done["executionArn"]}
    )
    code, out, _ = run(registry, "status", ENV)
    assert code == 0
    assert "serving: version 1 serves, ROC-AUC 0.9210, config mlops-dev-v1-0123abcd" in out
    assert "last deployment: version 1, deployed at 2026-11-27 05:20 UTC: endpoint is InService" in out
    assert "deployments running: 0" in out


def test_status_before_the_first_deployment(registry) -> None:
    registry.stub.add_client_error(
        "list_executions", service_error_code="StateMachineDoesNotExist", expected_params=None
    )
    result = run_json(registry, "status", ENV)
    assert result["serving"]["endpoint_status"] is None
    assert result["deployments"] == {"state_machine": MACHINE_ARN, "exists": False, "running": [], "last": None}


# --- credentials and access ------------------------------------------------------------------------------------


def test_no_credentials_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup over the network
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["pending", ENV], environment.aws_clients, out, err)
    assert (code, out.getvalue()) == (1, "")
    assert err.getvalue() == (
        "error: no AWS credentials found: set AWS_PROFILE (or pass --profile) or run `aws sso login`\n"
    )


def test_credentials_of_another_account_than_the_environments_are_refused(registry, tmp_path, monkeypatch) -> None:
    cdk_json = json.loads(environment.CDK_JSON.read_text())
    cdk_json["context"]["environments"][ENV]["account"] = "111122223333"
    (tmp_path / "cdk.json").write_text(json.dumps(cdk_json))
    monkeypatch.setattr(environment, "CDK_JSON", tmp_path / "cdk.json")
    arn = registry.register(0.931)
    code, out, err = run(registry, "approve", ENV, "1", "--note", "ok")
    assert (code, out) == (1, "")
    assert err == f"error: environment '{ENV}' lives in account 111122223333; these credentials are for {ACCOUNT}\n"
    assert registry.status_of(arn)["ModelApprovalStatus"] == queries.PENDING


def test_an_unknown_profile_is_one_line(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["--profile", "ops", "status", ENV], environment.aws_clients, out, err) == 1
    assert err.getvalue() == (
        "error: The config profile (ops) could not be found: check --profile / AWS_PROFILE against "
        "`aws configure list-profiles`\n"
    )


def test_access_denied_names_the_call(registry) -> None:
    registry.register(0.931)
    registry.stub.add_client_error(
        "list_executions",
        service_error_code="AccessDeniedException",
        service_message="not authorized to ListExecutions",
    )
    code, _, err = run(registry, "status", ENV)
    assert (code, err) == (1, "error: access denied for ListExecutions: not authorized to ListExecutions\n")


def test_a_denied_update_is_one_line_and_changes_nothing(registry) -> None:
    arn = registry.register(0.931)
    message = "User is not authorized to perform: sagemaker:UpdateModelPackage"

    def deny(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # Answered before the request is sent, as botocore's Stubber answers: IAM refuses the call outright.
        error = {
            "Error": {"Code": "AccessDeniedException", "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return AWSResponse(None, 400, {}, None), error

    registry.sagemaker.meta.events.register("before-call.sagemaker.UpdateModelPackage", deny)
    code, out, err = run(registry, "approve", ENV, "1", "--note", "ok")
    assert (code, out, err) == (1, "", f"error: access denied for UpdateModelPackage: {message}\n")
    assert registry.status_of(arn)["ModelApprovalStatus"] == queries.PENDING


def test_expired_credentials_say_to_refresh_them(registry) -> None:
    registry.stub.add_client_error("list_executions", service_error_code="ExpiredTokenException", service_message="x")
    code, _, err = run(registry, "status", ENV)
    assert code == 1 and err.startswith("error: AWS refused the credentials (ExpiredTokenException)")


def test_json_and_profile_are_accepted_after_the_command() -> None:
    args = cli.parse_args(["show", ENV, "3", "--json", "--profile", "ops"])
    assert (args.json, args.profile, args.version) == (True, "ops", 3)
    assert cli.parse_args(["--json", "pending", ENV]).json is True


def test_the_usage_line_reads_as_the_make_command_to_type(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line == 'usage: make approver ARGS="COMMAND ENV [VERSION] [--json] [--profile NAME]"'


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("show", 'usage: make approver ARGS="show ENV VERSION [--json] [--profile NAME]"'),
        ("approve", 'usage: make approver ARGS="approve ENV VERSION --note TEXT [--json] [--profile NAME]"'),
        ("pending", 'usage: make approver ARGS="pending ENV [--json] [--profile NAME]"'),
    ],
)
def test_each_commands_help_says_what_env_and_version_are(
    capsys: pytest.CaptureFixture[str], command: str, usage: str
) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args([command, "--help"])
    text = capsys.readouterr().out
    assert text.splitlines()[0] == usage
    assert re.search(r"^  ENV +an environment of cdk.json, e.g. dev$", text, re.M)
    assert ("the model package version" in text) == (command != "pending")


def test_a_missing_argument_names_the_make_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["show", "dev"])
    assert (
        capsys.readouterr().err.splitlines()[-1]
        == "make approver: error: the following arguments are required: VERSION"
    )
