"""The data contract: what an uploaded CSV must look like. The single source of truth for preprocess,
train, evaluate, inference and the upload trigger.

Standard library only: the CDK app, which has no pandas, loads this file by path to read the contract.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

DEFAULT_CONTRACT_PATH = Path(__file__).with_name("data_contract.json")
NUMERIC = "numeric"
CATEGORICAL = "categorical"
FEATURE_TYPES = (NUMERIC, CATEGORICAL)
_KEYS = {
    "target_column",
    "positive_label",
    "missing_values",
    "features",
    "max_missing_fraction",
    "unseen_categories_as_missing",
    "ignored_columns",
}
# Without a declared limit only a feature with no value at all stops preprocess.
DEFAULT_MAX_MISSING_FRACTION = 1.0


class ContractError(ValueError):
    """The contract file or an override is invalid; the message names the field."""


@dataclasses.dataclass(frozen=True)
class DataContract:
    target_column: str
    positive_label: str
    # name -> "numeric" | "categorical", in column order; None: infer from the data, any columns allowed.
    features: dict[str, str] | None
    # Cell values that mean "missing" (besides an empty cell).
    missing_values: tuple[str, ...] = ("",)
    # A feature missing in more than this share of the rows stops preprocess; one with no value always does.
    max_missing_fraction: float = DEFAULT_MAX_MISSING_FRACTION
    # Categorical features whose values unseen in training are scored as missing; for the others the
    # endpoint answers 400 (e.g. "bachelors" where training saw "Bachelors").
    unseen_categories_as_missing: frozenset[str] = frozenset()
    # Columns the export may carry and the model does not use (ids, timestamps, e-mails, free text): preprocess
    # drops them, the endpoint accepts and ignores them, the upload trigger lets them through. Optional in a file.
    ignored_columns: tuple[str, ...] = ()

    def allowed_columns(self) -> list[str] | None:
        """Target plus features, or None when the features are inferred from the data."""
        if self.features is None:
            return None
        return [self.target_column, *self.features]

    def with_target(self, target_column: str | None, positive_label: str | None) -> DataContract:
        """The contract with the target and/or positive label overridden.

        The declared features describe the data of the declared target, so a different target column
        means a different data set: its features are then inferred from the data.
        """
        target = target_column or self.target_column
        label = positive_label or self.positive_label
        features = self.features if target == self.target_column else None
        return validated(
            {
                "target_column": target,
                "positive_label": label,
                "missing_values": list(self.missing_values),
                "features": features,
                "max_missing_fraction": self.max_missing_fraction,
                "unseen_categories_as_missing": sorted(self.unseen_categories_as_missing) if features else [],
                "ignored_columns": [name for name in self.ignored_columns if name != target],
            },
            source="override",
        )


def _non_empty_string(value: Any, field: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ContractError(f"{source}: '{field}' must be a non-empty string")
    return value


def validated(raw: Any, source: str) -> DataContract:
    """A DataContract from its JSON form, or a ContractError naming the offending field."""
    if not isinstance(raw, dict):
        raise ContractError(f"{source}: the contract must be a JSON object")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ContractError(f"{source}: unknown field(s) {unknown}; allowed: {sorted(_KEYS)}")
    target = _non_empty_string(raw.get("target_column"), "target_column", source)
    label = _non_empty_string(raw.get("positive_label"), "positive_label", source)
    missing = raw.get("missing_values", [""])
    if not isinstance(missing, list) or not all(isinstance(value, str) for value in missing):
        raise ContractError(f"{source}: 'missing_values' must be a list of strings")
    features = raw.get("features")
    if features is not None:
        if not isinstance(features, dict) or not features:
            raise ContractError(f"{source}: 'features' must be a non-empty object of name -> type, or null")
        for name, kind in features.items():
            _non_empty_string(name, "features", source)
            if kind not in FEATURE_TYPES:
                raise ContractError(f"{source}: feature '{name}' has type {kind!r}; expected one of {FEATURE_TYPES}")
        if target in features:
            raise ContractError(f"{source}: the target column '{target}' is also listed as a feature")
        features = dict(features)
    limit = raw.get("max_missing_fraction", DEFAULT_MAX_MISSING_FRACTION)
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 <= limit <= 1:
        raise ContractError(f"{source}: 'max_missing_fraction' must be a number from 0 to 1")
    unseen = raw.get("unseen_categories_as_missing", [])
    if not isinstance(unseen, list) or not all(isinstance(name, str) for name in unseen):
        raise ContractError(f"{source}: 'unseen_categories_as_missing' must be a list of feature names")
    for name in unseen:
        if features is None or features.get(name) != CATEGORICAL:
            raise ContractError(
                f"{source}: 'unseen_categories_as_missing' names '{name}', which is not a categorical feature"
            )
    ignored = raw.get("ignored_columns", [])
    if not isinstance(ignored, list) or not all(isinstance(name, str) and name.strip() for name in ignored):
        raise ContractError(f"{source}: 'ignored_columns' must be a list of column names")
    for name in ignored:
        if name == target or (features is not None and name in features):
            role = "the target column" if name == target else "a feature"
            raise ContractError(
                f"{source}: 'ignored_columns' names '{name}', which is {role}; a column is one or the other"
            )
    # An empty cell always means missing, whatever the file lists.
    missing_values = tuple(dict.fromkeys(["", *missing]))
    return DataContract(
        target, label, features, missing_values, float(limit), frozenset(unseen), tuple(dict.fromkeys(ignored))
    )


def load_contract(path: str | Path | None = None) -> DataContract:
    """The contract in `path`, by default the data_contract.json beside this module."""
    contract_path = Path(path) if path is not None else DEFAULT_CONTRACT_PATH
    try:
        raw = json.loads(contract_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError(f"contract file {contract_path} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ContractError(f"{contract_path}: not valid UTF-8 JSON ({error})") from None
    return validated(raw, source=str(contract_path))
