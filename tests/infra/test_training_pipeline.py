"""The pipeline definition as synthesized: steps, parameters, images, instances, roles, each job's request; the gate
and registration are test_training_pipeline_gate.py."""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session
import pytest
from aws_cdk.assertions import Match
from botocore.exceptions import ParamValidationError
from botocore.model import Shape
from botocore.validate import validate_parameters
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from constructs.training_pipeline import PLACEHOLDERS, PlaceholderError, substitute_tokens
from constructs.training_pipeline_settings import (
    TRAINING_MAX_RUNTIME_ENV,
    VALIDATION_AUC_METRIC_REGEX,
)
from settings.loading import load_environments
from tests.infra.support.pipeline_definitions import evaluate_arguments, steps_by_name
from tests.infra.support.synthesis import ENVIRONMENTS, Synthesized, cdk_json_context
from tools.pipeline_rendering import pipeline_definition

CONFIGS = {config.name: config for config in load_environments(cdk_json_context())}
XGBOOST_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/sagemaker-xgboost:3\.0-5$")


@pytest.fixture(scope="module")
def definitions(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {name: pipeline_definition(synthesized.templates[name]["Training"]) for name in ENVIRONMENTS}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_readable_definition_snapshot(
    definitions: dict[str, dict[str, Any]], snapshot: SnapshotAssertion, environment: str
) -> None:
    # Kept beside the template snapshots: the pipeline as ops review it, not as an escaped one-line string.
    assert definitions[environment] == snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_step_graph(definitions: dict[str, dict[str, Any]], environment: str) -> None:
    definition = definitions[environment]
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("Preprocess", "Processing"),
        ("Train", "Training"),
        ("Evaluate", "Processing"),
        ("CheckQualityGate", "Condition"),
    ]
    gate = definition["Steps"][3]["Arguments"]
    assert [(s["Name"], s["Type"]) for s in gate["IfSteps"]] == [("Register-RegisterModel", "RegisterModel")]
    assert [(s["Name"], s["Type"]) for s in gate["ElseSteps"]] == [("QualityGateFailed", "Fail")]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_parameters_default_to_the_environment_config(definitions: dict[str, dict[str, Any]], environment: str) -> None:
    training = CONFIGS[environment].training
    parameters = {p["Name"]: p.get("DefaultValue") for p in definitions[environment]["Parameters"]}
    gate = {} if training.champion_auc_margin is None else {"ChampionAucMargin": training.champion_auc_margin}
    assert parameters == {
        "InputDataUri": None,  # no default: the trigger always names the pinned upload
        # Empty unless the trigger fills them: a run started by hand has no champion and no source version.
        "InputDataVersion": "",
        "ChampionModelUri": "",
        "ChampionModelPackageArn": "",
        **gate,
        "AucThreshold": training.auc_threshold,
        "ProcessingInstanceType": training.processing_instance_type,
        "TrainingInstanceType": training.training_instance_type,
        "TrainingInstanceCount": training.training_instance_count,
    }


def test_every_step_runs_the_xgboost_3_0_5_image(definitions: dict[str, dict[str, Any]]) -> None:
    steps = steps_by_name(definitions["dev"])
    images = [
        steps["Preprocess"]["Arguments"]["AppSpecification"]["ImageUri"],
        steps["Evaluate"]["Arguments"]["AppSpecification"]["ImageUri"],
        steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"],
        steps["Register-RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"][0]["Image"],
    ]
    assert all(XGBOOST_IMAGE.match(image) for image in images), images


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_instances_come_from_parameters(definitions: dict[str, dict[str, Any]], environment: str) -> None:
    train = steps_by_name(definitions[environment])["Train"]["Arguments"]
    assert train["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    assert train["ResourceConfig"]["InstanceCount"] == {"Get": "Parameters.TrainingInstanceCount"}
    assert train["ResourceConfig"]["VolumeSizeInGB"] == CONFIGS[environment].training.training_volume_size_gb
    assert (
        train.get("EnableInterContainerTrafficEncryption", False)
        is CONFIGS[environment].training.encrypt_inter_container_traffic
    )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_training_hosts_learn_the_job_runtime(definitions: dict[str, dict[str, Any]], environment: str) -> None:
    train = steps_by_name(definitions[environment])["Train"]["Arguments"]
    max_runtime = CONFIGS[environment].training.max_runtime_seconds
    assert train["StoppingCondition"]["MaxRuntimeInSeconds"] == max_runtime
    assert train["Environment"] == {TRAINING_MAX_RUNTIME_ENV: str(max_runtime)}


def test_training_input_is_sharded_across_instances(definitions: dict[str, dict[str, Any]]) -> None:
    channels = {c["ChannelName"]: c for c in steps_by_name(definitions["dev"])["Train"]["Arguments"]["InputDataConfig"]}
    assert channels["train"]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert channels["validation"]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "FullyReplicated"


def test_training_runs_ml_code_train_py_in_script_mode(definitions: dict[str, dict[str, Any]]) -> None:
    train = steps_by_name(definitions["dev"])["Train"]["Arguments"]
    assert train["HyperParameters"]["sagemaker_program"] == '"train.py"'
    assert train["HyperParameters"]["sagemaker_submit_directory"].startswith('"s3://cdk-')
    assert train["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "validation:auc", "Regex": VALIDATION_AUC_METRIC_REGEX}
    ]


def test_jobs_encrypt_volumes_and_outputs_with_the_environment_key(definitions: dict[str, dict[str, Any]]) -> None:
    steps = steps_by_name(definitions["dev"])
    for name in ("Preprocess", "Evaluate"):
        arguments = steps[name]["Arguments"]
        assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"].startswith("${dev-Data.")
        assert arguments["ProcessingOutputConfig"]["KmsKeyId"].startswith("${dev-Data.")
    train = steps["Train"]["Arguments"]
    assert train["ResourceConfig"]["VolumeKmsKeyId"].startswith("${dev-Data.")
    assert train["OutputDataConfig"]["KmsKeyId"].startswith("${dev-Data.")


def test_every_processing_output_is_under_the_execution_id(definitions: dict[str, dict[str, Any]]) -> None:
    steps = steps_by_name(definitions["dev"])
    for name in ("Preprocess", "Evaluate"):
        for output in steps[name]["Arguments"]["ProcessingOutputConfig"]["Outputs"]:
            values = output["S3Output"]["S3Uri"]["Std:Join"]["Values"]
            assert {"Get": "Execution.PipelineExecutionId"} in values


def test_step_caching_follows_the_environment(definitions: dict[str, dict[str, Any]]) -> None:
    for environment in ENVIRONMENTS:
        preprocess = steps_by_name(definitions[environment])["Preprocess"]
        assert preprocess["CacheConfig"]["Enabled"] is CONFIGS[environment].training.enable_step_caching


def test_no_placeholder_survives_synthesis(synthesized: Synthesized) -> None:
    text = json.dumps(synthesized.templates)
    assert not any(placeholder in text for placeholder in PLACEHOLDERS.values())


def test_a_lost_placeholder_fails_loudly() -> None:
    with pytest.raises(PlaceholderError, match="does not appear"):
        substitute_tokens('{"RoleArn": "arn:aws:iam::1:role/x"}', {PLACEHOLDERS["role_arn"]: "${Token[1]}"})


def test_an_altered_placeholder_fails_loudly() -> None:
    bucket = PLACEHOLDERS["artifacts_bucket"]
    altered = json.dumps({"Uri": f"s3://{bucket}/x", "Upper": bucket.upper().lower() + "-copy"})
    with pytest.raises(PlaceholderError, match="altered and left"):
        substitute_tokens(altered, {f"s3://{bucket}/x": "${Token[1]}"})


def test_pipeline_role_reads_the_code_bundle_and_nothing_else_of_the_asset_bucket(synthesized: Synthesized) -> None:
    statements = [
        statement
        for resource in synthesized.templates["dev"]["Training"]["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        and "PipelineExecutionRole" in json.dumps(resource["Properties"]["Roles"])
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if "cdk-hnb659fds-assets" in json.dumps(statement["Resource"])
    ]
    by_action = {statement["Action"]: statement for statement in statements}
    assert set(by_action) == {"s3:GetObject", "s3:ListBucket"}
    bundle_key = json.dumps(by_action["s3:GetObject"]["Resource"]).split("/")[-1].rstrip('"]}')
    assert bundle_key.endswith(".gz")
    # S3Prefix inputs list the prefix: allowed for exactly the bundle's key.
    assert by_action["s3:ListBucket"]["Condition"] == {"StringEquals": {"s3:prefix": [bundle_key]}}


def test_runs_create_no_experiment_trials(definitions: dict[str, dict[str, Any]]) -> None:
    assert definitions["dev"]["PipelineExperimentConfig"] is None


def test_pipeline_role_may_create_grants_for_encrypted_volumes_only(synthesized: Synthesized) -> None:
    synthesized.template("dev", "Training").has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "kms:CreateGrant",
                            "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}},
                            "Effect": "Allow",
                            "Resource": Match.any_value(),
                        }
                    ]
                )
            },
            "Roles": [{"Ref": Match.string_like_regexp("^PipelineExecutionRole")}],
        },
    )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_evaluate_gets_every_environment_threshold_and_where_the_run_came_from(
    definitions: dict[str, dict[str, Any]], environment: str
) -> None:
    arguments = evaluate_arguments(definitions[environment])
    # One source of truth: cdk.json's thresholds, all of them in every environment's report.
    assert arguments["--auc-thresholds"] == ",".join(
        f"{name}={config.training.auc_threshold}" for name, config in CONFIGS.items()
    )
    assert arguments["--environment"] == environment
    assert arguments["--champion-model-uri"] == {"Get": "Parameters.ChampionModelUri"}
    assert arguments["--champion-model-package-arn"] == {"Get": "Parameters.ChampionModelPackageArn"}
    assert arguments["--input-data-uri"] == {"Get": "Parameters.InputDataUri"}
    assert arguments["--input-data-version"] == {"Get": "Parameters.InputDataVersion"}
    assert arguments["--execution-id"] == {"Get": "Execution.PipelineExecutionId"}
    inputs = steps_by_name(definitions[environment])["Evaluate"]["Arguments"]["ProcessingInputs"]
    (code,) = [i["S3Input"]["S3Uri"] for i in inputs if i["InputName"] == "code"]
    assert arguments["--code-bundle-uri"] == code


def test_evaluate_reads_all_three_splits_from_preprocess(definitions: dict[str, dict[str, Any]]) -> None:
    inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"]
        for i in steps_by_name(definitions["dev"])["Evaluate"]["Arguments"]["ProcessingInputs"]
    }
    for split in ("train", "validation", "test"):
        assert inputs[split] == {"Get": f"Steps.Preprocess.ProcessingOutputConfig.Outputs['{split}'].S3Output.S3Uri"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_trigger_may_read_what_its_endpoint_serves_only(synthesized: Synthesized, environment: str) -> None:
    # The champion is the model the environment's endpoint serves: endpoint -> config -> model -> package.
    def arn(resource: str) -> dict[str, Any]:
        return {"Fn::Join": ["", ["arn:aws:sagemaker:eu-west-1:", {"Ref": "AWS::AccountId"}, f":{resource}"]]}

    prefix = f"mlops-{environment}"
    synthesized.template(environment, "Training").has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "sagemaker:DescribeEndpoint",
                            "Effect": "Allow",
                            "Resource": arn(f"endpoint/{prefix}"),
                        },
                        {
                            "Action": "sagemaker:DescribeEndpointConfig",
                            "Effect": "Allow",
                            "Resource": arn(f"endpoint-config/{prefix}-v*"),
                        },
                        {"Action": "sagemaker:DescribeModel", "Effect": "Allow", "Resource": arn(f"model/{prefix}-v*")},
                        {
                            "Action": "sagemaker:DescribeModelPackage",
                            "Effect": "Allow",
                            "Resource": arn(f"model-package/mlops-{environment}/*"),
                        },
                    ]
                )
            },
            "Roles": [{"Ref": Match.string_like_regexp("^TriggerRole")}],
        },
    )


# --------------------------------------------------------------------------------------------------------------
# Each job step's Arguments against the request shape of the API SageMaker Pipelines calls with them (botocore's
# service model: required members, unknown keys, types, lengths). CreatePipeline sees the definition as one string.

STEP_REQUESTS = {
    "Processing": ("CreateProcessingJob", {"ProcessingJobName": "pipelines-a1b2c3-Preprocess-0123456789"}),
    "Training": ("CreateTrainingJob", {"TrainingJobName": "pipelines-a1b2c3-Train-0123456789"}),
    "RegisterModel": ("CreateModelPackage", {}),
}
EXPRESSIONS = ("Get", "Std:Join", "Std:JsonGet")


def resolved_for_shape(value: Any, shape: Shape) -> Any:
    """The arguments with each pipeline expression (resolved at run time) replaced by a value of the member's type."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in EXPRESSIONS:
        minimum = max(int(shape.metadata.get("min", 1)), 1)
        return {"string": "x" * minimum, "integer": minimum, "long": minimum, "float": 1.0, "double": 1.0}[
            shape.type_name
        ]
    if shape.type_name == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        return {key: resolved_for_shape(item, members[key]) if key in members else item for key, item in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [resolved_for_shape(item, shape.member) for item in value]  # type: ignore[attr-defined]
    if shape.type_name == "map" and isinstance(value, dict):
        return {key: resolved_for_shape(item, shape.value) for key, item in value.items()}  # type: ignore[attr-defined]
    return value


def validate_step_request(step: dict[str, Any]) -> None:
    operation, service_names = STEP_REQUESTS[step["Type"]]
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model(operation).input_shape
    validate_parameters({**resolved_for_shape(step["Arguments"], shape), **service_names}, shape)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_job_step_is_a_valid_request_for_its_api(
    definitions: dict[str, dict[str, Any]], environment: str
) -> None:
    jobs = [step for step in steps_by_name(definitions[environment]).values() if step["Type"] in STEP_REQUESTS]
    assert sorted(step["Name"] for step in jobs) == ["Evaluate", "Preprocess", "Register-RegisterModel", "Train"]
    for step in jobs:
        validate_step_request(step)


def test_the_request_check_refuses_an_unknown_argument(definitions: dict[str, dict[str, Any]]) -> None:
    train = json.loads(json.dumps(steps_by_name(definitions["dev"])["Train"]))
    train["Arguments"]["ResourceConfig"]["InstanceSize"] = "large"
    with pytest.raises(ParamValidationError, match='Unknown parameter in ResourceConfig: "InstanceSize"'):
        validate_step_request(train)
