"""Builds the whole CDK app from its context: one stage per environment, cdk-nag on everything."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from settings.loading import auc_thresholds, load_environments
from stacks.stage import MlopsStage


def new_app(**props: Any) -> App:
    """The CDK app as `cdk synth` and the tests build it.

    CDK's built-in CloudFormation validation is off: it checks what cfn-lint already checks, more
    strictly, on every template in `make test`, and it was a quarter of a synth's time.
    """
    return App(builtin_cloud_formation_validation=False, **props)


def build_app(app: App) -> list[MlopsStage]:
    context = app.node.get_all_context()
    thresholds = auc_thresholds(context)
    stages = [MlopsStage(app, config, auc_thresholds=thresholds) for config in load_environments(context)]
    # cdk-nag 3 is a validation plugin: any unacknowledged finding fails synth, so `make synth` enforces it too.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stages
