#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` builds every environment in cdk.json, `-c env=dev` just one."""

import sys

import aws_cdk as cdk

from stacks.application import build_app
from stacks.config import ConfigError

app = cdk.App()
try:
    build_app(app)
except ConfigError as error:
    sys.exit(f"Configuration error in cdk.json: {error}")
app.synth()
