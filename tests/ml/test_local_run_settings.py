"""What the local run reads from cdk.json without settings/ (it runs in .venv-ml): the label cut-off as the typed
config resolves it, an environment's own value over environment_defaults' over the schema's default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import local_run


def cdk_json(tmp_path: Path, defaults: dict[str, Any], first: dict[str, Any]) -> Path:
    path = tmp_path / "cdk.json"
    context = {"environment_defaults": defaults, "environments": {"dev": first, "prod": {"training": {}}}}
    path.write_text(json.dumps({"context": context}), encoding="utf-8")
    return path


def test_the_first_environments_own_cut_off_wins(tmp_path: Path) -> None:
    path = cdk_json(tmp_path, {"training": {"label_threshold": 0.4}}, {"training": {"label_threshold": 0.3}})
    assert local_run.label_threshold(path) == "0.3"


def test_without_its_own_the_shared_default_applies(tmp_path: Path) -> None:
    assert local_run.label_threshold(cdk_json(tmp_path, {"training": {"label_threshold": 0.4}}, {})) == "0.4"


def test_without_either_the_schemas_default_applies(tmp_path: Path) -> None:
    assert local_run.label_threshold(cdk_json(tmp_path, {}, {"training": {}})) == "0.5"
