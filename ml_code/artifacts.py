"""What the steps hand to each other: split files, the feature manifest, and the one way to turn rows into
XGBoost's input that train, evaluate and inference all use.

No xgboost import here: preprocess uses this module, and xgboost alone adds about 130 MB to a process.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from contract import CATEGORICAL, NUMERIC
from job_output import JobFailure

MANIFEST_FILE_NAME = "manifest.json"
# What evaluate writes for the approver; local_run reads them without loading evaluate's libraries.
EVALUATION_FILE = "evaluation.json"
REPORT_FILE = "report.html"
TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLITS = (TRAIN, VALIDATION, TEST)
# A split of more rows (and not sharded) is written as several files: parquet's writer is single-threaded, and
# preprocess writes files side by side.
ROWS_PER_FILE = 500_000
# XGBoost's names for the two feature kinds.
_XGBOOST_TYPES = {NUMERIC: "q", CATEGORICAL: "c"}


def split_files(split: str, rows: np.ndarray, shards: int = 1) -> dict[str, np.ndarray]:
    """File name -> row indices for one split. The train split may be cut into one file per training host
    (for a ShardedByS3Key channel); rows are dealt out in turn, so every shard spans all of the data. Otherwise
    a split of more than ROWS_PER_FILE rows is cut into consecutive parts of equal size: read in name order
    (read_split), they are the split's rows in order."""
    if shards > 1:
        return {f"{split}-{shard:05d}.parquet": rows[shard::shards] for shard in range(shards)}
    parts = -(-len(rows) // ROWS_PER_FILE)
    if parts <= 1:
        return {f"{split}.parquet": rows}
    return {f"{split}-part-{part:05d}.parquet": part_rows for part, part_rows in enumerate(np.array_split(rows, parts))}


@dataclasses.dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # contract.NUMERIC or contract.CATEGORICAL
    # Categorical only: the levels seen in the training split; their positions are XGBoost's category codes.
    levels: tuple[str, ...] | None = None
    # Categorical only: the endpoint scores a level unseen in training as missing instead of refusing it
    # (the data contract's unseen_categories_as_missing).
    unseen_as_missing: bool = False

    @functools.cached_property
    def level_array(self) -> pa.Array:
        """The levels as an arrow array, built once (it is looked up for every request)."""
        return pa.array(self.levels or (), pa.string())

    @functools.cached_property
    def level_codes(self) -> dict[str, float]:
        """Each level's code (its position, as encode_features gives it), built once: the endpoint encodes
        every request's values with it."""
        return {level: float(code) for code, level in enumerate(self.levels or ())}


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The features a model was trained on: names, order, kinds and category levels."""

    target_column: str
    positive_label: str
    negative_label: str
    features: tuple[Feature, ...]
    missing_values: tuple[str, ...]
    rows: dict[str, int]  # per split
    positives: dict[str, int]  # per split
    # The data contract's ignored_columns: the endpoint accepts them in a request and ignores them, so a client
    # can send the rows it exports. Manifests written before the field existed lack it: none.
    ignored_columns: tuple[str, ...] = ()

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def xgboost_feature_types(self) -> list[str]:
        return [_XGBOOST_TYPES[feature.kind] for feature in self.features]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Manifest:
        # Manifests written before unseen_as_missing existed lack it: such models refuse unseen levels.
        features = tuple(
            Feature(
                item["name"],
                item["kind"],
                None if item["levels"] is None else tuple(item["levels"]),
                item.get("unseen_as_missing", False),
            )
            for item in raw["features"]
        )
        fields = {
            **raw,
            "features": features,
            "missing_values": tuple(raw["missing_values"]),
            "ignored_columns": tuple(raw.get("ignored_columns", ())),
        }
        return cls(**fields)

    def save(self, directory: Path) -> Path:
        path = directory / MANIFEST_FILE_NAME
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        return cls.from_json(json.loads((directory / MANIFEST_FILE_NAME).read_text(encoding="utf-8")))


def read_split(directory: Path) -> pa.Table:
    """The rows of every parquet file that preprocess wrote into a split's folder (or this host's shard)."""
    files = sorted(directory.glob("*.parquet"))
    if not files:
        raise JobFailure(f"no .parquet file in {directory}: is it preprocess's output?")
    return pa.concat_tables(pq.read_table(file) for file in files)


def labels(table: pa.Table, manifest: Manifest) -> np.ndarray:
    """The 0/1 labels that preprocess stored under the target column's name."""
    return table.column(manifest.target_column).to_numpy().astype(np.float32)


def _encoded_column(column: pa.ChunkedArray | pa.Array, feature: Feature) -> np.ndarray:
    """One feature as numbers; arrow turns nulls into NaN when it converts to numpy."""
    if feature.kind == CATEGORICAL:
        # A level's position is its code; a level unseen in training becomes missing.
        return pc.index_in(column, value_set=feature.level_array).to_numpy(zero_copy_only=False)
    return column.to_numpy(zero_copy_only=False)


def encode_features(table: pa.Table, manifest: Manifest) -> np.ndarray:
    """Rows as XGBoost reads them: float32, features in manifest order, categories as codes, NaN missing."""
    encoded = np.empty((table.num_rows, len(manifest.features)), dtype=np.float32)
    for position, feature in enumerate(manifest.features):
        encoded[:, position] = _encoded_column(table.column(feature.name), feature)
    return encoded


def approver_line(document: dict[str, Any]) -> str:
    """The one line an approver reads first, e.g.
    `test ROC-AUC 0.931 [0.924, 0.937]: passes dev 0.85, stg 0.90, prod 0.92; serving model 0.925, ...`."""
    auc = document["binary_classification_metrics"]["auc"]["value"]
    low, high = document["evaluation_details"]["auc_confidence_interval_95"]
    line = f"test ROC-AUC {auc:.3f} [{low:.3f}, {high:.3f}]"
    verdicts = document["thresholds"]["environments"]
    groups = [
        (word, ", ".join(f"{v['environment']} {v['threshold']:.2f}" for v in verdicts if v["passes"] is passes))
        for word, passes in (("passes", True), ("fails", False))
    ]
    verdict_text = "; ".join(f"{word} {names}" for word, names in groups if names)
    if verdict_text:
        line += f": {verdict_text}"
    comparison = document["champion_comparison"]
    if comparison["champion"] is None:
        line += "; no serving model to compare with"
    else:
        difference = comparison["auc_difference"]
        low, high = difference["confidence_interval_95"]
        line += (
            f"; serving model {comparison['champion']['auc']['value']:.3f},"
            f" difference {difference['value']:+.3f} [{low:+.3f}, {high:+.3f}]"
        )
        gate = comparison["gate"]
        if gate["passes"] is not None:
            line += f" ({'within' if gate['passes'] else 'beyond'} the margin {gate['margin']:.3f})"
    return line
