"""The synthesized pipeline against the scripts it runs: paths, arguments and the AUC the gate reads.

Reads the readable pipeline definitions kept beside the infra snapshots (tests/infra regenerates and
checks them against the synthesized templates), so ml_code's side of the container contract is checked
in ml_code's own environment.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from ml_helpers import PIPELINE_DEFINITIONS, TrainedRun

import artifacts
import evaluate
import input_files
import model_io
import preprocess
import train
import training_group

DEFINITIONS = sorted(PIPELINE_DEFINITIONS.glob("test_readable_definition_snapshot[[]*[]].json"))
TRIGGER_CONSTANTS = (
    Path(__file__).resolve().parents[2] / "constructs" / "training_trigger_lambda" / "training_trigger" / "constants.py"
)


def steps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step by name, also those inside condition branches."""
    flat = {}
    pending = list(definition["Steps"])
    while pending:
        step = pending.pop(0)
        flat[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            pending.extend(step["Arguments"].get(branch, []))
    return flat


# What a run's execution variables resolve to in these tests.
EXECUTION = {"Execution.PipelineExecutionId": "test-execution"}


def script_arguments(step: dict[str, Any], parameters: dict[str, Any]) -> tuple[str, list[str]]:
    """The script and its arguments as the container gets them, pipeline parameters at their defaults."""

    def value(argument: Any) -> str:
        if isinstance(argument, str):
            return argument
        (get,) = argument["Std:Join"]["Values"] if "Std:Join" in argument else [argument]
        if get["Get"] in EXECUTION:
            return EXECUTION[get["Get"]]
        return str(parameters[get["Get"].removeprefix("Parameters.")])

    script, *arguments = (value(argument) for argument in step["Arguments"]["AppSpecification"]["ContainerArguments"])
    return script, arguments


def test_every_environment_has_a_definition() -> None:
    assert [path.name.split("[")[1].split("]")[0] for path in DEFINITIONS] == ["dev", "prod", "stg"]


@pytest.fixture(params=DEFINITIONS, ids=lambda path: path.stem.split("[")[1].rstrip("]"))
def definition(request: pytest.FixtureRequest) -> dict[str, Any]:
    return json.loads(request.param.read_text())


def test_preprocess_accepts_its_arguments_and_writes_where_the_step_collects(definition: dict[str, Any]) -> None:
    parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    step = steps(definition)["Preprocess"]
    script, arguments = script_arguments(step, parameters)
    assert script == "preprocess.py"
    args = preprocess.parse_args(arguments)
    assert args.train_shards == parameters["TrainingInstanceCount"]
    (data_input,) = [i for i in step["Arguments"]["ProcessingInputs"] if i["InputName"] == "data"]
    assert Path(data_input["S3Input"]["LocalPath"]) == args.input_dir
    sources = {
        o["OutputName"]: Path(o["S3Output"]["LocalPath"])
        for o in step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    }
    assert sources == {
        split: args.output_dir / split for split in (artifacts.TRAIN, artifacts.VALIDATION, artifacts.TEST)
    }


def parameter_defaults(definition: dict[str, Any]) -> dict[str, Any]:
    return {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}


def test_evaluate_reads_and_writes_where_the_step_mounts(definition: dict[str, Any]) -> None:
    step = steps(definition)["Evaluate"]
    script, arguments = script_arguments(step, parameter_defaults(definition))
    assert script == "evaluate.py"
    args = evaluate.parse_args(arguments)
    inputs = {i["InputName"]: Path(i["S3Input"]["LocalPath"]) for i in step["Arguments"]["ProcessingInputs"]}
    assert inputs["model"] == args.model_dir
    assert inputs["test"] == args.test_dir
    assert inputs["train"] == args.train_dir
    assert inputs["validation"] == args.validation_dir
    (output,) = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert Path(output["S3Output"]["LocalPath"]) == args.output_dir


def test_training_channels_are_the_ones_train_reads(definition: dict[str, Any]) -> None:
    arguments = steps(definition)["Train"]["Arguments"]
    channels = {c["ChannelName"] for c in arguments["InputDataConfig"]}
    # An isolated job (private network mode: stg, prod) also gets the code bundle as a "code" channel, which the
    # training toolkit extracts before it starts train.py (docs/private-network.md).
    code = {"code"} if arguments.get("EnableNetworkIsolation") else set()
    assert channels == {"train", "validation"} | code  # SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION


def test_training_hosts_bound_their_waits_by_the_job_runtime(definition: dict[str, Any]) -> None:
    arguments = steps(definition)["Train"]["Arguments"]
    max_runtime = arguments["StoppingCondition"]["MaxRuntimeInSeconds"]
    assert arguments["Environment"][training_group.MAX_RUNTIME_ENV] == str(max_runtime)


def test_the_gate_reads_the_auc_evaluate_writes(
    definition: dict[str, Any], small_run: TrainedRun, tmp_path: Path
) -> None:
    all_steps = steps(definition)
    (property_file,) = all_steps["Evaluate"]["PropertyFiles"]
    json_get = all_steps["CheckQualityGate"]["Arguments"]["Conditions"][0]["LeftValue"]["Std:JsonGet"]
    assert json_get["PropertyFile"] == {"Get": f"Steps.Evaluate.PropertyFiles.{property_file['PropertyFileName']}"}

    evaluate.evaluate(small_run.model, small_run.splits / artifacts.TEST, tmp_path, 50, 0)
    document = json.loads((tmp_path / property_file["FilePath"]).read_text())
    value: Any = document
    for key in json_get["Path"].split("."):
        value = value[key]
    assert isinstance(value, float)
    assert 0.5 < value <= 1.0
    # The files the registration links to (inside Evaluate's output folder) are the ones evaluate writes.
    register = all_steps["Register-RegisterModel"]["Arguments"]
    linked = [
        register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"],
        *(register["CustomerMetadataProperties"][name] for name in ("evaluation_uri", "report_uri")),
    ]
    for uri in linked:
        folder, file_name = uri["Std:Join"]["Values"]
        assert folder == {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"}
        assert (tmp_path / file_name).is_file()


def test_the_upload_trigger_accepts_exactly_the_files_preprocess_reads() -> None:
    # The trigger runs on Lambda with boto3 and the standard library only: its constants, read from its source.
    constants = {
        target.id: node.value.value
        for node in ast.parse(TRIGGER_CONSTANTS.read_text()).body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert (constants["CSV_SUFFIX"], constants["GZIP_SUFFIX"]) == input_files.CSV_SUFFIXES


def test_evaluate_parses_the_run_context_the_pipeline_passes(definition: dict[str, Any]) -> None:
    parameters = parameter_defaults(definition)
    args = evaluate.parse_args(script_arguments(steps(definition)["Evaluate"], parameters)[1])
    assert [name for name, _ in args.auc_thresholds] == ["dev", "stg", "prod"]
    assert all(0.5 <= threshold <= 1.0 for _, threshold in args.auc_thresholds)
    assert args.champion_model_uri == ""  # the default: no champion, gated on the threshold alone
    assert args.champion_auc_margin == parameters.get("ChampionAucMargin")
    assert args.auc_threshold == parameters["AucThreshold"]
    assert args.execution_id == "test-execution"
    assert args.code_bundle_uri.startswith("s3://")


def json_path(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for key in path.split("."):
        value = value[key]
    return value


def operand(value: Any, document: dict[str, Any], parameters: dict[str, Any]) -> Any:
    """A condition's operand as SageMaker resolves it: a JsonGet into Evaluate's file, a parameter or a literal."""
    if isinstance(value, dict) and "Std:JsonGet" in value:
        return json_path(document, value["Std:JsonGet"]["Path"])
    if isinstance(value, dict) and "Get" in value:
        return parameters[value["Get"].removeprefix("Parameters.")]
    return value


def gate_outcome(definition: dict[str, Any], document: dict[str, Any], parameters: dict[str, Any]) -> bool:
    """The quality gate's condition step on Evaluate's output: every condition must hold."""
    conditions = steps(definition)["CheckQualityGate"]["Arguments"]["Conditions"]
    assert {condition["Type"] for condition in conditions} == {"GreaterThanOrEqualTo"}
    return all(
        operand(condition["LeftValue"], document, parameters) >= operand(condition["RightValue"], document, parameters)
        for condition in conditions
    )


def fail_message(definition: dict[str, Any], document: dict[str, Any]) -> str:
    message = steps(definition)["QualityGateFailed"]["Arguments"]["ErrorMessage"]["Std:Join"]
    return message["On"].join(str(operand(value, document, {})) for value in message["Values"])


def run_evaluate(
    definition: dict[str, Any], parameters: dict[str, Any], run: TrainedRun, model: Path, out: Path
) -> dict:
    """Evaluate with the arguments the step passes, parameters as given, on the test run's files."""
    arguments = script_arguments(steps(definition)["Evaluate"], parameters)[1]
    arguments += ["--model-dir", str(model), "--test-dir", str(run.splits / artifacts.TEST), "--output-dir", str(out),
                  "--train-dir", str(run.splits / artifacts.TRAIN),
                  "--validation-dir", str(run.splits / artifacts.VALIDATION), "--bootstrap-samples", "20"]  # fmt: skip
    evaluate.run(arguments)
    return json.loads((out / artifacts.EVALUATION_FILE).read_text())


@pytest.mark.parametrize("champion", [False, True], ids=["first model", "with a champion"])
def test_the_champion_rule_reads_what_evaluate_writes(champion: bool, small_run: TrainedRun, tmp_path: Path) -> None:
    definition = json.loads((PIPELINE_DEFINITIONS / "test_readable_definition_snapshot[prod].json").read_text())
    parameters = parameter_defaults(definition)
    if champion:
        parameters["ChampionModelUri"] = str(small_run.model)
    document = run_evaluate(definition, parameters, small_run, small_run.model, tmp_path)

    _, champion_rule = steps(definition)["CheckQualityGate"]["Arguments"]["Conditions"]
    left = json_path(document, champion_rule["LeftValue"]["Std:JsonGet"]["Path"])
    floor = json_path(document, champion_rule["RightValue"]["Std:JsonGet"]["Path"])
    assert isinstance(floor, float)
    margin = parameters["ChampionAucMargin"]
    if champion:
        # The same model as champion: the floor is its own ROC-AUC minus the margin, and it passes.
        assert floor == pytest.approx(left - margin)
    else:
        assert floor == 0.0
    assert left >= floor


@pytest.mark.parametrize(
    ("environment", "threshold", "champion"),
    [("dev", 0.5, False), ("dev", 0.9999, False), ("prod", 0.5, True), ("prod", 0.9999, True)],
    ids=["dev passes", "dev below threshold", "prod passes", "prod below threshold"],
)
def test_the_gate_and_evaluates_verdict_agree_and_the_fail_message_says_why(
    environment: str, threshold: float, champion: bool, small_run: TrainedRun, tmp_path: Path
) -> None:
    definition = json.loads(
        (PIPELINE_DEFINITIONS / f"test_readable_definition_snapshot[{environment}].json").read_text()
    )
    parameters = parameter_defaults(definition) | {"AucThreshold": threshold}
    if champion:
        parameters["ChampionModelUri"] = str(small_run.model)
    document = run_evaluate(definition, parameters, small_run, small_run.model, tmp_path)

    assert gate_outcome(definition, document, parameters) is document["quality_gate"]["passes"]
    assert document["quality_gate"]["passes"] is (threshold == 0.5)
    message = fail_message(definition, document)
    auc = document["binary_classification_metrics"]["auc"]["value"]
    if threshold == 0.5:
        assert message.startswith(f"Quality gate failed: ROC-AUC {auc:.4f} clears the threshold 0.5")
    else:
        assert message == (
            f"Quality gate failed: ROC-AUC {auc:.4f} is {threshold - auc:.4f} below the threshold {threshold:g}"
        )


def test_a_model_worse_than_the_champion_fails_the_gate_with_the_champion_rule(
    small_run: TrainedRun, tmp_path: Path
) -> None:
    definition = json.loads((PIPELINE_DEFINITIONS / "test_readable_definition_snapshot[prod].json").read_text())
    parameters = parameter_defaults(definition) | {"AucThreshold": 0.5, "ChampionModelUri": str(small_run.model)}
    weak = tmp_path / "weak"
    booster, manifest = train.train_booster(
        train.Paths(small_run.splits / artifacts.TRAIN, small_run.splits / artifacts.VALIDATION, weak),
        train.parse_hyperparameters(["--num-round", "2", "--max-depth", "1", "--early-stopping-rounds", "2"]),
    )
    model_io.save_model(booster, manifest, weak)
    document = run_evaluate(definition, parameters, small_run, weak, tmp_path / "out")

    assert gate_outcome(definition, document, parameters) is False
    assert document["quality_gate"]["failed_rules"] == ["champion"]
    champion_auc = document["champion_comparison"]["champion"]["auc"]["value"]
    assert f"below the serving model's ROC-AUC {champion_auc:.4f}, more than the margin 0.01" in fail_message(
        definition, document
    )
