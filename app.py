#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` builds every environment in cdk.json, `-c env=dev` just one."""

import sys

from stacks import sagemaker_sdk

# First of all: the SDK's import then overlaps Node.js starting for jsii (see stacks/sagemaker_sdk.py).
sagemaker_sdk.start_importing()

from stacks.application import build_app, new_app  # noqa: E402
from stacks.config import ConfigError  # noqa: E402

app = new_app()
try:
    build_app(app)
except ConfigError as error:
    sys.exit(f"Configuration error in cdk.json: {error}")
app.synth()
