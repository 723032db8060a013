#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` builds every environment in cdk.json, `-c env=dev` just one."""

import sys

import synth_speedups  # first, before the CDK loads: see the module for what it buys
from settings.loading import ConfigError
from stacks.application import build_app, new_app

app = new_app()
try:
    build_app(app)  # one stage per environment, cdk-nag on everything
except ConfigError as error:
    sys.exit(f"Configuration error in cdk.json: {error}")
app.synth()
synth_speedups.leave_without_teardown()
