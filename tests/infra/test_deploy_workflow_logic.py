"""The deploy workflow's Lambda steps against moto, with botocore's Stubber where moto stops (UpdateEndpoint).

moto creates endpoints InService at once and has no UpdateEndpoint; the tests stub that call (checking the exact
request) and then move moto's endpoint through Updating / InService / Failed as SageMaker would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.sagemaker.models import sagemaker_backends

from constructs.model_deployment import workflow_settings
from constructs.model_deployment_lambda import deploy
from stacks.config import load_environments
from tests.infra.synthesis import cdk_json_context

REGION = "eu-west-1"
ACCOUNT = "123456789012"
GROUP = "mlops-test-models"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5"
CONFIGS = {config.name: config for config in load_environments(cdk_json_context())}


def settings_for(environment: str, *, endpoint_name: str | None = None, **overrides: Any) -> dict[str, Any]:
    config = CONFIGS[environment]
    settings = workflow_settings(
        environment_name=environment,
        endpoint_name=endpoint_name or f"mlops-{environment}",
        settings=config.deployment,
        model_package_group_name=GROUP,
        model_role_arn=f"arn:aws:iam::{ACCOUNT}:role/model-role",
        kms_key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        data_capture_s3_uri=f"s3://artifacts/data-capture/mlops-{environment}",
        topic_arn=f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-{environment}",
        alarm_names=[f"mlops-{environment}-{n}" for n in ("invocation-5xx-errors", "model-latency", "model-errors")],
    )
    return {**settings, **overrides}


class Aws:
    """moto-backed clients, a queue subscribed to the topic, and moto's endpoint to move by hand."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.autoscaling = boto3.client("application-autoscaling", region_name=REGION)
        self.stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        self.sns.create_topic(Name=settings["topic_arn"].rsplit(":", 1)[1])
        queue_url = self.sqs.create_queue(QueueName="outcomes")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.sns.subscribe(TopicArn=settings["topic_arn"], Protocol="sqs", Endpoint=queue_arn["QueueArn"])
        self.queue_url = queue_url
        self.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        self.update_stub: Stubber | None = None

    def clients(self, sagemaker: Any | None = None) -> deploy.Clients:
        return deploy.Clients(
            sagemaker=sagemaker or self.sagemaker,
            sns=self.sns,
            autoscaling=self.autoscaling,
            stepfunctions=self.stepfunctions,
        )

    def register(self, auc: str = "0.93", approve: bool = True, group: str = GROUP) -> str:
        arn = self.sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://artifacts/runs/1/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties={"auc": auc, "evaluation_uri": "s3://artifacts/runs/1/evaluation.json"},
        )["ModelPackageArn"]
        if approve:
            self.approve(arn, auc)
        return arn

    def approve(self, arn: str, auc: str = "0.93", status: str = "Approved") -> None:
        # moto drops CustomerMetadataProperties on an update that does not repeat them (SageMaker keeps them).
        self.sagemaker.update_model_package(
            ModelPackageArn=arn, ModelApprovalStatus=status, CustomerMetadataProperties={"auc": auc}
        )

    def endpoint(self) -> Any:
        return sagemaker_backends[ACCOUNT][REGION].endpoints[self.settings["endpoint_name"]]

    def set_endpoint(self, status: str, config: str | None = None, failure: str | None = None) -> None:
        endpoint = self.endpoint()
        endpoint.endpoint_status = status
        if config is not None:
            endpoint.endpoint_config_name = config
        endpoint.failure_reason = failure

    def messages(self) -> list[dict[str, Any]]:
        received = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        envelopes = [json.loads(message["Body"]) for message in received]
        return [{"subject": e.get("Subject"), **json.loads(e["Message"])} for e in envelopes]

    def stubbed_update(self, expected: dict[str, Any] | None, error: str | None = None) -> Any:
        """A sagemaker client that is moto's, except for update_endpoint, answered by a Stubber."""
        stubbed = boto3.client("sagemaker", region_name=REGION)
        stub = Stubber(stubbed)
        if error:
            stub.add_client_error("update_endpoint", service_error_code="ValidationException", service_message=error)
        else:
            stub.add_response(
                "update_endpoint",
                {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{self.settings['endpoint_name']}"},
                expected,
            )
        stub.activate()
        self.update_stub = stub
        return _Hybrid(self.sagemaker, stubbed)


class _Hybrid:
    def __init__(self, moto_client: Any, stubbed: Any) -> None:
        self._moto = moto_client
        self._stubbed = stubbed

    def update_endpoint(self, **kwargs: Any) -> Any:
        return self._stubbed.update_endpoint(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._moto, name)


def event_for(arn: str, status: str = "Approved", group: str = GROUP) -> dict[str, Any]:
    version = int(arn.rsplit("/", 1)[1])
    return {
        "version": "0",
        "id": f"event-{version}",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "region": REGION,
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageVersion": version,
            "ModelPackageArn": arn,
            "ModelApprovalStatus": status,
        },
    }


@pytest.fixture
def moto_env() -> Iterator[None]:
    with mock_aws():
        yield


def make_aws(environment: str, **overrides: Any) -> Aws:
    return Aws(settings_for(environment, **overrides))


def first_deploy(aws: Aws) -> dict[str, Any]:
    """Approve version 1 and run the workflow to the end; the endpoint ends InService on it."""
    arn = aws.register()
    state = deploy.run_prepare(event_for(arn), aws.settings, aws.clients())
    state = deploy.run_start_rollout(state, aws.settings, aws.clients())
    state = deploy.run_check_endpoint(state, aws.settings, aws.clients())
    return deploy.run_conclude(state, aws.settings, aws.clients())


def start_update(aws: Aws, arn: str) -> dict[str, Any]:
    """Prepare and StartRollout for an approval on an existing endpoint, UpdateEndpoint stubbed and checked."""
    state = deploy.run_prepare(event_for(arn), aws.settings, aws.clients())
    assert state["action"] == "deploy"
    assert state["mode"] == "update"
    expected = deploy.update_endpoint_request(aws.settings, aws.settings["endpoint_name"], state["config_name"])
    state = deploy.run_start_rollout(state, aws.settings, aws.clients(aws.stubbed_update(expected)))
    aws.update_stub.assert_no_pending_responses()
    assert state["rollout"] == "started"
    aws.set_endpoint("Updating")
    return state


# ----------------------------------------------------------------------------------------------- pure helpers


def test_names_are_deterministic_and_fit_sagemaker_limits() -> None:
    settings = settings_for("dev")
    digest = deploy.settings_hash(settings, "arn:aws:sagemaker:eu-west-1:1:model-package/g/3")
    assert digest == deploy.settings_hash(dict(settings), "arn:aws:sagemaker:eu-west-1:1:model-package/g/3")
    assert deploy.resource_name(deploy.name_prefix("mlops-dev"), 3, digest) == f"mlops-dev-v3-{digest}"


@pytest.mark.parametrize("endpoint_name", ["mlops-dev", "mlops-" + "a" * 16, "e" * 63, "a-" * 31 + "b"])
@pytest.mark.parametrize("version", [1, 10000, 999_999_999_999])
def test_names_stay_within_63_characters_and_the_pattern(endpoint_name: str, version: int) -> None:
    prefix = deploy.name_prefix(endpoint_name)
    name = deploy.resource_name(prefix, version, "0123abcd")
    assert len(name) <= 63
    assert deploy.NAME_PATTERN.fullmatch(name)
    assert name.startswith(f"{prefix}-v")


def test_a_long_endpoint_name_gets_a_hashed_prefix_that_differs_per_endpoint() -> None:
    first, second = deploy.name_prefix("x" * 50 + "-one"), deploy.name_prefix("x" * 50 + "-two")
    assert len(first) == deploy.PREFIX_LIMIT
    assert first != second


def test_a_version_too_long_for_the_name_fails_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="at most 63"):
        deploy.resource_name("e" * 40, 10**13, "0123abcd")


def test_a_setting_of_the_endpoint_config_changes_the_names() -> None:
    arn = "arn:aws:sagemaker:eu-west-1:1:model-package/g/3"
    settings = settings_for("dev")
    bigger = {**settings, "instance_type": "ml.m5.xlarge"}
    slower = {**settings, "traffic_wait_seconds": 900}  # a rollout setting, not part of the config
    assert deploy.settings_hash(bigger, arn) != deploy.settings_hash(settings, arn)
    assert deploy.settings_hash(slower, arn) == deploy.settings_hash(settings, arn)


def test_dev_deploys_all_at_once() -> None:
    policy = deploy.deployment_config(settings_for("dev"))["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}
    assert policy["TerminationWaitInSeconds"] == 0
    assert policy["MaximumExecutionTimeoutInSeconds"] == 1800


def test_stg_shifts_linearly_in_steps_of_half_the_capacity() -> None:
    routing = deploy.deployment_config(settings_for("stg"))["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "LINEAR",
        "WaitIntervalInSeconds": 300,
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
    }


def test_prod_bakes_a_canary_then_shifts_the_rest() -> None:
    policy = deploy.deployment_config(settings_for("prod"))["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "WaitIntervalInSeconds": 600,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
    }
    assert policy["TerminationWaitInSeconds"] == 600
    assert policy["MaximumExecutionTimeoutInSeconds"] == 3600


def test_rollback_watches_the_three_alarms() -> None:
    rollback = deploy.deployment_config(settings_for("prod"))["AutoRollbackConfiguration"]
    assert rollback == {
        "Alarms": [
            {"AlarmName": "mlops-prod-invocation-5xx-errors"},
            {"AlarmName": "mlops-prod-model-latency"},
            {"AlarmName": "mlops-prod-model-errors"},
        ]
    }


def test_updates_keep_the_autoscaled_count_where_autoscaling_is_on() -> None:
    prod = deploy.update_endpoint_request(settings_for("prod"), "mlops-prod", "c")
    dev = deploy.update_endpoint_request(settings_for("dev"), "mlops-dev", "c")
    assert prod["RetainAllVariantProperties"] is True
    assert prod["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DataCaptureConfig"}]
    assert "RetainAllVariantProperties" not in dev


def test_prod_captures_data_encrypted_with_the_environment_key() -> None:
    settings = settings_for("prod")
    request = deploy.endpoint_config_request(settings, "c", "m")
    assert request["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    assert request["DataCaptureConfig"]["KmsKeyId"] == settings["kms_key_arn"]
    assert request["DataCaptureConfig"]["DestinationS3Uri"] == "s3://artifacts/data-capture/mlops-prod"
    assert "DataCaptureConfig" not in deploy.endpoint_config_request(settings_for("dev"), "c", "m")


def test_the_endpoint_config_sets_the_startup_timeouts_and_the_fixed_variant() -> None:
    (variant,) = deploy.endpoint_config_request(settings_for("stg"), "c", "m")["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert variant["InitialInstanceCount"] == 2
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 600
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 600


@pytest.mark.parametrize(
    ("endpoint", "outcome", "reason_part"),
    [
        ({"EndpointStatus": "Updating", "EndpointConfigName": "old"}, "in_progress", "Updating"),
        ({"EndpointStatus": "RollingBack", "EndpointConfigName": "old"}, "in_progress", "RollingBack"),
        ({"EndpointStatus": "InService", "EndpointConfigName": "new"}, "deployed", "InService on new"),
        ({"EndpointStatus": "InService", "EndpointConfigName": "old"}, "rolled_back", "rolled the endpoint back"),
        (
            {"EndpointStatus": "InService", "EndpointConfigName": "old", "FailureReason": "alarm x in ALARM"},
            "rolled_back",
            "alarm x in ALARM",
        ),
        ({"EndpointStatus": "Failed", "EndpointConfigName": "new", "FailureReason": "no model.tar.gz"}, "failed", ""),
        ({"EndpointStatus": "UpdateRollbackFailed", "EndpointConfigName": "old"}, "failed", "rollback both failed"),
        (None, "failed", "no longer exists"),
    ],
)
def test_the_outcome_is_read_from_the_endpoint(endpoint: Any, outcome: str, reason_part: str) -> None:
    decided, reason = deploy.decide_outcome(endpoint, "new")
    assert decided == outcome
    assert reason_part in reason
    if endpoint and endpoint.get("FailureReason"):
        assert endpoint["FailureReason"] in reason


def test_cleanup_keeps_the_newest_served_configs_and_anything_newer_than_the_rollout() -> None:
    start = datetime(2026, 1, 10, tzinfo=timezone.utc)

    def config(name: str, days_before: int, served: bool) -> dict[str, Any]:
        return {"name": name, "created": start - timedelta(days=days_before), "served": served}

    configs = [
        config("v1", 9, True),
        config("v2", 8, True),
        config("v3", 7, False),  # rolled back, never served
        config("v4", 6, True),
        config("v5", 1, False),  # the new one
        {"name": "v6", "created": start + timedelta(minutes=5), "served": False},  # another approval, in flight
    ]
    assert deploy.configs_to_delete(configs, "v5", 2, start) == ["v1", "v3"]


# -------------------------------------------------------------------------------------------- moto workflows


@pytest.mark.usefixtures("moto_env")
def test_first_approval_creates_the_model_config_and_endpoint() -> None:
    aws = make_aws("dev")
    arn = aws.register()
    state = deploy.run_prepare(event_for(arn), aws.settings, aws.clients())
    assert (state["action"], state["mode"]) == ("deploy", "create")
    state = deploy.run_start_rollout(state, aws.settings, aws.clients())
    assert state["rollout"] == "started"
    model = aws.sagemaker.describe_model(ModelName=state["model_name"])
    assert model["Containers"] == [{"ModelPackageName": arn}]
    assert model["ExecutionRoleArn"] == aws.settings["model_role_arn"]
    endpoint = aws.sagemaker.describe_endpoint(EndpointName="mlops-dev")
    assert endpoint["EndpointConfigName"] == state["config_name"]


@pytest.mark.usefixtures("moto_env")
def test_first_approval_is_reported_as_deployed_with_version_and_auc() -> None:
    aws = make_aws("dev")
    state = first_deploy(aws)
    assert state["outcome"] == "deployed"
    (message,) = aws.messages()
    assert message["subject"] == "[dev] model v1: deployed"
    assert (message["outcome"], message["model_package_version"], message["auc"]) == ("deployed", 1, "0.93")
    assert message["serving_endpoint_config"] == state["config_name"]


@pytest.mark.usefixtures("moto_env")
def test_a_duplicate_event_of_the_same_approval_is_a_noop() -> None:
    aws = make_aws("dev")
    first_deploy(aws)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/1"
    state = deploy.run_prepare(event_for(arn), aws.settings, aws.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "noop")
    assert "duplicate event" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_approving_the_serving_version_again_is_a_noop() -> None:
    aws = make_aws("dev")
    first_deploy(aws)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/1"
    aws.approve(arn, status="PendingManualApproval")
    aws.approve(arn)  # a new approval (new LastModifiedTime), same version
    state = deploy.run_prepare(event_for(arn), aws.settings, aws.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "noop")
    assert "already serving" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_package_no_longer_approved_is_skipped() -> None:
    aws = make_aws("dev")
    arn = aws.register()
    aws.approve(arn, status="Rejected")
    state = deploy.run_prepare(event_for(arn), aws.settings, aws.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "skipped")
    assert "Rejected" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_package_of_another_group_is_skipped() -> None:
    aws = make_aws("dev")
    aws.sagemaker.create_model_package_group(ModelPackageGroupName="someone-else")
    arn = aws.register(group="someone-else")
    state = deploy.run_prepare(event_for(arn, group="someone-else"), aws.settings, aws.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "skipped")


@pytest.mark.parametrize("environment", ["dev", "stg", "prod"])
@pytest.mark.usefixtures("moto_env")
def test_an_update_sends_the_environments_blue_green_deployment_config(environment: str) -> None:
    aws = make_aws(environment)
    first = first_deploy(aws)
    state = start_update(aws, aws.register(auc="0.94"))  # the Stubber checks the exact UpdateEndpoint request
    assert state["previous_config_name"] == first["config_name"]
    assert state["config_name"] != first["config_name"]


@pytest.mark.usefixtures("moto_env")
def test_an_update_confirmed_serving_is_deployed_and_cleans_up_beyond_the_kept_versions() -> None:
    aws = make_aws("dev", previous_versions_kept=1)
    served = [first_deploy(aws)["config_name"]]
    for auc in ("0.94", "0.95"):
        state = start_update(aws, aws.register(auc=auc))
        aws.set_endpoint("InService", config=state["config_name"])
        state = deploy.run_check_endpoint(state, aws.settings, aws.clients())
        state = deploy.run_conclude(state, aws.settings, aws.clients())
        assert state["outcome"] == "deployed"
        served.append(state["config_name"])
    remaining = {c["EndpointConfigName"] for c in aws.sagemaker.list_endpoint_configs()["EndpointConfigs"]}
    models = {m["ModelName"] for m in aws.sagemaker.list_models()["Models"]}
    assert remaining == set(served[1:]) == models  # v1 went once v3 served; v2 is the one kept to roll back to
    assert state["deleted_configs"] == [served[0]]


@pytest.mark.usefixtures("moto_env")
def test_an_update_keeps_the_previous_config_while_the_rollout_runs() -> None:
    aws = make_aws("dev")
    first = first_deploy(aws)
    state = start_update(aws, aws.register(auc="0.94"))
    state = deploy.run_check_endpoint(state, aws.settings, aws.clients())
    assert (state["rollout"], state["reason"]) == ("in_progress", "endpoint is Updating")
    aws.sagemaker.describe_endpoint_config(EndpointConfigName=first["config_name"])  # still there


@pytest.mark.usefixtures("moto_env")
def test_a_silent_rollback_is_detected_and_reported() -> None:
    aws = make_aws("prod")
    first = first_deploy(aws)
    state = start_update(aws, aws.register(auc="0.95"))
    aws.set_endpoint("InService", config=first["config_name"])  # SageMaker rolled back on an alarm
    state = deploy.run_check_endpoint(state, aws.settings, aws.clients())
    state = deploy.run_conclude(state, aws.settings, aws.clients())
    assert state["outcome"] == "rolled_back"
    message = aws.messages()[-1]
    assert message["subject"] == "[prod] model v2: rolled_back"
    assert message["serving_endpoint_config"] == first["config_name"]
    aws.sagemaker.describe_endpoint_config(EndpointConfigName=first["config_name"])  # nothing was cleaned up


@pytest.mark.usefixtures("moto_env")
def test_a_failed_update_is_reported_with_sagemakers_reason() -> None:
    aws = make_aws("stg")
    first_deploy(aws)
    state = start_update(aws, aws.register(auc="0.95"))
    aws.set_endpoint("Failed", failure="The primary container for production variant AllTraffic did not pass")
    state = deploy.run_check_endpoint(state, aws.settings, aws.clients())
    state = deploy.run_conclude(state, aws.settings, aws.clients())
    assert state["outcome"] == "failed"
    assert "did not pass" in aws.messages()[-1]["reason"]


@pytest.mark.usefixtures("moto_env")
def test_a_busy_endpoint_makes_the_workflow_wait() -> None:
    aws = make_aws("dev")
    first_deploy(aws)
    aws.set_endpoint("Updating")
    state = deploy.run_prepare(event_for(aws.register(auc="0.94")), aws.settings, aws.clients())
    assert (state["action"], state["busy_checks"]) == ("wait", 1)
    state = deploy.run_prepare(state, aws.settings, aws.clients())  # after the Wait state, with the state
    assert (state["action"], state["busy_checks"]) == ("wait", 2)
    aws.set_endpoint("InService")
    state = deploy.run_prepare(state, aws.settings, aws.clients())
    assert state["action"] == "deploy"


@pytest.mark.usefixtures("moto_env")
def test_an_endpoint_busy_too_long_ends_the_workflow_with_a_clear_reason() -> None:
    aws = make_aws("dev")
    first_deploy(aws)
    aws.set_endpoint("Updating")
    state = deploy.run_prepare(event_for(aws.register(auc="0.94")), aws.settings, aws.clients())
    state["busy_checks"] = deploy.busy_limit(aws.settings)
    state = deploy.run_prepare(state, aws.settings, aws.clients())
    assert (state["action"], state["outcome"]) == ("conclude", "failed")
    assert "still Updating after" in state["reason"]
    assert "approve the package again" in state["reason"]


@pytest.mark.usefixtures("moto_env")
def test_losing_the_race_to_another_rollout_waits_instead_of_failing() -> None:
    aws = make_aws("dev")
    first_deploy(aws)
    state = deploy.run_prepare(event_for(aws.register(auc="0.94")), aws.settings, aws.clients())
    busy = aws.stubbed_update(None, error="Cannot update in-progress endpoint")
    state = deploy.run_start_rollout(state, aws.settings, aws.clients(busy))
    assert (state["rollout"], state["action"]) == ("busy", "wait")


@pytest.mark.usefixtures("moto_env")
def test_a_failed_endpoint_is_deleted_and_created_again() -> None:
    aws = make_aws("dev")
    first_deploy(aws)
    aws.set_endpoint("Failed", failure="boom")
    state = deploy.run_prepare(event_for(aws.register(auc="0.94")), aws.settings, aws.clients())
    assert state["mode"] == "recreate"
    state = deploy.run_start_rollout(state, aws.settings, aws.clients())
    assert state["action"] == "wait"
    assert deploy._describe_endpoint(aws.sagemaker, "mlops-dev") is None
    state = deploy.run_prepare(state, aws.settings, aws.clients())
    assert (state["action"], state["mode"]) == ("deploy", "create")


@pytest.mark.usefixtures("moto_env")
def test_prod_registers_autoscaling_on_the_variant_once_serving() -> None:
    aws = make_aws("prod")
    first_deploy(aws)
    (target,) = aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == "endpoint/mlops-prod/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    (policy,) = aws.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    configuration = policy["TargetTrackingScalingPolicyConfiguration"]
    assert configuration["TargetValue"] == 1000.0
    assert configuration["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantInvocationsPerInstance"
    )


@pytest.mark.usefixtures("moto_env")
def test_dev_registers_no_autoscaling() -> None:
    aws = make_aws("dev")
    first_deploy(aws)
    assert aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


@pytest.mark.usefixtures("moto_env")
def test_a_step_that_failed_is_reported_as_failed_with_its_error() -> None:
    aws = make_aws("dev")
    arn = aws.register()
    caught = {
        **event_for(arn),
        "error": {"Error": "ClientError", "Cause": json.dumps({"errorMessage": "AccessDenied on CreateModel"})},
    }
    state = deploy.run_conclude(caught, aws.settings, aws.clients())
    assert state["outcome"] == "failed"
    (message,) = aws.messages()
    assert message["reason"] == "the workflow failed: ClientError: AccessDenied on CreateModel"
    assert message["model_package_arn"] == arn


@pytest.mark.usefixtures("moto_env")
def test_an_event_without_a_package_arn_is_an_error() -> None:
    aws = make_aws("dev")
    with pytest.raises(ValueError, match="ModelPackageArn"):
        deploy.run_prepare({"detail": {}}, aws.settings, aws.clients())


# ------------------------------------------------------------------------------------------------- teardown


@pytest.mark.usefixtures("moto_env")
def test_teardown_deletes_the_endpoint_and_every_config_and_model_it_made_only() -> None:
    aws = make_aws("dev")
    first_deploy(aws)
    state = start_update(aws, aws.register(auc="0.94"))
    aws.set_endpoint("InService", config=state["config_name"])
    aws.sagemaker.create_model(ModelName="someone-elses-model", ExecutionRoleArn=aws.settings["model_role_arn"])
    removed = deploy.run_teardown(aws.settings, aws.clients(), deadline=float("inf"))
    assert "endpoint/mlops-dev" in removed
    assert deploy._describe_endpoint(aws.sagemaker, "mlops-dev") is None
    assert aws.sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert [m["ModelName"] for m in aws.sagemaker.list_models()["Models"]] == ["someone-elses-model"]


@pytest.mark.usefixtures("moto_env")
def test_teardown_stops_running_deployments_first() -> None:
    aws = make_aws("dev")
    role = f"arn:aws:iam::{ACCOUNT}:role/sfn"
    machine = aws.stepfunctions.create_state_machine(
        name="mlops-dev-deploy",
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Succeed"}}}),
        roleArn=role,
    )["stateMachineArn"]
    execution = aws.stepfunctions.start_execution(stateMachineArn=machine)["executionArn"]
    deploy.run_teardown({**aws.settings, "state_machine_arn": machine}, aws.clients(), deadline=float("inf"))
    assert aws.stepfunctions.describe_execution(executionArn=execution)["status"] == "ABORTED"


@pytest.mark.usefixtures("moto_env")
def test_teardown_gives_up_on_an_endpoint_still_updating_with_a_clear_message() -> None:
    aws = make_aws("dev")
    first_deploy(aws)
    aws.set_endpoint("Updating")
    with pytest.raises(RuntimeError, match="still Updating: retry the deletion"):
        deploy.run_teardown(aws.settings, aws.clients(), deadline=0, sleep=lambda _: None)


class _Context:
    log_stream_name = "stream"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def _cfn_event(request_type: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://example.invalid/response",
        "StackId": "stack",
        "RequestId": "request",
        "LogicalResourceId": "Teardown",
    }


@pytest.mark.usefixtures("moto_env")
@pytest.mark.parametrize(
    ("request_type", "answer", "endpoint_left"),
    [("Delete", "removed 3 SageMaker resources", False), ("Create", "nothing to do", True)],
)
def test_the_teardown_handler_answers_cloudformation(
    monkeypatch: pytest.MonkeyPatch, request_type: str, answer: str, endpoint_left: bool
) -> None:
    aws = make_aws("dev")
    first_deploy(aws)
    answers: list[tuple[str, str]] = []
    monkeypatch.setenv("DEPLOY_SETTINGS", json.dumps(aws.settings))
    monkeypatch.setattr(deploy, "aws_clients", aws.clients)
    monkeypatch.setattr(
        deploy, "send_cfn_response", lambda event, context, status, reason: answers.append((status, reason))
    )
    deploy.teardown(_cfn_event(request_type), _Context())
    assert answers == [("SUCCESS", answer)]
    assert (deploy._describe_endpoint(aws.sagemaker, "mlops-dev") is not None) is endpoint_left


@pytest.mark.usefixtures("moto_env")
def test_the_teardown_handler_reports_a_failure_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[tuple[str, str]] = []
    monkeypatch.setenv("DEPLOY_SETTINGS", json.dumps(settings_for("dev")))

    def broken() -> deploy.Clients:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeEndpoint")

    monkeypatch.setattr(deploy, "aws_clients", broken)
    monkeypatch.setattr(
        deploy, "send_cfn_response", lambda event, context, status, reason: answers.append((status, reason))
    )
    deploy.teardown(_cfn_event("Delete"), _Context())
    assert answers[0][0] == "FAILED"
    assert "AccessDenied" in answers[0][1]
