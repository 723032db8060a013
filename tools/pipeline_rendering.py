"""The pipeline definition as ops read it: the template's Fn::Join resolved, CDK references as ${...}."""

from __future__ import annotations

import json
from typing import Any


def render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"]  # already ${...} form
    if isinstance(value, dict) and set(value) == {"Fn::GetStackOutput"}:
        reference = value["Fn::GetStackOutput"]
        return "${" + f"{reference['StackName']}.{reference['OutputName']}" + "}"
    raise ValueError(f"cannot render {value!r}")


def pipeline_definition(template: dict[str, Any]) -> dict[str, Any]:
    (pipeline,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Pipeline"]
    return json.loads(render(pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]))
