"""Every stack of every environment as a reviewable snapshot; synthesis is deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.infra.support.early_process import EarlyProcess, Finished
from tests.infra.support.synthesis import ENVIRONMENTS, Synthesized

STACKS = ("Data", "Deployment", "Notifications", "Training")


@pytest.fixture
def json_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("stack_id", STACKS)
def test_template_snapshot(
    synthesized: Synthesized, json_snapshot: SnapshotAssertion, environment: str, stack_id: str
) -> None:
    assert synthesized.templates[environment][stack_id] == json_snapshot


def test_every_stack_has_a_snapshot(synthesized: Synthesized) -> None:
    assert {stack for stacks in synthesized.templates.values() for stack in stacks} == set(STACKS)


CLI_SYNTH = EarlyProcess("cli-synth", ("cdk", "synth", "--quiet", "--output", "{folder}"))


@CLI_SYNTH.mark()
def test_a_second_synth_through_the_cdk_cli_is_byte_identical(
    synthesized: Synthesized, early_process: Finished
) -> None:
    # Two synths, in two processes: the CLI's (as `make synth` runs it) and the session's in-process one that
    # every other test checks. The CLI adds its own settings (version reporting, asset metadata); cdk.json turns
    # those off so that the snapshots above are exactly what `make synth` writes and ops diff.
    completed = early_process.completed
    assert completed.returncode == 0, completed.stderr
    # The SageMaker SDK is quieted before it loads (constructs/sagemaker_sdk.py).
    assert "sagemaker" not in (completed.stdout + completed.stderr).lower()
    output = early_process.folder
    from_cli = {path.relative_to(output): path.read_bytes() for path in output.glob("assembly-*/*.template.json")}
    from_tests = {path.relative_to(synthesized.outdir): path.read_bytes() for path in synthesized.template_paths()}
    assert from_cli == from_tests


def test_synth_needs_no_network(tmp_path: Path) -> None:
    # Proves the session fixture's guard works: a connection attempt inside it raises.
    import socket

    from tests.infra.conftest import NetworkUsed, no_network

    with no_network(), pytest.raises(NetworkUsed):
        socket.create_connection(("127.0.0.1", 9))
