"""Lambda, as the twin stands it in: each function's handler imported from its asset folder in cdk.out (the code
CloudFormation would deploy), run in this process with the function's template environment.

Not Lambda: Python 3.11 instead of the function's runtime, no isolation between functions, no IAM role, no
timeout or memory limit. An exception is reported as Lambda reports an unhandled error. The functions log with the
standard library and Lambda's JSON log format (constructs/python_lambda.py): their records reach the log as Lambda's
runtime writes them, one JSON object per line (`LambdaJsonFormatter`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from twin.cloudformation import Assembly

Handler = Callable[[Any, Any], Any]
_ENVIRONMENT_LOCK = threading.RLock()
# What every LogRecord has: anything else on a record came in the call's `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class LambdaJsonFormatter(logging.Formatter):
    """A record as Lambda's Python runtime writes it with the JSON log format: timestamp, level, message, logger,
    the exception's errorType, errorMessage and stackTrace, and every key the call passed in `extra`, at the top
    level ("Using Lambda advanced logging controls with Python", AWS Lambda developer guide; the runtime interface
    client's JsonFormatter, aws/aws-lambda-python-runtime-interface-client). Like the runtime's, it encodes without
    a fallback: a value JSON cannot hold fails here as it would there. No requestId: the twin has none."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry |= {
                "errorType": record.exc_info[0].__name__,
                "errorMessage": str(record.exc_info[1]),
                "stackTrace": self.formatException(record.exc_info).splitlines(),
            }
        entry |= {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}
        return json.dumps(entry, ensure_ascii=False)


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
            with self._environment(function), self._output(), self._application_logs(function):
                return self._load(function)(event, context)

        return run

    def invoke(self, name_or_arn: str, event: Any) -> Any:
        return self.handler(name_or_arn)(event, None)

    def _load(self, function: Function) -> Handler:
        key = f"{function.asset}:{function.handler}"
        if key not in self._loaded:
            module_name, _, attribute = function.handler.rpartition(".")
            top = module_name.split(".")[0]
            # Another asset's package of the same name (another cdk.out's copy) must not answer.
            for name in [n for n in sys.modules if n == top or n.startswith(f"{top}.")]:
                if not str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(function.asset)):
                    del sys.modules[name]
            sys.path.insert(0, str(function.asset))
            try:
                self._loaded[key] = getattr(importlib.import_module(module_name), attribute)
            finally:
                sys.path.remove(str(function.asset))
        return self._loaded[key]

    def _output(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.redirect_stdout(self._log) if self._log is not None else contextlib.nullcontext()

    @contextmanager
    def _application_logs(self, function: Function) -> Iterator[None]:
        """The function's records (its package's loggers) as JSON lines, from INFO: the ApplicationLogLevel the
        functions are configured with (constructs/python_lambda.py)."""
        package = function.handler.split(".")[0]
        handler = logging.StreamHandler(self._log if self._log is not None else sys.stdout)
        handler.setFormatter(LambdaJsonFormatter())
        handler.addFilter(lambda record: record.name.split(".")[0] == package)
        root = logging.getLogger()
        level = root.level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(level)

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
