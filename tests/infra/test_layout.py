"""The shape of the code a newcomer meets: the entry point, and what each module may import."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.infra.support.synthesis import REPO_ROOT, cdk_json_context


def test_library_and_project_constructs_import_side_by_side() -> None:
    # The top-level constructs/ folder extends the `constructs` library's namespace package.
    from constructs import Construct
    from constructs.data_storage import DataStorage

    assert issubclass(DataStorage, Construct)


def _app_tree() -> ast.Module:
    return ast.parse((REPO_ROOT / "app.py").read_text(encoding="utf-8"))


def test_the_entry_point_calls_no_private_api() -> None:
    private = [
        ast.unparse(node)
        for node in ast.walk(_app_tree())
        if isinstance(node, ast.Attribute) and node.attr.startswith("_")
    ]
    assert private == []


def test_the_entry_point_only_imports_then_builds() -> None:
    # Every import at the top, nothing run between them (no E402 to silence).
    body = _app_tree().body
    statements = [node for node in body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    imports = [isinstance(node, ast.Import | ast.ImportFrom) for node in statements]
    assert imports == sorted(imports, reverse=True)
    assert "noqa" not in (REPO_ROOT / "app.py").read_text(encoding="utf-8")


def _regions() -> list[str]:
    # The environments' regions, and two more where the image's registry account differs.
    from settings.loading import load_environments

    return sorted({config.region for config in load_environments(cdk_json_context())} | {"us-east-1", "ap-south-1"})


@pytest.mark.parametrize("region", _regions())
def test_the_image_repository_is_the_one_the_sdk_names(region: str) -> None:
    # constructs/xgboost_image.py reads the SDK's image list without importing the SDK; the SDK agrees.
    from constructs.training_pipeline_definition import xgboost_image_uri
    from constructs.xgboost_image import xgboost_image_repository_arn

    registry, repository = xgboost_image_uri(region).split(":")[0].split("/", 1)
    expected = f"arn:aws:ecr:{region}:{registry.split('.')[0]}:repository/{repository}"
    assert xgboost_image_repository_arn(region) == expected


def test_an_unknown_region_is_named() -> None:
    from constructs.xgboost_image import xgboost_image_repository_arn

    with pytest.raises(ValueError, match="not offered in region xx-nowhere-1"):
        xgboost_image_repository_arn("xx-nowhere-1")


# --- imports flow one way: app -> stacks (application -> stage -> each stack) -> constructs -> settings ---------

# What the modules in each place may not import (a module name, or a package and everything in it).
# The local twin (twin/) reads what synth wrote (cdk.out), never the app that writes it; nothing deployed uses it.
FORBIDDEN_IMPORTS = {
    "settings": ("app", "synth_speedups", "stacks", "constructs", "tools", "ml_code", "twin"),
    "constructs": ("app", "synth_speedups", "stacks", "tools", "twin"),
    "stacks": ("app", "synth_speedups", "tools", "twin"),
    "tools": ("app", "synth_speedups", "stacks", "constructs", "twin"),
    "twin": ("app", "synth_speedups", "stacks", "tools", "tests"),
}
# Inside stacks/: the stage composes the stacks, the application composes the stages.
FORBIDDEN_INSIDE_STACKS = {"stage.py": ("stacks.application",)}
FORBIDDEN_FOR_EACH_STACK = ("stacks.application", "stacks.stage")


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from stacks import names` imports stacks.names: name both the package and the member.
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def wrong_way_imports(path: Path, forbidden: tuple[str, ...], root: Path = REPO_ROOT) -> list[str]:
    return sorted(
        f"{path.relative_to(root)} imports {module}"
        for module in imported_modules(path)
        if any(is_within(module, package) for package in forbidden)
    )


def test_the_checker_sees_an_import_the_wrong_way(tmp_path: Path) -> None:
    module = tmp_path / "constructs" / "probe.py"
    module.parent.mkdir()
    module.write_text("from stacks import names\nimport app\n", encoding="utf-8")
    assert wrong_way_imports(module, FORBIDDEN_IMPORTS["constructs"], root=tmp_path) == [
        "constructs/probe.py imports app",
        "constructs/probe.py imports stacks",
        "constructs/probe.py imports stacks.names",
    ]


@pytest.mark.parametrize("place", sorted(FORBIDDEN_IMPORTS))
def test_imports_flow_downward(place: str) -> None:
    modules = sorted((REPO_ROOT / place).rglob("*.py"))
    assert modules, f"nothing to check in {place}/"
    assert [found for path in modules for found in wrong_way_imports(path, FORBIDDEN_IMPORTS[place])] == []


def test_inside_stacks_the_application_composes_stages_and_stages_compose_stacks() -> None:
    found = []
    for path in sorted((REPO_ROOT / "stacks").glob("*.py")):
        if path.name == "application.py":
            continue
        forbidden = FORBIDDEN_INSIDE_STACKS.get(path.name, FORBIDDEN_FOR_EACH_STACK)
        found += wrong_way_imports(path, forbidden)
    assert found == []


@pytest.mark.parametrize("suite", ["infra", "ml"])
def test_test_folders_hold_tests_and_their_helpers_stay_apart(suite: str) -> None:
    folder = REPO_ROOT / "tests" / suite
    modules = sorted(path.name for path in folder.glob("*.py") if path.name != "conftest.py")
    assert [name for name in modules if not name.startswith("test_")] == []  # helpers live in support/
    assert (folder / "support").is_dir()


# --- a construct reads its functions' code only through the asset's constants module -------------------------
# (constructs/python_lambda.py: constructs/<name>_lambda/<name>/constants.py imports nothing of its package)
SHARED_RUNTIME_MODULE = re.compile(r"constructs\.(\w+)_lambda\.\1\.constants(\.\w+)?")
ASSET_FOLDERS = sorted(folder.name for folder in (REPO_ROOT / "constructs").glob("*_lambda") if folder.is_dir())
RUNTIME_CODE = re.compile(rf"constructs\.({'|'.join(ASSET_FOLDERS)})(\..+)?")


def runtime_imports(path: Path, root: Path = REPO_ROOT) -> list[str]:
    return sorted(
        f"{path.relative_to(root)} imports {module}"
        for module in imported_modules(path)
        if RUNTIME_CODE.fullmatch(module) and not SHARED_RUNTIME_MODULE.fullmatch(module)
    )


def test_the_checker_sees_a_construct_importing_runtime_logic(tmp_path: Path) -> None:
    module = tmp_path / "constructs" / "probe.py"
    module.parent.mkdir()
    module.write_text(
        "from constructs.model_deployment_lambda.model_deployment.constants import POLL_SECONDS\n"
        "from constructs.model_deployment_lambda.model_deployment.decisions import BUSY_STATUSES\n",
        encoding="utf-8",
    )
    assert runtime_imports(module, root=tmp_path) == [
        "constructs/probe.py imports constructs.model_deployment_lambda.model_deployment.decisions",
        "constructs/probe.py imports constructs.model_deployment_lambda.model_deployment.decisions.BUSY_STATUSES",
    ]


@pytest.mark.parametrize("place", ["constructs", "settings", "stacks"])
def test_constructs_import_no_runtime_module_but_the_constants(place: str) -> None:
    # The functions' own code (constructs/*_lambda/) is not a construct.
    modules = [
        path
        for path in sorted((REPO_ROOT / place).rglob("*.py"))
        if not any(part in ASSET_FOLDERS for part in path.relative_to(REPO_ROOT).parts)
    ]
    assert modules
    assert [found for path in modules for found in runtime_imports(path)] == []


# --- one file, one story: a module over MAX_LINES lines says why in its docstring ------------------------------

MAX_LINES = 400
# What a docstring says when its module is longer: "... one file over 400 lines because ...".
SIZE_REASON = f"over {MAX_LINES} lines"
# The code a reader meets: everything but the tests themselves (their helpers in support/ included).
SIZED_PLACES = (
    "app.py",
    "synth_speedups.py",
    "settings",
    "stacks",
    "constructs",
    "tools",
    "twin",
    "ml_code",
    "benchmarks",
)
SIZED_SUPPORT = ("tests/infra/support", "tests/ml/support")


def sized_modules(root: Path = REPO_ROOT) -> list[Path]:
    places = [root / place for place in (*SIZED_PLACES, *SIZED_SUPPORT)]
    return sorted(
        path
        for place in places
        for path in ([place] if place.suffix == ".py" else place.rglob("*.py"))
        if "__pycache__" not in path.parts
    )


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def oversized_without_a_reason(paths: list[Path], root: Path = REPO_ROOT) -> list[str]:
    found = []
    for path in paths:
        lines = line_count(path)
        if lines <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if SIZE_REASON not in " ".join(docstring.split()):
            found.append(f"{path.relative_to(root)}: {lines} lines, and its docstring does not say why ({SIZE_REASON})")
    return found


def test_the_size_check_sees_a_long_module_that_does_not_say_why(tmp_path: Path) -> None:
    body = "x = 1\n" * MAX_LINES
    (tmp_path / "short.py").write_text('"""Short."""\n' + "x = 1\n" * (MAX_LINES - 1), encoding="utf-8")
    (tmp_path / "silent.py").write_text('"""Long, and silent about it."""\n' + body, encoding="utf-8")
    (tmp_path / "reasoned.py").write_text(f'"""One file {SIZE_REASON}: one table.\n"""\n' + body, encoding="utf-8")
    paths = sorted(tmp_path.glob("*.py"))
    assert oversized_without_a_reason(paths, root=tmp_path) == [
        f"silent.py: {MAX_LINES + 1} lines, and its docstring does not say why ({SIZE_REASON})"
    ]


def test_no_module_is_over_the_limit_without_saying_why() -> None:
    modules = sized_modules()
    assert len(modules) > 100  # the places above hold the code
    assert oversized_without_a_reason(modules) == []
