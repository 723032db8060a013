"""Records every AWS API call the project's Lambda code makes while the tests drive it.

A botocore `provide-client-params` hook on every client (moto or the Stubber answering alike) sees the service,
the operation and the caller's parameters. A call counts as the Lambda's when the Python stack holds frames of
handler code (files under a `constructs/*_lambda/` folder, where every function's runtime code lives); the call
keeps those frames, outermost first, as (module, function) pairs, the module dotted as Lambda's `Handler` names it
(`model_deployment.prepare`). A function runs the call when one of those frames is its handler's module and entry
point (or the `run` it wraps). Calls the tests make to set up or inspect moto, and calls from handler helpers that
a test calls directly (not through an entry point), are kept apart and never checked.

With each call the recorder keeps what the check needs to translate the test's names into an environment's:
the process environment (handlers read their configuration from it), the `settings` mapping the deploy steps
take as an argument, and the event the entry point was given.
"""

from __future__ import annotations

import copy
import functools
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from botocore.client import ClientCreator

CONSTRUCTS_DIR = Path(__file__).resolve().parents[3] / "constructs"


@dataclass(frozen=True)
class RecordedCall:
    service: str  # botocore's service name, e.g. "sagemaker", "application-autoscaling"
    operation: str  # e.g. "UpdateEndpoint"
    params: Mapping[str, Any]
    frames: tuple[tuple[str, str], ...]  # handler code on the stack, outermost first: (module, function)
    test: str  # pytest's node id of the test that made the call
    environ: Mapping[str, str]
    settings: Mapping[str, Any] | None
    event: Mapping[str, Any] | None


@dataclass
class CallRecorder:
    calls: list[RecordedCall] = field(default_factory=list)
    _original_create_client: Any = None

    def install(self) -> None:
        """Every botocore client created from now on reports its calls here."""
        original = ClientCreator.create_client
        recorder = self

        def create_client(creator: ClientCreator, *args: Any, **kwargs: Any) -> Any:
            client = original(creator, *args, **kwargs)
            # First, so a Stubber's or moto's own handlers cannot answer before the call is seen.
            client.meta.events.register_first("provide-client-params.*.*", recorder._on_call)
            return client

        self._original_create_client = original
        ClientCreator.create_client = create_client  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original_create_client is not None:
            ClientCreator.create_client = self._original_create_client  # type: ignore[method-assign]
            self._original_create_client = None

    def _on_call(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        frames = list(_handler_frames(sys._getframe(1)))
        if not frames and threading.current_thread() is not threading.main_thread():
            # boto3's managed transfers (s3.copy, upload_file) call S3 from worker threads while the handler
            # waits for them on the main thread: the call is the handler's if the main thread is inside one.
            frames = list(_handler_frames(sys._current_frames().get(threading.main_thread().ident)))
        if not frames:
            return
        frames.reverse()  # outermost first
        settings = _first_local(frames, "settings")
        event = _first_local(frames, "event")
        self.calls.append(
            RecordedCall(
                service=model.service_model.service_name,
                operation=model.name,
                params=copy.deepcopy(dict(params)),
                frames=tuple((_handler_module(frame.f_code.co_filename), frame.f_code.co_name) for frame in frames),
                test=os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0],
                environ=dict(os.environ),
                settings=copy.deepcopy(dict(settings)) if isinstance(settings, Mapping) else None,
                event=copy.deepcopy(dict(event)) if isinstance(event, Mapping) else None,
            )
        )


def _first_local(frames: list[FrameType], name: str) -> Any:
    """The first Mapping bound to `name` in the frames, outermost first (the entry point's own argument)."""
    return next((frame.f_locals[name] for frame in frames if isinstance(frame.f_locals.get(name), Mapping)), None)


@functools.cache
def _handler_module(filename: str) -> str | None:
    """`model_deployment.prepare` for constructs/model_deployment_lambda/model_deployment/prepare.py; None outside handler code."""
    path = Path(filename).resolve()
    for folder in path.parents:
        if folder.parent == CONSTRUCTS_DIR:
            if not folder.name.endswith("_lambda"):
                return None
            return ".".join(path.relative_to(folder).with_suffix("").parts)
    return None


def handler_modules() -> set[str]:
    """Every module of handler code, dotted as Lambda's `Handler` names it."""
    return {module for path in CONSTRUCTS_DIR.glob("*_lambda/**/*.py") if (module := _handler_module(str(path)))}


def _handler_frames(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        if _handler_module(frame.f_code.co_filename) is not None:
            yield frame
        frame = frame.f_back
