"""Synthesizes the whole app once per test session."""

from __future__ import annotations

import pytest

from tests.infra.synthesis import Synthesized, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))
