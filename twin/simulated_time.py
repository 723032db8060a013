"""Simulated time and in-process Lambda functions for moto's Amazon States Language interpreter.

Shared by the local twin (twin/step_functions.py) and the deploy workflow's tests
(tests/infra/support/step_functions_harness.py, which patches moto with them): a Wait state or a retry interval hands control to
`SimulatedTime` instead of sleeping, and a Lambda task's Invoke runs the handler in this process.
"""

from __future__ import annotations

import heapq
import io
import itertools
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any


class SimulatedTime:
    """A discrete-event clock: one execution thread runs at a time; waiting moves simulated time forward."""

    def __init__(self, on_advance: Callable[[float], None]) -> None:
        self.now = 0.0
        self.waits: list[float] = []  # every Wait / Retry interval requested, in seconds
        self._on_advance = on_advance
        self._queue: list[tuple[float, int, threading.Event]] = []
        self._order = itertools.count()
        self._yielded = threading.Event()
        self._lock = threading.Lock()
        self._spawned = 0

    def spawn(self, run: Callable[[], None]) -> None:
        """Start an execution thread; it runs when the scheduler reaches it."""
        turn = self._enqueue(0)
        self._spawned += 1

        def body() -> None:
            turn.wait()
            try:
                run()
            finally:
                self._yielded.set()

        threading.Thread(target=body, daemon=True, name=f"execution-{self._spawned}").start()

    def sleep(self, seconds: float) -> None:
        """Called by an execution thread in place of a real wait."""
        self.waits.append(seconds)
        turn = self._enqueue(seconds)
        self._yielded.set()
        turn.wait()

    def yield_turn(self) -> None:
        """Let every execution ready now run first (a preemption); no simulated time passes."""
        turn = self._enqueue(0)
        self._yielded.set()
        turn.wait()

    def run(self, until: float | None = None) -> None:
        """Run executions until all have ended (or simulated time would pass `until`)."""
        while self._queue:
            wake, _, turn = self._queue[0]
            if until is not None and wake > until:
                break
            heapq.heappop(self._queue)
            self._advance_to(wake)
            self._yielded.clear()
            turn.set()
            self._yielded.wait()
        if until is not None:
            self._advance_to(until)

    def _enqueue(self, seconds: float) -> threading.Event:
        turn = threading.Event()
        with self._lock:
            heapq.heappush(self._queue, (self.now + seconds, next(self._order), turn))
        return turn

    def _advance_to(self, moment: float) -> None:
        if moment > self.now:
            self._on_advance(moment - self.now)
            self.now = moment


class InProcessLambda:
    """What Lambda's Invoke answers, from the handler named in the template, run in this process."""

    def __init__(self, handlers: Mapping[str, Callable[[Any, Any], Any]]) -> None:
        self._handlers = handlers
        self.invocations: list[str] = []

    def invoke(self, FunctionName: str, Payload: Any = None, **_: Any) -> dict[str, Any]:
        self.invocations.append(FunctionName)
        event = json.loads(Payload) if Payload else {}
        try:
            result = self._handlers[FunctionName](event, None)
        except Exception as error:  # Lambda reports any exception of the handler this way
            body = {"errorType": type(error).__name__, "errorMessage": str(error)}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result, default=str).encode())}
