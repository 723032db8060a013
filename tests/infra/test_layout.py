"""The shape of the code a newcomer meets: the entry point, and what each module may import."""

from __future__ import annotations

import ast

import pytest

from tests.infra.synthesis import REPO_ROOT, cdk_json_context


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
    from stacks.config import load_environments

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
