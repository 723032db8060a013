"""The documented-limits check on pipeline definitions: each rule refuses a small hand-made definition, the
synthesized dev, stg and prod definitions pass, and synth fails on a definition that breaks a rule."""

from __future__ import annotations

import copy
import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

import constructs.training_pipeline as training_pipeline
import constructs.training_pipeline_definition as training_pipeline_definition
from constructs.ml_code_bundle import MlCodeBundle
from constructs.pipeline_definition_check import PipelineDefinitionError, check_pipeline_definition, violations
from constructs.pipeline_definition_limits import (
    CYCLE,
    DEFINITION_SIZE,
    FAIL_STEP_DEPENDENCY,
    FAIL_STEP_REFERENCE,
    NESTED_CONDITION,
    PARAMETER_NAME,
    PARAMETER_TYPE,
    PROPERTY_FILE,
    REFERENCE_ACROSS_BRANCHES,
    SAME_STEP_IN_BOTH_BRANCHES,
    STEP_NAME,
    UNDEFINED_PARAMETER,
    UNIQUE_STEP,
    UNKNOWN_DEPENDENCY,
    UNKNOWN_STEP_REFERENCE,
    VERSION,
    Rule,
)
from settings.loading import load_environments
from tests.infra.support.synthesis import ENVIRONMENTS, Synthesized, cdk_json_context
from tools.pipeline_rendering import pipeline_definition

EVALUATE_REPORT = {"Get": "Steps.Evaluate.PropertyFiles.Report"}


def processing(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {"ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {}}]}},
        **extra,
    }


def fail(name: str, message: Any = "failed") -> dict[str, Any]:
    return {"Name": name, "Type": "Fail", "Arguments": {"ErrorMessage": message}}


def condition(name: str, if_steps: list[dict[str, Any]], else_steps: list[dict[str, Any]], **extra: Any) -> dict:
    auc = {"Std:JsonGet": {"PropertyFile": EVALUATE_REPORT, "Path": "auc"}}
    return {
        "Name": name,
        "Type": "Condition",
        "Arguments": {
            "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": auc, "RightValue": {"Get": "Parameters.T"}}],
            "IfSteps": if_steps,
            "ElseSteps": else_steps,
        },
        **extra,
    }


def definition(*steps: dict[str, Any]) -> dict[str, Any]:
    """A small definition that keeps every limit: Evaluate with a property file, then the given steps."""
    evaluate = processing("Evaluate", PropertyFiles=[{"PropertyFileName": "Report", "OutputName": "out",
                                                     "FilePath": "evaluation.json"}])  # fmt: skip
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [{"Name": "T", "Type": "Float", "DefaultValue": 0.9}],
        "PipelineExperimentConfig": None,
        "Steps": [evaluate, *steps],
    }


def valid() -> dict[str, Any]:
    return definition(condition("Gate", [processing("Register")], [fail("Failed")]))


def only_violation(document: dict[str, Any]) -> tuple[Rule, str]:
    (violation,) = violations(document)
    return violation.rule, violation.detail


def test_the_hand_made_definition_keeps_every_limit() -> None:
    assert violations(valid()) == []
    check_pipeline_definition(valid())


def test_refuses_a_condition_step_inside_another() -> None:
    inner = condition("Champion", [processing("Register")], [fail("Worse")])
    assert only_violation(definition(condition("Gate", [inner], [fail("Failed")]))) == (
        NESTED_CONDITION,
        "condition step 'Champion' is inside the IfSteps of condition step 'Gate'",
    )


def test_refuses_the_same_step_in_both_branches() -> None:
    assert only_violation(definition(condition("Gate", [processing("Register")], [processing("Register")]))) == (
        SAME_STEP_IN_BOTH_BRANCHES,
        "step 'Register' is in both IfSteps and ElseSteps of 'Gate'",
    )


def test_refuses_a_step_name_used_twice() -> None:
    document = definition(processing("Train"), condition("Gate", [processing("Train")], [fail("Failed")]))
    assert only_violation(document) == (UNIQUE_STEP, "step name 'Train' appears 2 times in the definition")


@pytest.mark.parametrize("name", ["", "Check.Gate", "Check Gate", "x" * 65])
def test_refuses_step_names_outside_the_schema(name: str) -> None:
    assert only_violation(definition(processing(name))) == (
        STEP_NAME,
        f"step name {name!r} is not 1-64 letters, digits, '-' or '_'",
    )


def test_accepts_the_longest_step_name() -> None:
    assert violations(definition(processing("A-_9" * 16))) == []


def test_refuses_parameter_names_outside_the_schema() -> None:
    document = valid()
    document["Parameters"].append({"Name": "Auc.Threshold", "Type": "Float"})
    assert only_violation(document) == (
        PARAMETER_NAME,
        "parameter name 'Auc.Threshold' is not 1-64 letters, digits, '-' or '_'",
    )


@pytest.mark.parametrize(
    ("parameter", "detail"),
    [
        ({"Name": "P", "Type": "Double", "DefaultValue": 0.5}, "parameter 'P' has Type 'Double', not String, Integer, Float or Boolean"),
        ({"Name": "P", "Type": "Float", "DefaultValue": "0.5"}, "parameter 'P' of Type Float has the DefaultValue '0.5'"),
        ({"Name": "P", "Type": "Integer", "DefaultValue": 1.5}, "parameter 'P' of Type Integer has the DefaultValue 1.5"),
        ({"Name": "P", "Type": "Integer", "DefaultValue": True}, "parameter 'P' of Type Integer has the DefaultValue True"),
        ({"Name": "P", "Type": "Boolean", "DefaultValue": 1}, "parameter 'P' of Type Boolean has the DefaultValue 1"),
        ({"Name": "P", "DefaultValue": 0.5}, "parameter 'P' of Type String has the DefaultValue 0.5"),
        ({"Name": "P", "Type": "String", "DefaultValue": "x" * 4097}, "parameter 'P' has a DefaultValue over 4096 characters"),
        ({"Name": "P", "Type": "String", "Description": "x" * 4097}, "parameter 'P' has a Description over 4096 characters"),
    ],
)  # fmt: skip
def test_refuses_parameters_whose_type_or_default_the_schema_does_not_allow(parameter: dict, detail: str) -> None:
    document = valid()
    document["Parameters"].append(parameter)
    assert only_violation(document) == (PARAMETER_TYPE, detail)


@pytest.mark.parametrize(
    "parameter",
    [
        {"Name": "P", "Type": "Float", "DefaultValue": 1},
        {"Name": "P", "Type": "Integer", "DefaultValue": 1},
        {"Name": "P", "Type": "Boolean", "DefaultValue": False},
        {"Name": "P", "DefaultValue": "x" * 4096},
        {"Name": "P", "Type": "String"},
    ],
)
def test_accepts_parameters_the_schema_allows(parameter: dict) -> None:
    document = valid()
    document["Parameters"].append(parameter)
    assert violations(document) == []


def test_refuses_a_parameter_the_definition_does_not_define() -> None:
    document = definition(processing("Train", Arguments={"Environment": {"X": {"Get": "Parameters.Missing"}}}))
    assert only_violation(document) == (UNDEFINED_PARAMETER, "step 'Train' reads parameter 'Missing', not defined")


def test_refuses_depends_on_an_unknown_step() -> None:
    assert only_violation(definition(processing("Train", DependsOn=["Prepare"]))) == (
        UNKNOWN_DEPENDENCY,
        "step 'Train' depends on unknown step 'Prepare'",
    )


def test_refuses_depends_on_a_fail_step() -> None:
    document = definition(fail("Stop"), processing("Train", DependsOn=["Stop"]))
    assert only_violation(document) == (FAIL_STEP_DEPENDENCY, "step 'Train' depends on fail step 'Stop'")


def test_refuses_a_reference_to_a_fail_step() -> None:
    document = definition(fail("Stop"), processing("Train", Arguments={"X": {"Get": "Steps.Stop.ErrorMessage"}}))
    assert only_violation(document) == (
        FAIL_STEP_REFERENCE,
        "step 'Train' reads 'Steps.Stop.ErrorMessage' of a fail step",
    )


def test_refuses_a_reference_to_an_unknown_step() -> None:
    message = {"Std:Join": {"On": " ", "Values": [{"Get": "Steps.Training.ModelArtifacts.S3ModelArtifacts"}]}}
    assert only_violation(definition(fail("Failed", message))) == (
        UNKNOWN_STEP_REFERENCE,
        "step 'Failed' reads 'Steps.Training.ModelArtifacts.S3ModelArtifacts': no step 'Training'",
    )


def test_refuses_a_reference_to_a_step_of_the_other_branch() -> None:
    register = processing("Register")
    report = processing("Report", Arguments={"X": {"Get": "Steps.Register.ModelPackageArn"}})
    assert only_violation(definition(condition("Gate", [register], [report]))) == (
        REFERENCE_ACROSS_BRANCHES,
        "step 'Report' reads 'Steps.Register.ModelPackageArn' of step 'Register', which runs only in the IfSteps of "
        "'Gate', a branch that does not lead to 'Report'",
    )


def test_refuses_a_step_after_the_gate_that_reads_a_step_of_one_branch() -> None:
    notify = processing("Notify", Arguments={"X": {"Get": "Steps.Register.ModelPackageArn"}})
    document = definition(condition("Gate", [processing("Register")], [fail("Failed")]), notify)
    assert only_violation(document)[0] == REFERENCE_ACROSS_BRANCHES


def test_refuses_depends_on_a_step_of_the_other_branch() -> None:
    document = definition(condition("Gate", [processing("Register")], [processing("Archive", DependsOn=["Register"])]))
    assert only_violation(document)[0] == REFERENCE_ACROSS_BRANCHES


def test_accepts_references_within_one_branch_and_to_steps_before_the_gate() -> None:
    register = processing("Register", Arguments={"X": {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['out']"}})
    deploy = processing("Deploy", Arguments={"X": {"Get": "Steps.Register.ModelPackageArn"}})
    assert violations(definition(condition("Gate", [register, deploy], [fail("Failed")]))) == []


def test_refuses_steps_that_wait_for_each_other() -> None:
    first = processing("First", DependsOn=["Second"])
    second = processing("Second", Arguments={"X": {"Get": "Steps.First.ProcessingJobArn"}})
    assert only_violation(definition(first, second)) == (CYCLE, "steps wait for each other: First -> Second -> First")


def test_refuses_a_condition_that_reads_a_step_of_its_own_branch() -> None:
    gate = condition("Gate", [processing("Register")], [fail("Failed")])
    gate["Arguments"]["Conditions"][0]["RightValue"] = {"Get": "Steps.Register.ProcessingJobArn"}
    assert only_violation(definition(gate)) == (CYCLE, "steps wait for each other: Gate -> Register -> Gate")


def test_refuses_a_property_file_the_step_does_not_declare() -> None:
    gate = condition("Gate", [processing("Register")], [fail("Failed")])
    gate["Arguments"]["Conditions"][0]["LeftValue"]["Std:JsonGet"]["PropertyFile"] = {
        "Get": "Steps.Evaluate.PropertyFiles.Metrics"
    }
    assert only_violation(definition(gate)) == (
        PROPERTY_FILE,
        "step 'Gate' reads property file 'Metrics', not declared on 'Evaluate'",
    )


def test_refuses_a_property_file_on_an_output_the_step_does_not_have() -> None:
    document = valid()
    document["Steps"][0]["PropertyFiles"][0]["OutputName"] = "evaluation"
    assert only_violation(document) == (
        PROPERTY_FILE,
        "property file 'Report' of 'Evaluate' names output 'evaluation', which the step does not have",
    )


def test_refuses_a_definition_over_createpipelines_length_limit() -> None:
    document = valid()
    document["Metadata"] = {"Padding": ""}
    document["Metadata"]["Padding"] = "x" * (1_048_576 - len(json.dumps(document)))
    assert len(json.dumps(document)) == 1_048_576
    assert violations(document) == []
    document["Metadata"]["Padding"] += "x"
    assert only_violation(document) == (DEFINITION_SIZE, "the definition is 1,048,577 characters, over 1,048,576")


def test_measures_the_text_createpipeline_receives_when_given() -> None:
    assert only_violation_of_text(valid(), " " * 1_048_577)[0] == DEFINITION_SIZE


def only_violation_of_text(document: dict[str, Any], text: str) -> tuple[Rule, str]:
    (violation,) = violations(document, text)
    return violation.rule, violation.detail


def test_refuses_another_definition_version() -> None:
    document = valid()
    document["Version"] = "2021-01-01"
    assert only_violation(document) == (VERSION, "Version is '2021-01-01', not '2020-12-01'")


def test_the_error_names_every_violation_with_its_page() -> None:
    inner = condition("Champion", [processing("Register")], [fail("Worse")])
    document = definition(condition("Gate", [inner], [fail("Failed")]), processing("Train", DependsOn=["Prepare"]))
    with pytest.raises(PipelineDefinitionError) as raised:
        check_pipeline_definition(document)
    message = str(raised.value)
    assert message.startswith("the pipeline definition breaks 2 documented SageMaker limit(s):\n- ")
    assert (
        "condition step 'Champion' is inside the IfSteps of condition step 'Gate' [nested-condition-step: " in message
    )
    assert "Pipelines doesn't support the use of nested condition steps." in message
    assert NESTED_CONDITION.page in message and UNKNOWN_DEPENDENCY.page in message


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_synthesized_definitions_keep_every_documented_limit(synthesized: Synthesized, environment: str) -> None:
    assert violations(pipeline_definition(synthesized.templates[environment]["Training"])) == []


def test_synth_fails_on_a_definition_that_breaks_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # The gate as it was before issue 19 in stg and prod: the champion check nested in the threshold check.
    build = training_pipeline_definition.build_pipeline_definition

    def nested_gate(settings: Any) -> str:
        document = json.loads(build(settings))
        gate = document["Steps"][-1]
        inner = copy.deepcopy(gate)
        inner["Name"] = "CheckChampion"
        inner["Arguments"]["ElseSteps"][0]["Name"] = "WorseThanChampion"
        gate["Arguments"]["IfSteps"] = [inner]
        return json.dumps(document)

    monkeypatch.setattr(training_pipeline_definition, "build_pipeline_definition", nested_gate)
    stack = cdk.Stack(cdk.App(), "Limits", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    (stg,) = [config for config in load_environments(cdk_json_context()) if config.name == "stg"]
    with pytest.raises(PipelineDefinitionError, match="condition step 'CheckChampion' is inside the IfSteps of"):
        training_pipeline.TrainingPipeline(
            stack,
            "Pipeline",
            environment_name="stg",
            settings=stg.training,
            auc_thresholds={"stg": stg.training.auc_threshold},
            artifacts_bucket=s3.Bucket(stack, "Artifacts"),
            key=kms.Key(stack, "Key"),
            code=MlCodeBundle(stack, "Code"),
            destroy_on_removal=stg.destroy_on_removal,
        )
