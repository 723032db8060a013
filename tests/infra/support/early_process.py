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
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.infra.support.synthesis import REPO_ROOT

# A process still running after this has hung: the test waiting for it fails.
HANG_GUARD_SECONDS = 600


@dataclass(frozen=True)
class Finished:
    completed: subprocess.CompletedProcess[str]
    folder: Path  # the process's own empty folder, `{folder}` in its command and environment


@dataclass(frozen=True)
class EarlyProcess:
    """`command` in the repository's root with `env` added to this process's environment; `{folder}` in
    either becomes a new empty folder of its own.

    With `after`, when the session starts that one too: this one starts once `after` has ended, and `{after}`
    is `after`'s folder if it exited 0 (its output to reuse), else `after_fallback` in this one's own folder
    (nothing to reuse: the command makes its own). Run alone, `{after}` is that fallback from the start.
    """

    name: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    after: EarlyProcess | None = None
    after_fallback: str = "{folder}"

    def mark(self) -> pytest.MarkDecorator:
        return pytest.mark.early_process(self)

    def start(self, after: Started | None = None) -> Started:
        folder = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        started = Started(self.name, None, folder)
        if after is None:
            started.launch(self._arguments(folder, None))
            return started

        def launch_when_after_ends() -> None:
            reused = after.wait().folder if after.process is not None else None
            if reused is not None and after.finished is not None and after.finished.completed.returncode != 0:
                reused = None
            started.launch(self._arguments(folder, reused))

        started.launcher = threading.Thread(target=launch_when_after_ends, name=f"start {self.name}", daemon=True)
        started.launcher.start()
        return started

    def _arguments(self, folder: Path, after: Path | None) -> tuple[list[str], dict[str, str]]:
        after_folder = str(after) if after is not None else self.after_fallback.replace("{folder}", str(folder))

        def placed(text: str) -> str:
            return text.replace("{folder}", str(folder)).replace("{after}", after_folder)

        return [placed(part) for part in self.command], {key: placed(value) for key, value in self.env.items()}


@dataclass
class Started:
    name: str
    process: subprocess.Popen[str] | None  # None: not started yet (see `launcher`), or it could not, for `error`
    folder: Path
    error: OSError | None = None
    finished: Finished | None = None
    launcher: threading.Thread | None = None  # starts the process once the one it comes after has ended
    stopped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)  # launch vs stop
    waiting: threading.Lock = field(default_factory=threading.Lock)  # one communicate() at a time

    def launch(self, arguments: tuple[list[str], dict[str, str]]) -> None:
        command, env = arguments
        with self.lock:
            if self.stopped:
                return
            try:
                self.process = subprocess.Popen(
                    command,
                    cwd=REPO_ROOT,
                    env={**os.environ, **env},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            except OSError as error:  # e.g. not installed: the test that needs it fails, not the session
                self.error = error

    def wait(self) -> Finished:
        if self.launcher is not None:
            self.launcher.join(HANG_GUARD_SECONDS)
        if self.process is None:
            raise RuntimeError(f"could not start {self.name}: {self.error}")
        with self.waiting:
            if self.finished is None:
                stdout, stderr = self.process.communicate(timeout=HANG_GUARD_SECONDS)
                completed = subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr)
                self.finished = Finished(completed, self.folder)
        return self.finished

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with self.waiting:  # a launcher thread may be reading it: wait for that read to end
                if self.finished is None:
                    self.process.communicate()
        shutil.rmtree(self.folder, ignore_errors=True)
