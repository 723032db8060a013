"""The containers' `python3`, forked from an interpreter that has already imported the scripts' libraries.

What it buys: every processing job, training host and endpoint host of the twin is a `python3 script.py ...` in
.venv-ml, and each fresh interpreter spent 1-1.5 s of CPU importing xgboost, scikit-learn, pyarrow and
matplotlib before doing under a second of work (12 of them per `python -m twin --scenario all`). Here one
server process imports those libraries once (PRELOADED, never the project's ml_code modules: those come from the
code each job extracts), and each `python3 script.py args` becomes a fork of it that runs the script as
`__main__` as the interpreter would: the caller's argv, working folder, environment, stdin/stdout/stderr
(its job's log), sys.path[0] the script's folder, exit code or signal passed back.

How: `bin/python3` and `bin/python` (put first on the containers' PATH, and the endpoint host's interpreter) are a
small stand-in (`hand_over`) that sends its argv, folder, environment and standard file descriptors over a Unix
socket to the server (`serve`), which forks; the stand-in then waits for the fork's exit status and forwards
the signals it gets (the endpoint host is stopped with SIGTERM), so the caller sees one ordinary process.
Anything else (`python3 -c ...`, no server, an environment that differs from the server's in a variable the
interpreter or a library reads when it loads, such as OMP_* or PYTHON*) runs .venv-ml's real interpreter.

Fork-safety: the server only imports; it starts no Python thread and runs no OpenMP region, so a fork starts
xgboost's OpenMP pool afresh. OpenBLAS (numpy, scipy) and jemalloc (pyarrow) start threads of their own when
they load; their fork handlers make forking safe, as multiprocessing's forkserver in tests/ml relies on too.
"""

from __future__ import annotations

import builtins
import contextlib
import gc
import importlib
import importlib.machinery
import io
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

REAL_PYTHON = Path(__file__).resolve().parents[1] / ".venv-ml" / "bin" / "python3"
# What ml_code's container scripts (ml_code/*.py) and the endpoint host (ml_code/local/local_endpoint.py) import
# from outside the project; a module missing here is only imported by the fork itself, as it would be.
PRELOADED = (
    "numpy",
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.csv",
    "pyarrow.parquet",
    "xgboost",
    "xgboost.collective",
    "xgboost.tracker",
    "sklearn.metrics",
    "matplotlib",
    "matplotlib.pyplot",
    "flask",
    "werkzeug.serving",
)
# Read by the interpreter or these libraries when they load, so a fork cannot take another value from its caller;
# but PYTHONUNBUFFERED, whose standard streams the fork makes again (run_as_main).
READ_AT_LOAD = ("PYTHON", "LANG", "LC_", "LD_", "MALLOC_", "OMP_", "GOMP_", "KMP_", "OPENBLAS_", "MKL_", "NPY_",
                "ARROW_", "MPL", "HOME", "XDG_")  # fmt: skip
UNBUFFERED = "PYTHONUNBUFFERED"
HAND_OVER_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


# ---------------------------------------------------------------------------------------------- the twin's side


class WarmPython:
    """The server, started with `environment` (the containers' common one); `bin` holds its `python3`."""

    def __init__(self, folder: Path, environment: Mapping[str, str], preloaded: tuple[str, ...] = PRELOADED) -> None:
        self.bin = folder / "bin"
        self._folder = folder
        self._environment = dict(environment)
        self._preloaded = preloaded

    def __enter__(self) -> WarmPython:
        self.bin.mkdir(parents=True, exist_ok=True)
        # A socket path must stay under ~100 characters: a short folder of its own, not the work folder.
        self._socket_folder = Path(tempfile.mkdtemp(prefix="twin-python-"))
        socket_path = self._socket_folder / "socket"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(socket_path))
        listener.listen(16)  # bound before the server runs: a job never finds no socket, only waits for preload
        log = (self._folder / "server.log").open("w", encoding="utf-8")
        with listener, log:
            self._server = subprocess.Popen(
                [str(REAL_PYTHON), __file__, "serve", str(listener.fileno()), *self._preloaded],
                pass_fds=[listener.fileno()], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                env=self._environment,
            )  # fmt: skip
        for name in ("python3", "python"):
            stand_in = self.bin / name
            stand_in.write_text(
                f'#!/bin/sh\nexec "{REAL_PYTHON}" -IS "{__file__}" hand-over "{socket_path}" "$0" "$@"\n'
            )
            stand_in.chmod(0o755)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server.stdin is not None
        self._server.stdin.close()  # the server ends, and with it any fork still running
        try:
            self._server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._server.kill()
            self._server.wait()
        shutil.rmtree(self._socket_folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- the stand-in


def hand_over(socket_path: str, executable: str, arguments: list[str]) -> NoReturn:
    """`python3 arguments...`: a fork of the server runs it when it can, else the real interpreter. `executable`:
    this stand-in's path, the fork's sys.executable (the interpreter's would be the path it was started as)."""
    if not arguments or arguments[0].startswith("-"):
        _real_python(arguments)
    try:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.connect(socket_path)
    except OSError:
        _real_python(arguments)
    request = {"argv": arguments, "cwd": os.getcwd(), "environment": dict(os.environ), "executable": executable}
    socket.send_fds(server, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
    replies = server.makefile("rb")
    started = json.loads(replies.readline() or b'{"fresh": "the server ended"}')
    if "pid" not in started:
        _real_python(arguments)
    for signum in HAND_OVER_SIGNALS:
        signal.signal(signum, lambda received, _frame: os.kill(started["pid"], received))
    ended = replies.readline()
    if not ended:
        print(f"warm python: the server ended while process {started['pid']} ran", file=sys.stderr)
        os._exit(1)
    returncode = json.loads(ended)["returncode"]
    if returncode < 0:  # killed by a signal: so is this process, as the caller expects of the interpreter's
        if -returncode in HAND_OVER_SIGNALS:
            signal.signal(-returncode, signal.SIG_DFL)
        os.kill(os.getpid(), -returncode)
    os._exit(returncode)


def _real_python(arguments: list[str]) -> NoReturn:
    os.execv(REAL_PYTHON, [str(REAL_PYTHON), *arguments])


# ---------------------------------------------------------------------------------------------- the server


@dataclass
class Job:
    argv: list[str]
    cwd: str
    environment: dict[str, str]
    executable: str
    fds: list[int]  # the caller's stdin, stdout, stderr


def serve(listener_fd: int, preloaded: list[str]) -> Job | None:
    """Forks a process per job; returns the job in that process, None in the server when the twin ends."""
    environment_at_start = dict(os.environ)
    del sys.path[0]  # this script's folder (twin/): the preloaded libraries must not find the twin's modules
    for name in preloaded:
        importlib.import_module(name)
    # What the imports made stays: the forks' garbage collections, and the collection at their exit, skip it
    # rather than touch (and so copy) its pages: 0.09 s of CPU to end a fork instead of 0.3 s.
    gc.freeze()
    listener = socket.socket(fileno=listener_fd)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the loop through the pipe to reap ended forks
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ)  # end of file: the twin has ended
    running: dict[int, socket.socket] = {}  # fork's pid -> its caller's connection
    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                connection, _ = listener.accept()
                job = _receive(connection)
                if job is None:
                    connection.close()
                    continue
                reason = _needs_fresh_interpreter(job, environment_at_start)
                if reason:
                    _reply(connection, {"fresh": reason})
                    connection.close()
                    for fd in job.fds:
                        os.close(fd)
                    continue
                pid = os.fork()
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    selector.close()
                    for fd in (wake_read, wake_write):
                        os.close(fd)
                    for open_connection in [listener, connection, *running.values()]:
                        open_connection.close()
                    return job
                for fd in job.fds:
                    os.close(fd)
                _reply(connection, {"pid": pid})
                running[pid] = connection
                selector.register(connection, selectors.EVENT_READ)
            elif key.fileobj == wake_read:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_read, 512):
                        pass
                _reap(running, selector)
            elif key.fileobj == sys.stdin.fileno():
                if not os.read(sys.stdin.fileno(), 512):
                    for pid in running:
                        os.kill(pid, signal.SIGKILL)
                    for pid, connection in running.items():
                        _reply(connection, {"returncode": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])})
                    return None
            else:  # a caller's connection: it only ever closes, when the stand-in was killed; so is its fork
                connection = key.fileobj
                assert isinstance(connection, socket.socket)
                if connection.fileno() == -1:  # its fork ended and was reaped earlier in this round
                    continue
                if not connection.recv(512):
                    selector.unregister(connection)
                    pid = next(pid for pid, open_connection in running.items() if open_connection is connection)
                    os.kill(pid, signal.SIGKILL)


def _receive(connection: socket.socket) -> Job | None:
    message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    while message and not message.endswith(b"\n"):
        more = connection.recv(1 << 20)
        if not more:
            break
        message += more
    try:
        request = json.loads(message)
        return Job(request["argv"], request["cwd"], request["environment"], request["executable"], fds)
    except (ValueError, KeyError):
        for fd in fds:
            os.close(fd)
        return None


def _needs_fresh_interpreter(job: Job, environment_at_start: Mapping[str, str]) -> str | None:
    if len(job.fds) != 3 or not os.path.isfile(os.path.join(job.cwd, job.argv[0])):
        return "not a script file"
    changed = {name for name in {*job.environment, *environment_at_start}
               if job.environment.get(name) != environment_at_start.get(name)}  # fmt: skip
    read_at_load = sorted(name for name in changed - {UNBUFFERED} if name.startswith(READ_AT_LOAD))
    return f"the environment sets {', '.join(read_at_load)} otherwise" if read_at_load else None


def _reply(connection: socket.socket, message: dict[str, object]) -> None:
    with contextlib.suppress(OSError):  # a caller killed meanwhile
        connection.sendall(json.dumps(message).encode() + b"\n")


def _reap(running: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    while running:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        connection = running.pop(pid)
        _reply(connection, {"returncode": os.waitstatus_to_exitcode(status)})
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(connection)
        connection.close()


def run_as_main(job: Job) -> None:
    """In the fork: become `python3 argv...` as the interpreter would have started it, then run the script."""
    for target, fd in enumerate(job.fds):
        os.dup2(fd, target)
        os.close(fd)
    _standard_streams(unbuffered=bool(job.environment.get(UNBUFFERED)))
    os.chdir(job.cwd)
    os.environ.clear()
    os.environ.update(job.environment)
    sys.executable = os.path.abspath(os.path.join(job.cwd, job.executable))
    if "numpy.random" in sys.modules:  # a fresh interpreter seeds numpy's global generator from the OS: so here
        sys.modules["numpy.random"].seed()
    script = os.path.abspath(job.argv[0])  # __main__'s __file__ is absolute, sys.argv[0] as given
    sys.argv = list(job.argv)
    sys.path.insert(0, os.path.dirname(os.path.realpath(script)))
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=script, __builtins__=builtins, __cached__=None,
                         __loader__=importlib.machinery.SourceFileLoader("__main__", script))  # fmt: skip
    sys.modules["__main__"] = main
    try:
        with io.open_code(script) as source:  # bytes: compile() honours a coding cookie, as the interpreter does
            code = compile(source.read(), script, "exec")
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as error:  # as the interpreter reports it: the traceback from the script on, exit code 1
        trace = error.__traceback__
        while trace is not None and trace.tb_frame.f_code.co_filename != script:
            trace = trace.tb_next
        error = error.with_traceback(trace or error.__traceback__)
        sys.excepthook(type(error), error, error.__traceback__)
        sys.exit(1)


def _standard_streams(unbuffered: bool) -> None:
    """sys.stdin, stdout and stderr on the caller's descriptors, as the interpreter makes them when it starts
    (CPython's create_stdio): buffered and line-buffered only on a terminal, stderr line-buffered, or with
    PYTHONUNBUFFERED set, stdout and stderr written through."""
    for name, fd in (("stdin", 0), ("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
        if fd == 0:
            stream = io.TextIOWrapper(io.BufferedReader(raw), old.encoding, old.errors, "\n", raw.isatty())
        elif unbuffered:
            stream = io.TextIOWrapper(raw, old.encoding, old.errors, "\n", write_through=True)
        else:
            line_buffering = fd == 2 or raw.isatty()
            stream = io.TextIOWrapper(io.BufferedWriter(raw), old.encoding, old.errors, "\n", line_buffering)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


if __name__ == "__main__":
    if sys.argv[1] == "hand-over":
        hand_over(sys.argv[2], sys.argv[3], sys.argv[4:])
    job = serve(int(sys.argv[2]), sys.argv[3:])
    if job is not None:
        run_as_main(job)
