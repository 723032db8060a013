import json
import subprocess
import sys
from pathlib import Path

import pytest
from ml_helpers import ML_CODE

from contract import CATEGORICAL, NUMERIC, ContractError, load_contract


def test_shipped_contract_describes_the_sample_header() -> None:
    import gzip

    contract = load_contract()
    with gzip.open(ML_CODE / "data" / "adult.csv.gz", "rt", encoding="utf-8") as sample:
        header = sample.readline().strip().split(",")
    assert contract.target_column == "income-per-year"
    assert contract.positive_label == ">50K"
    assert sorted(contract.allowed_columns() or []) == sorted(header)
    assert set(contract.features.values()) == {NUMERIC, CATEGORICAL}
    assert "?" in contract.missing_values and "" in contract.missing_values


def test_with_target_keeps_features_for_the_same_target_and_drops_them_for_another() -> None:
    contract = load_contract()
    relabelled = contract.with_target(None, "<=50K")
    assert relabelled.features == contract.features
    assert relabelled.positive_label == "<=50K"
    assert relabelled.unseen_categories_as_missing == {"native-country"}
    assert relabelled.max_missing_fraction == contract.max_missing_fraction == 0.5
    other = contract.with_target("churned", "yes")
    assert other.features is None
    assert other.unseen_categories_as_missing == frozenset()
    assert other.allowed_columns() is None
    assert (other.target_column, other.positive_label) == ("churned", "yes")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], "must be a JSON object"),
        ({"positive_label": "1"}, "'target_column' must be a non-empty string"),
        ({"target_column": "y", "positive_label": ""}, "'positive_label' must be a non-empty string"),
        ({"target_column": "y", "positive_label": "1", "colour": 1}, "unknown field(s) ['colour']"),
        ({"target_column": "y", "positive_label": "1", "features": {"a": "text"}}, "feature 'a' has type 'text'"),
        ({"target_column": "y", "positive_label": "1", "features": {"y": "numeric"}}, "also listed as a feature"),
        ({"target_column": "y", "positive_label": "1", "missing_values": "?"}, "'missing_values' must be a list"),
        ({"target_column": "y", "positive_label": "1", "max_missing_fraction": 1.5}, "'max_missing_fraction' must be"),
        ({"target_column": "y", "positive_label": "1", "max_missing_fraction": "50%"}, "'max_missing_fraction' must"),
        (
            {"target_column": "y", "positive_label": "1", "unseen_categories_as_missing": "city"},
            "'unseen_categories_as_missing' must be a list of feature names",
        ),
        (
            {
                "target_column": "y",
                "positive_label": "1",
                "features": {"age": "numeric"},
                "unseen_categories_as_missing": ["age"],
            },
            "'unseen_categories_as_missing' names 'age', which is not a categorical feature",
        ),
        (
            {"target_column": "y", "positive_label": "1", "ignored_columns": "id"},
            "'ignored_columns' must be a list of column names",
        ),
        (
            {"target_column": "y", "positive_label": "1", "features": {"id": "numeric"}, "ignored_columns": ["id"]},
            "'ignored_columns' names 'id', which is a feature; a column is one or the other",
        ),
        (
            {"target_column": "y", "positive_label": "1", "ignored_columns": ["y"]},
            "'ignored_columns' names 'y', which is the target column",
        ),
    ],
)
def test_invalid_contracts_are_rejected_with_the_field_named(tmp_path: Path, raw: object, expected: str) -> None:
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ContractError) as error:
        load_contract(path)
    assert expected in str(error.value)


def test_a_contract_without_the_newer_fields_still_loads(tmp_path: Path) -> None:
    # Contracts written before max_missing_fraction and unseen_categories_as_missing existed.
    path = tmp_path / "contract.json"
    path.write_text('{"target_column": "y", "positive_label": "1", "features": {"city": "categorical"}}')
    contract = load_contract(path)
    assert contract.max_missing_fraction == 1.0
    assert contract.unseen_categories_as_missing == frozenset()
    assert contract.allowed_columns() == ["y", "city"]


def test_missing_and_malformed_contract_files(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="does not exist"):
        load_contract(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ContractError, match="not valid UTF-8 JSON"):
        load_contract(broken)


def test_contract_module_loads_by_path_without_pandas_or_numpy() -> None:
    # The CDK app has no pandas: it loads contract.py by path with importlib.
    script = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("contract", {str(ML_CODE / "contract.py")!r})
module = importlib.util.module_from_spec(spec)
sys.modules["contract"] = module
spec.loader.exec_module(module)
contract = module.load_contract()
heavy = sorted(name for name in ("pandas", "numpy", "pyarrow", "xgboost") if name in sys.modules)
print(contract.target_column, heavy)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "income-per-year []"
