"""How a job reports why it failed: a sentence in the file SageMaker shows to the person running it.

A training job's `<output>/failure` becomes its FailureReason, a processing job's `<output>/message` its
ExitMessage (first 1 KB each). Messages name files, columns and rows, never row contents or secrets.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

# The container's /opt/ml. SAGEMAKER_BASE_DIR moves it, as sagemaker-containers reads it when serving; the local
# twin (twin/job_runner.py) runs each job in a folder laid out like /opt/ml and points this variable at it.
BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"
CONTAINER_BASE_DIR = "/opt/ml"
# SageMaker's training toolkit sets SM_OUTPUT_DIR to /opt/ml/output; local runs and tests point it elsewhere.
OUTPUT_DIR_ENV = "SM_OUTPUT_DIR"
TRAINING_FAILURE_FILE = "failure"
PROCESSING_MESSAGE_FILE = "message"
_MAX_MESSAGE_BYTES = 1024
EXIT_FAILURE = 1


class JobFailure(Exception):
    """A failure whose message is safe to show and tells the person what to fix."""


def container_path(relative: str) -> Path:
    """A path under the container's /opt/ml (e.g. "processing/input/data"), or under $SAGEMAKER_BASE_DIR."""
    return Path(os.environ.get(BASE_DIR_ENV) or CONTAINER_BASE_DIR) / relative


def output_dir() -> Path:
    return Path(os.environ[OUTPUT_DIR_ENV]) if os.environ.get(OUTPUT_DIR_ENV) else container_path("output")


def truncated(message: str) -> str:
    """The message cut to SageMaker's 1 KB on a character boundary."""
    return message.encode("utf-8")[:_MAX_MESSAGE_BYTES].decode("utf-8", errors="ignore")


def write_reason(file_name: str, message: str) -> Path:
    path = output_dir() / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(truncated(message), encoding="utf-8")
    return path


def run_job(job_name: str, main: Callable[[], None], file_name: str) -> int:
    """Run `main`, turning any failure into a reason file and a non-zero exit code.

    A JobFailure's own message is shown; any other exception only by its type, because its text may
    quote data. Its traceback still goes to the job's log.
    """
    try:
        main()
    except JobFailure as failure:
        report_failure(job_name, failure, file_name)
    except Exception as error:  # the last line of defence of a job
        traceback.print_exc()
        _report(
            f"{job_name} failed with an unexpected {type(error).__name__}; see the job's log for details", file_name
        )
    else:
        return 0
    return EXIT_FAILURE


def report_failure(job_name: str, failure: JobFailure, file_name: str) -> None:
    """The failure's sentence in the reason file and on stderr (the job's log)."""
    _report(f"{job_name} failed: {failure}", file_name)


def _report(message: str, file_name: str) -> None:
    write_reason(file_name, message)
    print(message, file=sys.stderr)


class JobArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors (e.g. a mistyped hyperparameter) become the job's failure reason."""

    def error(self, message: str) -> NoReturn:
        raise JobFailure(f"invalid arguments: {message}")
