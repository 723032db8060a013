"""The twin's pipeline interpreter and job runner on hand-made definitions: expressions, order, conditions and
failures as SageMaker's developer guide describes them (no jobs run here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from twin.cloudformation import Assembly
from twin.job_runner import JobRunner, host_share
from twin.local_aws import LocalAws, seed
from twin.pipeline_interpreter import Execution, ExecutionFailed, PipelineInterpreter, property_path

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p/execution/abc123"
PARAMETERS = [
    {"Name": "InputDataUri", "Type": "String"},
    {"Name": "AucThreshold", "Type": "Float", "DefaultValue": 0.85},
    {"Name": "Count", "Type": "Integer", "DefaultValue": 1},
]


def execution(steps: list[dict[str, Any]], **given: Any) -> Execution:
    definition = {"Version": "2020-12-01", "Parameters": PARAMETERS, "Steps": steps}
    return Execution("p", ARN, definition, given)


@pytest.fixture
def interpreter() -> PipelineInterpreter:
    return PipelineInterpreter(jobs=None, s3=None, sagemaker=None, say=lambda _: None)  # type: ignore[arg-type]


def test_join_writes_parameters_as_text(interpreter: PipelineInterpreter) -> None:
    expression = {"Std:Join": {"On": "/", "Values": [{"Get": "Parameters.AucThreshold"}, {"Get": "Parameters.Count"}]}}
    assert interpreter.evaluate(expression, execution([])) == "0.85/1"


def test_a_given_parameter_is_typed_as_declared(interpreter: PipelineInterpreter) -> None:
    assert interpreter.evaluate({"Get": "Parameters.Count"}, execution([], Count="3")) == 3


def test_execution_variables(interpreter: PipelineInterpreter) -> None:
    assert interpreter.evaluate({"Get": "Execution.PipelineExecutionId"}, execution([])) == "abc123"


def test_a_parameter_without_default_must_be_given(interpreter: PipelineInterpreter) -> None:
    with pytest.raises(ExecutionFailed, match="InputDataUri has no default"):
        interpreter.evaluate({"Get": "Parameters.InputDataUri"}, execution([]))


def test_a_parameter_the_pipeline_does_not_declare_fails_the_execution(interpreter: PipelineInterpreter) -> None:
    status, reason = interpreter.run(execution([], InputDataUri="s3://b/k", InputDataURL="s3://b/k"))
    assert (status, reason) == ("Failed", "parameters not declared by the pipeline: InputDataURL")


def test_json_get_reads_a_property_file(interpreter: PipelineInterpreter) -> None:
    run = execution([])
    run.property_files[("Evaluate", "Report")] = {"metrics": {"auc": {"value": 0.91}}, "list": [{"a": 1}]}
    get = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Report"}, "Path": "metrics.auc.value"}}
    assert interpreter.evaluate(get, run) == 0.91


def test_step_properties_index_named_lists_by_name() -> None:
    properties = {"Outputs": [{"OutputName": "train", "S3Uri": "s3://t"}, {"OutputName": "test", "S3Uri": "s3://x"}]}
    assert property_path(properties, "Outputs['test'].S3Uri", "step") == "s3://x"
    with pytest.raises(ExecutionFailed, match="no property"):
        property_path(properties, "Outputs['validation'].S3Uri", "step")


def condition_step(left: float, then: list[dict[str, Any]], otherwise: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Name": "Gate",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {"Type": "GreaterThanOrEqualTo", "LeftValue": left, "RightValue": {"Get": "Parameters.AucThreshold"}}
            ],
            "IfSteps": then,
            "ElseSteps": otherwise,
        },
    }


def fail_step(name: str, *message: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {"On": " ", "Values": message}}}}


def test_a_condition_runs_the_branch_it_chooses_and_a_fail_step_ends_the_run(interpreter: PipelineInterpreter) -> None:
    run = execution([condition_step(0.5, [fail_step("High", "high")], [fail_step("Low", "AUC", 0.5, "is low")])])
    assert interpreter.run(run) == ("Failed", "AUC 0.5 is low")
    assert [(step["StepName"], step["StepStatus"]) for step in run.steps] == [("Gate", "Succeeded"), ("Low", "Failed")]


def test_steps_run_after_the_steps_they_read(interpreter: PipelineInterpreter) -> None:
    reader = condition_step(0.9, [], [])
    reader["Arguments"]["Conditions"][0]["LeftValue"] = {"Get": "Steps.First.Outcome"}
    reader["Name"] = "Second"
    first = condition_step(0.9, [], [])
    first["Name"] = "First"
    assert [step["Name"] for step in interpreter.ordered([reader, first])] == ["First", "Second"]


def test_a_step_type_the_twin_does_not_run_is_named(interpreter: PipelineInterpreter) -> None:
    status, reason = interpreter.run(execution([{"Name": "Batch", "Type": "Transform", "Arguments": {}}]))
    assert status == "Failed"
    assert "the twin does not run Transform steps" in (reason or "")


def test_training_on_hosts_whose_names_do_not_resolve_fails_at_once(tmp_path: Path) -> None:
    arguments = {"ResourceConfig": {"InstanceCount": 2}, "HyperParameters": {}}
    result, model = JobRunner(s3=None, work_dir=tmp_path).training("job", arguments)
    assert model is None
    assert not result.succeeded
    assert "algo-1, algo-2 do not resolve" in (result.failure or "")


def test_sharded_channels_split_the_objects_between_hosts(tmp_path: Path) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="twin-shards")
        for number in range(5):
            s3.put_object(Bucket="twin-shards", Key=f"train/part-{number}.parquet", Body=json.dumps(number).encode())
        runner = JobRunner(s3=s3, work_dir=tmp_path)
        keys = runner.objects("s3://twin-shards/train")
        for rank in range(2):
            runner.download("s3://twin-shards/train", tmp_path / f"algo-{rank + 1}", host_share(keys, rank, 2))
    assert sorted(p.name for p in (tmp_path / "algo-1").iterdir()) == [
        "part-0.parquet",
        "part-2.parquet",
        "part-4.parquet",
    ]
    assert sorted(p.name for p in (tmp_path / "algo-2").iterdir()) == ["part-1.parquet", "part-3.parquet"]


def test_a_table_and_a_queue_in_a_template_are_seeded_by_their_type(tmp_path: Path) -> None:
    # A resource the deploy workflow's rewrite adds (a DynamoDB ledger, say) needs no code of its own in the twin.
    template = {
        "Resources": {
            "Ledger": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "SSESpecification": {"SSEEnabled": True},
                    "TableName": {"Fn::Join": ["-", ["ledger", {"Ref": "AWS::Region"}]]},
                },
            },
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        }
    }
    assembly_dir = tmp_path / "assembly-dev"
    assembly_dir.mkdir()
    (assembly_dir / "dev-Ledger.template.json").write_text(json.dumps(template))
    manifest = {
        "artifacts": {
            "devLedger": {
                "type": "aws:cloudformation:stack",
                "environment": "aws://unknown-account/eu-west-1",
                "displayName": "dev/Ledger",
                "properties": {"templateFile": "dev-Ledger.template.json", "stackName": "dev-Ledger"},
            }
        }
    }
    (assembly_dir / "manifest.json").write_text(json.dumps(manifest))
    said: list[str] = []
    with LocalAws("eu-west-1") as aws:
        seed(aws, Assembly(tmp_path, "dev"), said.append)
        assert aws.client("dynamodb").list_tables()["TableNames"] == ["ledger-eu-west-1"]
        assert aws.client("sqs").list_queues()["QueueUrls"][0].endswith("/dev-Ledger-Queue")
    assert said == ["1 queue, 1 table"]
