"""The synthesized pipeline against the scripts it runs: paths, arguments and the AUC the gate reads.

Reads the readable pipeline definitions kept beside the infra snapshots (tests/infra regenerates and
checks them against the synthesized templates), so ml_code's side of the container contract is checked
in ml_code's own environment.
"""

from __future__ import annotations

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


def steps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    flat = {}
    for step in definition["Steps"]:
        flat[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            flat.update({nested["Name"]: nested for nested in step["Arguments"].get(branch, [])})
    return flat


def script_arguments(step: dict[str, Any], parameters: dict[str, Any]) -> tuple[str, list[str]]:
    """The script and its arguments as the container gets them, pipeline parameters at their defaults."""

    def value(argument: Any) -> str:
        if isinstance(argument, str):
            return argument
        (get,) = argument["Std:Join"]["Values"]
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


def test_evaluate_reads_and_writes_where_the_step_mounts(definition: dict[str, Any]) -> None:
    step = steps(definition)["Evaluate"]
    script, arguments = script_arguments(step, {})
    assert script == "evaluate.py"
    args = evaluate.parse_args(arguments)
    inputs = {i["InputName"]: Path(i["S3Input"]["LocalPath"]) for i in step["Arguments"]["ProcessingInputs"]}
    assert inputs["model"] == args.model_dir
    assert inputs["test"] == args.test_dir
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
    # The report the registration links to is written beside it.
    assert (tmp_path / "report.html").is_file()
