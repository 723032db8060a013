"""The top-level constructs/ folder extends the `constructs` library's namespace package."""

from __future__ import annotations


def test_library_and_project_constructs_import_side_by_side() -> None:
    from constructs import Construct
    from constructs.data_storage import DataStorage

    assert issubclass(DataStorage, Construct)
