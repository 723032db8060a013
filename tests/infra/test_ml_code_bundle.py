"""The code bundle (sourcedir.tar.gz) holds what the containers run, from ml_code/bundle_contents.py's explicit list.

Imports are read from the source (ast), so an import inside a function (one the jobs reach only on some paths)
counts as much as one at the top. ml_code's modules import each other as flat siblings, level 0.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import re
import tarfile
from pathlib import Path
from types import SimpleNamespace

from aws_cdk import App, Stack

from constructs.ml_code_bundle import ML_CODE_DIR, MlCodeBundle, bundle_contents, pack
from tests.infra.support.synthesis import REPO_ROOT

TOOLS_DIR = ML_CODE_DIR / "local"
LAUNCHER = REPO_ROOT / "constructs" / "model_monitoring_lambda" / "model_monitoring" / "launcher.py"


def contents() -> SimpleNamespace:
    """bundle_contents.py's lists, read as the construct reads them (no ml_code libraries here)."""
    namespace: dict[str, object] = {}
    exec(compile((ML_CODE_DIR / "bundle_contents.py").read_text(), "bundle_contents.py", "exec"), namespace)
    return SimpleNamespace(**{name: value for name, value in namespace.items() if name.isupper()})


def ml_code_imports(path: Path, modules: set[str]) -> set[str]:
    """The ml_code modules (file names) that `path` imports anywhere in its body."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {f"{name}.py" for name in names} & modules


def closure(entries: tuple[str, ...], folder: Path = ML_CODE_DIR) -> set[str]:
    """The entry scripts and every ml_code module they import, directly or not."""
    modules = {path.name for path in folder.glob("*.py")} | {path.name for path in TOOLS_DIR.glob("*.py")}
    found, pending = set(), list(entries)
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            source = folder / name if (folder / name).exists() else TOOLS_DIR / name
            pending.extend(ml_code_imports(source, modules))
    return found


def entry_scripts(lists: SimpleNamespace) -> tuple[str, ...]:
    """Every script a container starts: the pipeline's steps, the endpoint's, and the monitoring job's."""
    return (*lists.JOB_SCRIPTS, lists.ENDPOINT_SCRIPT, lists.MONITORING_SCRIPT)


def tar_names(packed: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(packed))) as tar:
        return tar.getnames()


def test_the_bundle_holds_exactly_the_listed_files() -> None:
    bundle = MlCodeBundle(Stack(App(), "Bundle"), "Code")
    assert sorted(tar_names(bundle.tarball.read_bytes())) == sorted(contents().BUNDLE_FILES)


def test_the_construct_reads_the_list_ml_code_keeps() -> None:
    assert bundle_contents() == contents().BUNDLE_FILES


def test_the_bundle_is_named_by_its_contents() -> None:
    bundle = MlCodeBundle(Stack(App(), "Bundle"), "Code")
    digest = hashlib.sha256(bundle.tarball.read_bytes()).hexdigest()[:16]
    assert bundle.tarball.name == f"sourcedir-{digest}.tar.gz"


def test_the_entry_scripts_listed_are_the_scripts_the_pipeline_names() -> None:
    # The readable definitions (kept equal to the synthesized templates) name each step's script and the model's.
    definitions = (REPO_ROOT / "tests" / "infra" / "__snapshots__" / "test_training_pipeline").glob("*.json")
    named = {name for path in definitions for name in re.findall(r"[A-Za-z_]+\.py\b", path.read_text())}
    lists = contents()
    assert named == {*lists.JOB_SCRIPTS, lists.ENDPOINT_SCRIPT}


def test_the_monitoring_script_listed_is_the_script_the_launcher_starts() -> None:
    # No pipeline step runs the monitoring job: the launcher function starts it from the same bundle, naming its
    # script as the container's first argument.
    strings = {node.value for node in ast.walk(ast.parse(LAUNCHER.read_text())) if isinstance(node, ast.Constant)}
    named = {value for value in strings if isinstance(value, str) and re.fullmatch(r"[A-Za-z_]+\.py", value)}
    assert named == {contents().MONITORING_SCRIPT}


def test_the_python_files_listed_are_exactly_what_the_entry_scripts_import() -> None:
    lists = contents()
    listed = {name for name in lists.BUNDLE_FILES if name.endswith(".py")}
    assert listed == closure(entry_scripts(lists))


def test_the_serving_modules_are_exactly_what_the_endpoint_script_imports() -> None:
    lists = contents()
    assert set(lists.SERVING_MODULES) == closure((lists.ENDPOINT_SCRIPT,))
    assert len(lists.SERVING_MODULES) == len(set(lists.SERVING_MODULES))


def test_the_serving_modules_travel_in_the_bundle_training_copies_them_from() -> None:
    lists = contents()
    assert set(lists.SERVING_MODULES) <= set(lists.BUNDLE_FILES)


def test_the_data_file_listed_is_the_contract_preprocess_reads_by_default() -> None:
    lists = contents()
    assert [name for name in lists.BUNDLE_FILES if not name.endswith(".py")] == [lists.DATA_CONTRACT]
    assert f'with_name("{lists.DATA_CONTRACT}")' in (ML_CODE_DIR / "contract.py").read_text()


def test_no_developer_tool_is_shipped() -> None:
    tools = {path.name for path in TOOLS_DIR.glob("*.py")}
    assert {"local_run.py", "local_endpoint.py", "draft_contract.py", "monitor_replay.py"} <= tools
    assert not tools & set(contents().BUNDLE_FILES)
    assert not tools & closure(entry_scripts(contents()))


def test_every_module_at_ml_codes_top_level_is_shipped() -> None:
    # ml_code/ holds what the containers run and ml_code/local/ the tools around it: nothing in between.
    assert {path.name for path in ML_CODE_DIR.glob("*.py")} == {
        name for name in contents().BUNDLE_FILES if name.endswith(".py")
    }


def test_packing_ignores_times_and_modes(tmp_path: Path) -> None:
    first, second = tmp_path / "a.py", tmp_path / "b" / "a.py"
    second.parent.mkdir()
    first.write_text("x = 1\n")
    second.write_text("x = 1\n")
    second.chmod(0o600)
    assert pack([first]) == pack([second])
