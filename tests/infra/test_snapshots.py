"""Every stack of every environment as a reviewable snapshot; synthesis is deterministic."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.infra.synthesis import ENVIRONMENTS, REPO_ROOT, Synthesized

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


def test_a_second_synth_through_the_cdk_cli_is_byte_identical(synthesized: Synthesized, tmp_path: Path) -> None:
    # Two synths, in two processes: the CLI's (as `make synth` runs it) and the session's in-process one that
    # every other test checks. The CLI adds its own settings (version reporting, asset metadata); cdk.json turns
    # those off so that the snapshots above are exactly what `make synth` writes and ops diff.
    completed = subprocess.run(
        ["cdk", "synth", "--quiet", "--output", str(tmp_path)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    # app.py imports the SageMaker SDK on a thread (stacks/sagemaker_sdk.py), silenced before it loads.
    assert "sagemaker" not in (completed.stdout + completed.stderr).lower()
    from_cli = {path.relative_to(tmp_path): path.read_bytes() for path in tmp_path.glob("assembly-*/*.template.json")}
    from_tests = {path.relative_to(synthesized.outdir): path.read_bytes() for path in synthesized.template_paths()}
    assert from_cli == from_tests


def test_synth_needs_no_network(tmp_path: Path) -> None:
    # Proves the session fixture's guard works: a connection attempt inside it raises.
    import socket

    from tests.infra.conftest import NetworkUsed, no_network

    with no_network(), pytest.raises(NetworkUsed):
        socket.create_connection(("127.0.0.1", 9))
