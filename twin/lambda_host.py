"""Lambda, as the twin stands it in: each function's handler imported from its asset folder in cdk.out (the code
CloudFormation would deploy), run in this process with the function's template environment.

Not Lambda: Python 3.11 instead of the function's runtime, no isolation between functions, no IAM role, no
timeout or memory limit. An exception is reported as Lambda reports an unhandled error.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from twin.cloudformation import Assembly

Handler = Callable[[Any, Any], Any]
_ENVIRONMENT_LOCK = threading.RLock()


@dataclass(frozen=True)
class Function:
    name: str
    arn: str
    asset: Path
    handler: str  # module.function, as the template's Handler says
    environment: Mapping[str, str]


class LambdaHost:
    """`log`: where the functions' output goes (CloudWatch Logs' stand-in); by default this process's stdout."""

    def __init__(self, assembly: Assembly, log: TextIO | None = None) -> None:
        self._log = log
        self.functions: dict[str, Function] = {}
        for resource in assembly.resources("AWS::Lambda::Function"):
            code = resource.resolved("Code")
            if "S3Key" not in code or "Handler" not in resource.properties:
                continue
            asset = assembly.asset_at(code["S3Bucket"], code["S3Key"])
            variables = (resource.resolved("Environment") or {}).get("Variables", {})
            function = Function(
                name=resource.name,
                arn=assembly._get_att(resource, "Arn"),
                asset=asset.source,
                handler=resource.properties["Handler"],
                environment={key: str(value) for key, value in variables.items()},
            )
            self.functions[function.arn] = self.functions[function.name] = function
        self._loaded: dict[str, Handler] = {}
        self.invocations: list[str] = []

    def handler(self, name_or_arn: str) -> Handler:
        """The function's handler, wrapped to run with its environment (what Lambda's runtime would set)."""
        function = self.functions[name_or_arn]

        def run(event: Any, context: Any = None) -> Any:
            self.invocations.append(function.name)
            with self._environment(function), self._output():
                return self._load(function)(event, context)

        return run

    def invoke(self, name_or_arn: str, event: Any) -> Any:
        return self.handler(name_or_arn)(event, None)

    def _load(self, function: Function) -> Handler:
        key = f"{function.asset}:{function.handler}"
        if key not in self._loaded:
            module_name, _, attribute = function.handler.rpartition(".")
            top = module_name.split(".")[0]
            # Another asset's module of the same name (every function's file may be handler.py) must not answer.
            for name in [n for n in sys.modules if n == top or n.startswith(f"{top}.")]:
                if not str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(function.asset)):
                    del sys.modules[name]
            sys.path.insert(0, str(function.asset))
            try:  # a logger the module sets up at import writes to the log too
                with self._output():
                    self._loaded[key] = getattr(importlib.import_module(module_name), attribute)
            finally:
                sys.path.remove(str(function.asset))
        return self._loaded[key]

    def _output(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.redirect_stdout(self._log) if self._log is not None else contextlib.nullcontext()

    @staticmethod
    @contextmanager
    def _environment(function: Function) -> Iterator[None]:
        with _ENVIRONMENT_LOCK:
            saved = dict(os.environ)
            os.environ.update(function.environment)
            os.environ["AWS_LAMBDA_FUNCTION_NAME"] = function.name
            try:
                yield
            finally:
                os.environ.clear()
                os.environ.update(saved)
