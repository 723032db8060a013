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
import preprocess
import train

DEFINITIONS = sorted(PIPELINE_DEFINITIONS.glob("test_readable_definition_snapshot[[]*[]].json"))
TRIGGER_HANDLER = Path(__file__).resolve().parents[2] / "constructs" / "training_trigger_lambda" / "handler.py"


def steps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step by name, also those inside condition branches (which may nest)."""
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
    channels = {c["ChannelName"] for c in steps(definition)["Train"]["Arguments"]["InputDataConfig"]}
    assert channels == {"train", "validation"}  # SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION


def test_training_hosts_bound_their_waits_by_the_job_runtime(definition: dict[str, Any]) -> None:
    arguments = steps(definition)["Train"]["Arguments"]
    max_runtime = arguments["StoppingCondition"]["MaxRuntimeInSeconds"]
    assert arguments["Environment"][train.MAX_RUNTIME_ENV] == str(max_runtime)


def test_the_gate_reads_the_auc_evaluate_writes(
    definition: dict[str, Any], small_run: TrainedRun, tmp_path: Path
) -> None:
    all_steps = steps(definition)
    (property_file,) = all_steps["Evaluate"]["PropertyFiles"]
    (condition,) = all_steps["CheckAucThreshold"]["Arguments"]["Conditions"]
    json_get = condition["LeftValue"]["Std:JsonGet"]
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
        for node in ast.parse(TRIGGER_HANDLER.read_text()).body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert (constants["CSV_SUFFIX"], constants["GZIP_SUFFIX"]) == preprocess.CSV_SUFFIXES


def test_evaluate_parses_the_run_context_the_pipeline_passes(definition: dict[str, Any]) -> None:
    parameters = parameter_defaults(definition)
    args = evaluate.parse_args(script_arguments(steps(definition)["Evaluate"], parameters)[1])
    assert [name for name, _ in args.auc_thresholds] == ["dev", "stg", "prod"]
    assert all(0.5 <= threshold <= 1.0 for _, threshold in args.auc_thresholds)
    assert args.champion_model_uri == ""  # the default: no champion, gated on the threshold alone
    assert args.champion_auc_margin == parameters.get("ChampionAucMargin")
    assert args.execution_id == "test-execution"
    assert args.code_bundle_uri.startswith("s3://")


def json_path(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for key in path.split("."):
        value = value[key]
    return value


@pytest.mark.parametrize("champion", [False, True], ids=["first model", "with a champion"])
def test_the_champion_gate_reads_what_evaluate_writes(champion: bool, small_run: TrainedRun, tmp_path: Path) -> None:
    definition = json.loads((PIPELINE_DEFINITIONS / "test_readable_definition_snapshot[prod].json").read_text())
    parameters = parameter_defaults(definition)
    if champion:
        parameters["ChampionModelUri"] = str(small_run.model)
    all_steps = steps(definition)
    arguments = script_arguments(all_steps["Evaluate"], parameters)[1]
    test_dir = small_run.splits / artifacts.TEST
    arguments += ["--model-dir", str(small_run.model), "--test-dir", str(test_dir), "--output-dir", str(tmp_path),
                  "--train-dir", str(small_run.splits / artifacts.TRAIN),
                  "--validation-dir", str(small_run.splits / artifacts.VALIDATION), "--bootstrap-samples", "20"]  # fmt: skip
    evaluate.run(arguments)
    document = json.loads((tmp_path / artifacts.EVALUATION_FILE).read_text())

    (condition,) = all_steps["CheckChampion"]["Arguments"]["Conditions"]
    left = json_path(document, condition["LeftValue"]["Std:JsonGet"]["Path"])
    floor = json_path(document, condition["RightValue"]["Std:JsonGet"]["Path"])
    assert isinstance(floor, float)
    margin = parameters["ChampionAucMargin"]
    if champion:
        # The same model as champion: the floor is its own ROC-AUC minus the margin, and it passes.
        assert floor == pytest.approx(left - margin)
        message_values = all_steps["WorseThanChampion"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
        assert json_path(document, message_values[5]["Std:JsonGet"]["Path"]) == left
    else:
        assert floor == 0.0
    assert left >= floor
