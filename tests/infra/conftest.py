"""Synthesizes the whole app once per test session, with the network switched off."""

from __future__ import annotations

import functools
import gc
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import moto.sns.models
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.infra.support.botocore_client_reuse import reuse_client_parts
from tests.infra.support.early_process import EarlyProcess, Finished, Started
from tests.infra.support.iam_calls import CallRecorder
from tests.infra.support.synthesis import Synthesized, synthesize
from twin.botocore_loaders import share_botocore_loaders


class NetworkUsed(RuntimeError):
    """Synth tried to open a connection: it must run with no credentials and no network."""


@contextmanager
def no_network() -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise NetworkUsed(f"synth tried to connect to {args[1:] or kwargs}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    # The SageMaker SDK builds the pipeline definition during synth: any AWS call it made would fail here.
    with no_network():
        return synthesize(tmp_path_factory.mktemp("cdk.out"))


# --------------------------------------------------------------------------------------------------------------
# The least-privilege check (test_iam_least_privilege.py) reads the AWS calls the handler tests make.

CALLS = pytest.StashKey[CallRecorder]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "after_handler_tests: runs after every other test of the session")
    config.addinivalue_line("markers", "early_process(process): the test checks an EarlyProcess's result")
    collect_garbage_less_often()
    share_botocore_loaders()
    reuse_client_parts()
    share_sns_signing_key()
    recorder = CallRecorder()
    recorder.install()
    config.stash[CALLS] = recorder


def pytest_unconfigure(config: pytest.Config) -> None:
    if CALLS in config.stash:
        config.stash[CALLS].uninstall()
    for started in reversed(config.stash.get(EARLY_PROCESSES, {}).values()):  # those chained to another first
        started.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The check judges the calls of the whole session, so it runs once every handler test has run. Just before it,
    # the tests that read an early process's result: the process has had the rest of the suite's time to end in,
    # instead of the suite waiting for it.
    items.sort(
        key=lambda item: (
            item.get_closest_marker("after_handler_tests") is not None,
            item.get_closest_marker("early_process") is not None,
        )
    )


# --------------------------------------------------------------------------------------------------------------
# Separate processes that tests check (tests/infra/support/early_process.py) start when the session knows its tests.

EARLY_PROCESSES = pytest.StashKey[dict[EarlyProcess, Started]]()


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.freeze()  # what the imports made stays: the collector stops scanning it (see collect_garbage_less_often)
    started: dict[EarlyProcess, Started] = {}
    session.config.stash[EARLY_PROCESSES] = started  # first: what starts is stopped at the end, whatever happens
    if not session.config.option.collectonly:
        needed = list(dict.fromkeys(
            marker.args[0] for item in session.items if (marker := item.get_closest_marker("early_process"))
        ))  # fmt: skip
        # A process that comes after another one the session starts too: started last, chained to that one.
        for process in sorted(needed, key=lambda process: process.after in needed):
            started[process] = process.start(started.get(process.after) if process.after in needed else None)


@pytest.fixture
def early_process(request: pytest.FixtureRequest) -> Finished:
    """The result of the process the test is marked with (EarlyProcess.mark), once it has ended."""
    marker = request.node.get_closest_marker("early_process")
    assert marker is not None, "mark the test with EarlyProcess.mark()"
    return request.config.stash[EARLY_PROCESSES][marker.args[0]].wait()


def collect_garbage_less_often() -> None:
    """Python's cyclic garbage collector, run every 700 allocations, kept rescanning the long-lived objects of
    botocore, moto, the SageMaker SDK and jsii: 11 of this suite's 57 s of CPU. Collecting every 50,000 and
    freezing what collection imported cost 26 MB more peak memory (ml's conftest does the same)."""
    gc.set_threshold(50_000, 20, 20)


def share_sns_signing_key() -> None:
    """One RSA key signs the SNS messages moto delivers in this session, not a new 2048-bit key per subscription
    (about 35 ms each, 2 s of the suite): nothing here verifies an SNS signature."""
    key = functools.cache(functools.partial(rsa.generate_private_key, public_exponent=65537, key_size=2048))
    moto.sns.models.Subscription.private_key = lambda _subscription: key()  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def recorded_calls(request: pytest.FixtureRequest) -> CallRecorder:
    return request.config.stash[CALLS]
