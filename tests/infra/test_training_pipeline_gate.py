"""The pipeline's quality gate and registration as synthesized: one condition step reading what Evaluate wrote,
the Fail step's message, the champion and flip-rate rules, and the model package Register creates."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from constructs.training_pipeline import PLACEHOLDERS
from constructs.training_pipeline_settings import (
    AUC_JSON_PATH,
    CHAMPION_FLOOR_JSON_PATH,
    GATE_REASON_JSON_PATH,
)
from settings.loading import load_environments
from tests.infra.support.pipeline_definitions import evaluate_arguments, gate_conditions, steps_by_name
from tests.infra.support.synthesis import ENVIRONMENTS, Synthesized, cdk_json_context
from tools.pipeline_rendering import pipeline_definition

CONFIGS = {config.name: config for config in load_environments(cdk_json_context())}


@pytest.fixture(scope="module")
def definitions(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {name: pipeline_definition(synthesized.templates[name]["Training"]) for name in ENVIRONMENTS}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_whole_gate_is_one_condition_step(definitions: dict[str, dict[str, Any]], environment: str) -> None:
    # SageMaker does not support a condition step inside another (Condition step, Limitations).
    conditions = [s for s in steps_by_name(definitions[environment]).values() if s["Type"] == "Condition"]
    assert [s["Name"] for s in conditions] == ["CheckQualityGate"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_gate_checks_the_auc_evaluate_writes_against_the_threshold_parameter(
    definitions: dict[str, dict[str, Any]], environment: str
) -> None:
    threshold_rule = gate_conditions(definitions[environment])[0]
    assert threshold_rule["Type"] == "GreaterThanOrEqualTo"
    assert threshold_rule["LeftValue"]["Std:JsonGet"]["Path"] == AUC_JSON_PATH
    assert threshold_rule["LeftValue"]["Std:JsonGet"]["PropertyFile"] == {
        "Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"
    }
    assert threshold_rule["RightValue"] == {"Get": "Parameters.AucThreshold"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_evaluate_gets_the_threshold_the_gate_compares_with(
    definitions: dict[str, dict[str, Any]], environment: str
) -> None:
    # Evaluate's verdict and reason use the same threshold as the condition, also when a run overrides it.
    threshold = {"Get": "Parameters.AucThreshold"}
    assert evaluate_arguments(definitions[environment])["--auc-threshold"] == {
        "Std:Join": {"On": "", "Values": [threshold]}
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_fail_message_is_evaluates_reason(definitions: dict[str, dict[str, Any]], environment: str) -> None:
    # One Fail step for both rules: Evaluate's sentence names the rule that failed, the AUC, and the threshold or
    # the serving model's AUC and the margin (tests/ml/test_evaluate.py checks the sentences).
    message = steps_by_name(definitions[environment])["QualityGateFailed"]["Arguments"]["ErrorMessage"]["Std:Join"]
    assert message["On"] == " "
    prefix, reason = message["Values"]
    assert prefix == "Quality gate failed:"
    assert reason["Std:JsonGet"]["Path"] == GATE_REASON_JSON_PATH
    assert reason["Std:JsonGet"]["PropertyFile"] == {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}


def test_without_a_configured_margin_the_gate_is_the_threshold_alone(definitions: dict[str, dict[str, Any]]) -> None:
    assert CONFIGS["dev"].training.champion_auc_margin is None
    assert len(gate_conditions(definitions["dev"])) == 1
    assert "--champion-auc-margin" not in evaluate_arguments(definitions["dev"])


@pytest.mark.parametrize("environment", [name for name in ENVIRONMENTS if CONFIGS[name].training.champion_auc_margin])
def test_with_a_margin_the_same_condition_step_also_checks_the_champion_floor(
    definitions: dict[str, dict[str, Any]], environment: str
) -> None:
    _, champion_rule = gate_conditions(definitions[environment])
    assert champion_rule["Type"] == "GreaterThanOrEqualTo"
    assert champion_rule["LeftValue"]["Std:JsonGet"]["Path"] == AUC_JSON_PATH
    assert champion_rule["RightValue"]["Std:JsonGet"]["Path"] == CHAMPION_FLOOR_JSON_PATH
    # Evaluate computes the floor from the margin parameter (ops see and may override it per run).
    margin = {"Get": "Parameters.ChampionAucMargin"}
    assert evaluate_arguments(definitions[environment])["--champion-auc-margin"] == {
        "Std:Join": {"On": "", "Values": [margin]}
    }


def test_the_flip_rate_gate_is_off_by_default_and_one_more_condition_when_set() -> None:
    # Off in every environment (cdk.json has no training.max_flip_rate): the definitions above have no flip rule.
    from constructs.training_pipeline_definition import build_pipeline_definition
    from constructs.training_pipeline_settings import FLIP_MARGIN_JSON_PATH, PipelineSettings

    assert all(CONFIGS[name].training.max_flip_rate is None for name in ENVIRONMENTS)
    training = dataclasses.replace(CONFIGS["dev"].training, max_flip_rate=0.05)
    settings = PipelineSettings(
        pipeline_name="mlops-dev-training",
        environment_name="dev",
        region="eu-west-1",
        model_package_group_name="mlops-dev",
        training=training,
        auc_thresholds=(("dev", training.auc_threshold),),
        **PLACEHOLDERS,
    )
    definition = json.loads(build_pipeline_definition(settings))
    _, flip_rule = gate_conditions(definition)
    assert flip_rule["Type"] == "GreaterThanOrEqualTo"
    assert flip_rule["LeftValue"]["Std:JsonGet"]["Path"] == FLIP_MARGIN_JSON_PATH
    assert flip_rule["RightValue"] == 0.0
    assert evaluate_arguments(definition)["--max-flip-rate"] == "0.05"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_registration_waits_for_approval_in_the_environment_group(
    definitions: dict[str, dict[str, Any]], environment: str
) -> None:
    register = steps_by_name(definitions[environment])["Register-RegisterModel"]["Arguments"]
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["ModelPackageGroupName"] == f"mlops-{environment}"
    assert register["ModelMetrics"]["ModelQuality"]["Statistics"]["ContentType"] == "application/json"
    assert set(register["CustomerMetadataProperties"]) == {"auc", "evaluation_uri", "report_uri"}


EVALUATE_OUTPUT = {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_registration_reads_the_evaluation_files_from_evaluates_output(
    definitions: dict[str, dict[str, Any]], environment: str
) -> None:
    # With step caching a cache hit of Evaluate writes nothing under the current execution's id: the
    # package must point where Evaluate's output really is, its output property (the earlier run's folder).
    register = steps_by_name(definitions[environment])["Register-RegisterModel"]["Arguments"]
    statistics_uri = register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    metadata = register["CustomerMetadataProperties"]
    assert statistics_uri == {"Std:Join": {"On": "/", "Values": [EVALUATE_OUTPUT, "evaluation.json"]}}
    assert metadata["evaluation_uri"] == statistics_uri
    assert metadata["report_uri"] == {"Std:Join": {"On": "/", "Values": [EVALUATE_OUTPUT, "report.html"]}}


def test_registration_never_rebuilds_a_path_from_the_execution_id(definitions: dict[str, dict[str, Any]]) -> None:
    register = steps_by_name(definitions["dev"])["Register-RegisterModel"]["Arguments"]
    assert "Execution.PipelineExecutionId" not in json.dumps(register)


def test_registered_model_serves_ml_code_inference_py(definitions: dict[str, dict[str, Any]]) -> None:
    register = steps_by_name(definitions["dev"])["Register-RegisterModel"]["Arguments"]
    (container,) = register["InferenceSpecification"]["Containers"]
    train = steps_by_name(definitions["dev"])["Train"]["Arguments"]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    # The code the model was trained with, inside the model itself (train.py writes it under code/), not the
    # bundle in the CDK assets bucket, which the next deploy of ml_code replaces.
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert "s3://" in train["HyperParameters"]["sagemaker_submit_directory"]
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_environments_label_cut_off_is_registered_for_the_endpoint_and_shown_in_the_report(
    definitions: dict[str, dict[str, Any]], environment: str
) -> None:
    register = steps_by_name(definitions[environment])["Register-RegisterModel"]["Arguments"]
    (container,) = register["InferenceSpecification"]["Containers"]
    cut_off = CONFIGS[environment].training.label_threshold
    # The variable inference.py reads (ml_code/inference_handlers.py, THRESHOLD_ENV).
    assert container["Environment"]["PREDICTION_THRESHOLD"] == str(cut_off)
    assert evaluate_arguments(definitions[environment])["--label-threshold"] == str(cut_off)
