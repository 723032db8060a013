"""One deployable environment: `npx cdk deploy 'dev/*'` deploys the stacks of the `dev` stage."""

from __future__ import annotations

from aws_cdk import Environment, Stage

from constructs import Construct
from stacks.config import EnvironmentConfig
from stacks.data_stack import DataStack


class MlopsStage(Stage):
    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(scope, config.name, env=Environment(account=config.account, region=config.region))
        self.data = DataStack(self, "Data", config=config)
