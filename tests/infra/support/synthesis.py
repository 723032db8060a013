"""Synthesizing the app in tests with the context `cdk synth` gets from cdk.json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from stacks.application import build_app, new_app
from stacks.stage import MlopsStage

REPO_ROOT = Path(__file__).resolve().parents[3]


# cdk.json's CLI settings and the context keys through which the CLI hands them to the app.
_CLI_SETTINGS = {
    "versionReporting": "aws:cdk:version-reporting",
    "pathMetadata": "aws:cdk:enable-path-metadata",
    "assetMetadata": "aws:cdk:enable-asset-metadata",
}


def cdk_json_context() -> dict[str, Any]:
    """The context `cdk synth` gives the app: cdk.json's context (feature flags) and its CLI settings.

    `python app.py` and Template.from_stack ignore cdk.json; without this the tests would check a
    different template than the one ops deploy.
    """
    cdk_json = json.loads((REPO_ROOT / "cdk.json").read_text())
    cli_context = {key: cdk_json[setting] for setting, key in _CLI_SETTINGS.items()}
    return {**cdk_json["context"], **cli_context}


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    stages: Mapping[str, MlopsStage]
    templates: Mapping[str, Mapping[str, dict[str, Any]]]  # environment -> stack id -> template

    def template(self, environment: str, stack_id: str) -> Template:
        return Template.from_json(self.templates[environment][stack_id])

    def template_paths(self) -> list[Path]:
        return sorted(self.outdir.glob("assembly-*/*.template.json"))


def synthesize(outdir: Path, context: Mapping[str, Any] | None = None) -> Synthesized:
    app = new_app(context=dict(context if context is not None else cdk_json_context()), outdir=str(outdir))
    stages = {stage.stage_name: stage for stage in build_app(app)}
    app.synth()
    templates = {
        name: {
            stack.node.id: json.loads((outdir / f"assembly-{name}" / stack.template_file).read_text())
            for stack in stage.node.children
            if isinstance(stack, cdk.Stack)
        }
        for name, stage in stages.items()
    }
    return Synthesized(outdir=outdir, stages=stages, templates=templates)


ENVIRONMENTS = tuple(cdk_json_context()["environments"])
