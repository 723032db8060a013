"""The pipeline definition as synthesized: steps, parameters, images, instances, the gate and registration."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from constructs.training_pipeline import PLACEHOLDERS, PlaceholderError, substitute_tokens
from constructs.training_pipeline_definition import AUC_JSON_PATH, TRAINING_MAX_RUNTIME_ENV, VALIDATION_AUC_METRIC_REGEX
from stacks.config import load_environments
from tests.infra.pipeline_rendering import pipeline_definition
from tests.infra.synthesis import ENVIRONMENTS, Synthesized, cdk_json_context

CONFIGS = {config.name: config for config in load_environments(cdk_json_context())}
XGBOOST_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/sagemaker-xgboost:3\.0-5$")


@pytest.fixture(scope="module")
def definitions(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {name: pipeline_definition(synthesized.templates[name]["Training"]) for name in ENVIRONMENTS}


def steps_by_name(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    flat: dict[str, dict[str, Any]] = {}
    for step in definition["Steps"]:
        flat[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            for nested in step.get("Arguments", {}).get(branch, []):
                flat[nested["Name"]] = nested
    return flat


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_readable_definition_snapshot(
    definitions: dict[str, dict[str, Any]], snapshot: SnapshotAssertion, environment: str
) -> None:
    # Kept beside the template snapshots: the pipeline as ops review it, not as an escaped one-line string.
    assert definitions[environment] == snapshot.use_extension(JSONSnapshotExtension)


def test_step_graph(definitions: dict[str, dict[str, Any]]) -> None:
    definition = definitions["dev"]
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("Preprocess", "Processing"),
        ("Train", "Training"),
        ("Evaluate", "Processing"),
        ("CheckAucThreshold", "Condition"),
    ]
    condition = definition["Steps"][3]["Arguments"]
    assert [s["Name"] for s in condition["IfSteps"]] == ["Register-RegisterModel"]
    assert [s["Name"] for s in condition["ElseSteps"]] == ["AucBelowThreshold"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_parameters_default_to_the_environment_config(definitions: dict[str, dict[str, Any]], environment: str) -> None:
    training = CONFIGS[environment].training
    parameters = {p["Name"]: p.get("DefaultValue") for p in definitions[environment]["Parameters"]}
    assert parameters == {
        "InputDataUri": None,  # no default: the trigger always names the pinned upload
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


def test_condition_reads_the_auc_evaluate_writes(definitions: dict[str, dict[str, Any]]) -> None:
    (condition,) = steps_by_name(definitions["dev"])["CheckAucThreshold"]["Arguments"]["Conditions"]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == AUC_JSON_PATH
    assert condition["RightValue"] == {"Get": "Parameters.AucThreshold"}


def test_fail_message_names_the_auc_and_the_threshold(definitions: dict[str, dict[str, Any]]) -> None:
    message = steps_by_name(definitions["dev"])["AucBelowThreshold"]["Arguments"]["ErrorMessage"]["Std:Join"]
    assert message["On"] == " "
    assert message["Values"][0] == "ROC-AUC"
    assert message["Values"][1]["Std:JsonGet"]["Path"] == AUC_JSON_PATH
    assert message["Values"][2:] == ["is below the threshold", {"Get": "Parameters.AucThreshold"}]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_registration_waits_for_approval_in_the_environment_group(
    definitions: dict[str, dict[str, Any]], environment: str
) -> None:
    register = steps_by_name(definitions[environment])["Register-RegisterModel"]["Arguments"]
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["ModelPackageGroupName"] == f"mlops-{environment}"
    assert register["ModelMetrics"]["ModelQuality"]["Statistics"]["ContentType"] == "application/json"
    assert set(register["CustomerMetadataProperties"]) == {"auc", "evaluation_uri", "report_uri"}


def test_registered_model_serves_ml_code_inference_py(definitions: dict[str, dict[str, Any]]) -> None:
    register = steps_by_name(definitions["dev"])["Register-RegisterModel"]["Arguments"]
    (container,) = register["InferenceSpecification"]["Containers"]
    train = steps_by_name(definitions["dev"])["Train"]["Arguments"]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    # The same code bundle the model was trained with.
    assert (
        json.dumps(container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"])
        == (train["HyperParameters"]["sagemaker_submit_directory"])
    )
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}


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
