"""The SageMaker SDK as synth uses it: quiet, and imported on a thread while Node.js starts.

Importing the SDK costs about 1.3 s of CPU (its package `__init__` pulls in JumpStart and sagemaker_core's
shapes). Starting Node.js for jsii and loading aws-cdk-lib take about as long, and meanwhile this process
only waits; app.py calls `start_importing` before anything imports aws_cdk, so the two overlap.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading

_LOGGERS = ("sagemaker", "sagemaker.config")


def quiet() -> None:
    """No v2 banner and no config-file notices from the SDK: call before it is imported."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _import_quietly() -> None:
    # A failed import is left for the module that needs the SDK to raise, in the main thread.
    with contextlib.suppress(Exception):
        importlib.import_module("sagemaker")


def start_importing() -> None:
    quiet()
    threading.Thread(target=_import_quietly, name="sagemaker-sdk-import", daemon=True).start()
