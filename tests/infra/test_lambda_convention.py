"""Every function's code follows the one convention stated in constructs/python_lambda.py: layout, entry, logging,
clients and shared constants, checked over the asset folders and over the synthesized templates."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.support.synthesis import REPO_ROOT, Synthesized

CONSTRUCTS = REPO_ROOT / "constructs"
ASSET_FOLDERS = sorted(CONSTRUCTS.glob("*_lambda"))
PACKAGES = {folder.name.removesuffix("_lambda"): folder for folder in ASSET_FOLDERS}
# "Subjects must be ... less than 100 characters long" (Amazon SNS API reference, Publish, Subject).
DOCUMENTED_SNS_SUBJECT_MAX_CHARS = 99


def _listing(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir() if path.name != "__pycache__"}


def _modules(package: str) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((PACKAGES[package] / package).glob("*.py")):
        yield path.stem, ast.parse(path.read_text(encoding="utf-8"))


def _defines_handler(tree: ast.Module) -> bool:
    return any(
        (isinstance(node, ast.FunctionDef) and node.name == "handler")
        or (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "handler" for t in node.targets))
        for node in tree.body
    )


def _functions(synthesized: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    for environment, stacks in synthesized.templates.items():
        for stack_id, template in stacks.items():
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] == "AWS::Lambda::Function" and "Handler" in resource["Properties"]:
                    yield f"{environment}/{stack_id}/{logical_id}", resource["Properties"]


def test_there_are_four_assets() -> None:
    assert sorted(PACKAGES) == ["model_deployment", "model_monitoring", "training_notifier", "training_trigger"]


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_each_asset_folder_sits_beside_its_construct_and_holds_one_package(package: str) -> None:
    assert (CONSTRUCTS / f"{package}.py").is_file()
    assert _listing(PACKAGES[package]) == {package}
    assert {"__init__.py", "constants.py", "aws_clients.py"} <= _listing(PACKAGES[package] / package)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_package_docstring_is_all_its_init_holds(package: str) -> None:
    tree = ast.parse((PACKAGES[package] / package / "__init__.py").read_text(encoding="utf-8"))
    assert [type(node) for node in tree.body] == [ast.Expr]


def test_every_project_function_is_python_with_a_handler_of_the_pattern(synthesized: Synthesized) -> None:
    pattern = re.compile(rf"({'|'.join(PACKAGES)})\.([a-z_]+)\.handler")
    found = {}
    for name, properties in _functions(synthesized):
        if not properties["Runtime"].startswith("python"):
            continue
        match = pattern.fullmatch(properties["Handler"])
        assert match, f"{name}: Handler {properties['Handler']}"
        found[name] = (match[1], match[2])
        assert properties["LoggingConfig"]["LogFormat"] == "JSON", name
        assert properties["LoggingConfig"]["ApplicationLogLevel"] == "INFO", name
    assert {package for package, _ in found.values()} == set(PACKAGES)


def test_the_handlers_are_exactly_the_entry_modules_and_each_imports(synthesized: Synthesized) -> None:
    named = {
        tuple(properties["Handler"].split(".")[:2])
        for _, properties in _functions(synthesized)
        if properties["Runtime"].startswith("python")
    }
    defining = {
        (package, module) for package in PACKAGES for module, tree in _modules(package) if _defines_handler(tree)
    }
    assert defining == named
    for package, module in sorted(named):
        loaded = importlib.import_module(f"constructs.{package}_lambda.{package}.{module}")
        parameters = inspect.signature(loaded.handler, follow_wrapped=False).parameters
        assert list(parameters)[:2] == ["event", "context"], f"{package}.{module}"


def _function_named(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name), None)


def _handler_hands_over_to_run(tree: ast.Module) -> bool:
    """`def handler(...)` calling `run`, or the deploy steps' `handler = step_handler(run)`."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "handler":
            return any(function == "run" for function, _ in _calls(node))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "handler" for t in node.targets):
            return ast.unparse(node.value) == "step_handler(run)"
    return False


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_each_entry_hands_its_run_the_settings_and_clients(package: str) -> None:
    found = []
    for module, tree in _modules(package):
        if not _defines_handler(tree):
            continue
        run = _function_named(tree, "run")
        if run is None or not _handler_hands_over_to_run(tree):
            found.append(f"{module}: no handler handing over to a run")
            continue
        parameters = [argument.arg for argument in run.args.args]
        # After the event it acts on; the teardown acts on none (its handler speaks CloudFormation's protocol).
        if parameters[1:3] != ["settings", "aws"] and not (
            module == "teardown" and parameters[:2] == ["settings", "aws"]
        ):
            found.append(f"{module}: run{tuple(parameters)}")
    assert found == []


def _settings_and_clients_taken(tree: ast.Module) -> Iterator[str]:
    """`<function>: os.environ` or `<function>: aws_clients.clients()` for each use, by the innermost function."""

    def visit(node: ast.AST, function: str) -> Iterator[str]:
        if isinstance(node, ast.FunctionDef):
            function = node.name
        if isinstance(node, ast.Attribute) and ast.unparse(node) in ("os.environ", "os.getenv"):
            yield f"{function}: {ast.unparse(node)}"
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "aws_clients.clients":
            yield f"{function}: aws_clients.clients()"
        for child in ast.iter_child_nodes(node):
            yield from visit(child, function)

    return visit(tree, "<module>")


# The handler, or the one function it reads its settings with, reads the environment; only the handler takes clients.
TAKING_SETTINGS_AND_CLIENTS = {
    "handler: os.environ",
    "handler: os.getenv",
    "load_settings: os.environ",
    "load_settings: os.getenv",
    "handler: aws_clients.clients()",
}


def test_the_check_sees_a_run_that_reads_the_environment_or_takes_clients() -> None:
    tree = ast.parse(
        "def load_settings():\n    return os.environ['S']\n"
        "def handler(event, context):\n    return run(event, load_settings(), aws_clients.clients())\n"
        "def run(event, settings, aws):\n    return os.environ['S'], aws_clients.clients()\n"
    )
    assert set(_settings_and_clients_taken(tree)) - TAKING_SETTINGS_AND_CLIENTS == {
        "run: os.environ",
        "run: aws_clients.clients()",
    }


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_only_handlers_read_the_environment_and_take_the_clients(package: str) -> None:
    taken = {f"{module}.{use}" for module, tree in _modules(package) for use in _settings_and_clients_taken(tree)}
    assert any(use.endswith("handler: aws_clients.clients()") for use in taken)
    assert {use for use in taken if use.split(".", 1)[1] not in TAKING_SETTINGS_AND_CLIENTS} == set()


def test_each_function_asset_is_its_folder_with_the_package_its_handler_names(synthesized: Synthesized) -> None:
    for name, properties in _functions(synthesized):
        if not properties["Runtime"].startswith("python"):
            continue
        asset = synthesized.outdir / f"asset.{properties['Code']['S3Key'].removesuffix('.zip')}"
        package = properties["Handler"].split(".")[0]
        assert _listing(asset) == {package}, name
        assert _listing(asset / package) == _listing(PACKAGES[package] / package) - {"__pycache__"}, name


def _calls(tree: ast.Module) -> Iterator[tuple[str, ast.Call]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func), node


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_logging_is_the_standard_library_with_one_logger_per_module(package: str) -> None:
    found = []
    for module, tree in _modules(package):
        for function, call in _calls(tree):
            if function.endswith(("setLevel", "addHandler", "basicConfig", "setFormatter")) or function == "print":
                found.append(f"{module}: {function}")
            if function == "logging.getLogger" and [ast.unparse(a) for a in call.args] != ["__name__"]:
                found.append(f"{module}: {ast.unparse(call)}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any("logging" in ast.unparse(base) for base in node.bases):
                found.append(f"{module}: class {node.name}")
    assert found == []


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_clients_are_made_in_one_place_lazily_and_once(package: str) -> None:
    modules = dict(_modules(package))
    making = sorted({module for module, tree in modules.items() for f, _ in _calls(tree) if f == "boto3.client"})
    assert making == ["aws_clients"]
    clients_module = importlib.import_module(f"constructs.{package}_lambda.{package}.aws_clients")
    assert clients_module.Clients.__dataclass_params__.frozen
    assert hasattr(clients_module.clients, "cache_clear")  # functools.cache: made on first use, then kept


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_constants_module_imports_nothing_of_its_package(package: str) -> None:
    tree = ast.parse((PACKAGES[package] / package / "constants.py").read_text(encoding="utf-8"))
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    assert [ast.unparse(node) for node in imports if isinstance(node, ast.ImportFrom) and node.level > 0] == []
    assert not any("boto" in ast.unparse(node) for node in imports)


def test_every_function_that_publishes_names_the_sns_subject_limit_in_its_constants() -> None:
    publishing = sorted(
        package
        for package in PACKAGES
        for _, tree in _modules(package)
        if any(function.endswith(".publish") for function, _ in _calls(tree))
    )
    assert publishing == ["model_deployment", "training_notifier", "training_trigger"]
    for package in publishing:
        constants = importlib.import_module(f"constructs.{package}_lambda.{package}.constants")
        assert constants.SNS_SUBJECT_MAX_CHARS == DOCUMENTED_SNS_SUBJECT_MAX_CHARS, package
