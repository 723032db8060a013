"""A separate process that a test checks, started as soon as the session knows that it will run the test.

The CDK CLI's synth and a run of app.py take seconds of CPU each, which the test session would spend waiting
on them; started when collection ends, they run on the other core while the suite goes on, and the test reads
their result when its turn comes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.infra.synthesis import REPO_ROOT

# A process still running after this has hung: the test waiting for it fails.
HANG_GUARD_SECONDS = 600


@dataclass(frozen=True)
class Finished:
    completed: subprocess.CompletedProcess[str]
    folder: Path  # the process's own empty folder, `{folder}` in its command and environment


@dataclass(frozen=True)
class EarlyProcess:
    """`command` in the repository's root with `env` added to this process's environment; `{folder}` in
    either becomes a new empty folder of its own."""

    name: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict, hash=False)

    def mark(self) -> pytest.MarkDecorator:
        return pytest.mark.early_process(self)

    def start(self) -> Started:
        folder = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))

        def placed(text: str) -> str:
            return text.replace("{folder}", str(folder))

        try:
            process = subprocess.Popen(
                [placed(part) for part in self.command],
                cwd=REPO_ROOT,
                env={**os.environ, **{key: placed(value) for key, value in self.env.items()}},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as error:  # e.g. the command is not installed: the test that needs it fails, not the session
            return Started(self.name, None, folder, error)
        return Started(self.name, process, folder)


@dataclass
class Started:
    name: str
    process: subprocess.Popen[str] | None  # None: it could not start, for `error`
    folder: Path
    error: OSError | None = None
    finished: Finished | None = None

    def wait(self) -> Finished:
        if self.process is None:
            raise RuntimeError(f"could not start {self.name}: {self.error}")
        if self.finished is None:
            stdout, stderr = self.process.communicate(timeout=HANG_GUARD_SECONDS)
            completed = subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr)
            self.finished = Finished(completed, self.folder)
        return self.finished

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        shutil.rmtree(self.folder, ignore_errors=True)
