"""What monitoring needs to know of a model version: per feature the training distribution, the score distribution
on the test split, and the ROC-AUC the model was approved with.

Evaluate writes it as monitoring_baseline.json beside evaluation.json; the training pipeline registers it as the
model package's drift-check baseline (DriftCheckBaselines.ModelDataQuality.Statistics), so whichever version
serves, its baseline is found from the package. The file is self-contained: the monitoring job needs neither the
model nor the manifest.

    numeric feature:     counts per quantile bin of the training values (inner cut points `edges`) + missing
    categorical feature: counts per training level + missing (a window adds an "unknown level" bin)
    score:               counts per quantile bin of the test split's scores
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import drift
from artifacts import Manifest
from contract import CATEGORICAL

BASELINE_FILE = "monitoring_baseline.json"
FORMAT_VERSION = 1
NUMERIC_BINS = 10
SCORE_BINS = 10


def _numeric_values(column: pa.ChunkedArray) -> np.ndarray:
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)


def feature_baseline(table: pa.Table, manifest: Manifest) -> list[dict[str, Any]]:
    """Per feature of the manifest: its bins and training counts, and the missing count, from the rows of `table`
    (a split as preprocess writes it: raw values, missing as null)."""
    features = []
    for feature in manifest.features:
        column = table.column(feature.name)
        missing = column.null_count
        if feature.kind == CATEGORICAL:
            levels = list(feature.levels or ())
            present = pc.drop_null(column).cast(pa.string()).to_pylist()
            positions = {level: position for position, level in enumerate(levels)}
            counts = np.zeros(len(levels), dtype=np.int64)
            for value in present:
                # Every value of the training split is a level (the manifest's levels come from it).
                counts[positions[value]] += 1
            features.append(
                {
                    "name": feature.name,
                    "kind": feature.kind,
                    "levels": levels,
                    "counts": counts.tolist(),
                    "missing": missing,
                }
            )
        else:
            values = _numeric_values(column)
            edges = drift.numeric_bin_edges(values, NUMERIC_BINS)
            counts = drift.numeric_bin_counts(values, edges)
            features.append(
                {
                    "name": feature.name,
                    "kind": feature.kind,
                    "edges": edges,
                    "counts": counts.tolist(),
                    "missing": missing,
                }
            )
    return features


def score_baseline(scores: np.ndarray) -> dict[str, Any]:
    """The test split's scores in quantile bins."""
    scores = np.asarray(scores, dtype=np.float64)
    edges = drift.numeric_bin_edges(scores, SCORE_BINS)
    return {"edges": edges, "counts": drift.numeric_bin_counts(scores, edges).tolist(), "rows": int(scores.size)}


def baseline_document(
    train: pa.Table, manifest: Manifest, test_scores: np.ndarray, evaluation: dict[str, Any], label_threshold: float
) -> dict[str, Any]:
    auc = evaluation["binary_classification_metrics"]["auc"]["value"]
    interval = evaluation["evaluation_details"]["auc_confidence_interval_95"]
    return {
        "format_version": FORMAT_VERSION,
        "target_column": manifest.target_column,
        "positive_label": manifest.positive_label,
        "negative_label": manifest.negative_label,
        "missing_values": list(manifest.missing_values),
        "training_rows": train.num_rows,
        "features": feature_baseline(train, manifest),
        "score": score_baseline(test_scores),
        "approved_quality": {
            "auc": auc,
            "auc_confidence_interval_95": interval,
            "label_threshold": label_threshold,
        },
    }


def write_baseline(document: dict[str, Any], directory: Path) -> Path:
    path = directory / BASELINE_FILE
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def load_baseline(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: monitoring baseline format {document.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    return document
