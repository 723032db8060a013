"""The session's synthesized app as the ModelDeployment tests read it: each stage's Deployment stack, the Data stack
whose key it uses, and the templates' tokens rendered readable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

from constructs.model_deployment import ModelDeployment
from settings.loading import load_environments
from tests.infra.support.synthesis import Synthesized, cdk_json_context

CONFIGS = {config.name: config for config in load_environments(cdk_json_context())}
ENVIRONMENTS = tuple(CONFIGS)
PLACEHOLDER = "TOKEN"


@dataclass(frozen=True)
class App:
    outdir: Path
    deployments: dict[str, ModelDeployment]
    templates: dict[str, dict[str, dict[str, Any]]]  # environment -> "Data" | "Deployment" -> template

    def template(self, environment: str, stack: str = "Deployment") -> Template:
        return Template.from_json(self.templates[environment][stack])

    def resources(self, environment: str, resource_type: str) -> dict[str, Any]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[environment]["Deployment"]["Resources"].items()
            if resource["Type"] == resource_type
        }


def deployment_app(synthesized: Synthesized) -> App:
    """The session's synthesized app: each stage's Deployment stack and the Data stack whose key it uses."""
    return App(
        outdir=synthesized.outdir,
        deployments={name: stage.deployment.deployment for name, stage in synthesized.stages.items()},
        templates={
            name: {stack_id: synthesized.templates[name][stack_id] for stack_id in ("Data", "Deployment")}
            for name in synthesized.stages
        },
    )


def render(value: Any) -> str:
    """A template string with its tokens spelt <LogicalId.Attr> / <Ref>, other intrinsics as a placeholder."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    return PLACEHOLDER


def definition(app: App, environment: str) -> dict[str, Any]:
    (machine,) = app.resources(environment, "AWS::StepFunctions::StateMachine").values()
    return json.loads(render(machine["Properties"]["DefinitionString"]))


def settings_of(app: App, environment: str, function_description: str) -> dict[str, Any]:
    for function in app.resources(environment, "AWS::Lambda::Function").values():
        if function["Properties"]["Description"].endswith(function_description):
            return json.loads(render(function["Properties"]["Environment"]["Variables"]["DEPLOY_SETTINGS"]))
    raise AssertionError(f"no function described {function_description!r}")


def by_sid(statements: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    return next(statement for statement in statements if statement.get("Sid") == sid)
