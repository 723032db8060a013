"""Processing job: score the model on the test split and write the evidence for the approval decision.

    python3 evaluate.py [--model-dir DIR] [--test-dir DIR] [--train-dir DIR] [--validation-dir DIR]
        [--output-dir DIR] [--bootstrap-samples 1000] [--seed 42]
        [--environment NAME] [--auc-threshold T] [--auc-thresholds dev=0.85,stg=0.9,...]
        [--champion-model-uri S3_URI_OR_PATH] [--champion-model-package-arn ARN] [--champion-auc-margin M]
        [--input-data-uri URI] [--input-data-version V] [--execution-id ID] [--code-bundle-uri URI]

--model-dir holds model.tar.gz as SageMaker writes it, or the extracted files. Writes evaluation.json in
SageMaker's model-quality metrics shape (the pipeline's condition reads
binary_classification_metrics.auc.value) with the approver's context beside it (every environment's
threshold, the comparison with the serving model, where the data came from, how the model was trained),
roc.png, pr.png and report.html (self-contained). A failure writes one sentence to /opt/ml/output/message.

The quality gate's verdict goes under quality_gate: whether the model passes this run's threshold
(--auc-threshold, else this environment's entry of --auc-thresholds) and, with a margin, the champion rule,
and one sentence saying which rule failed and by how much (the pipeline's Fail step shows it).

The champion (the model serving in the environment) is scored on the same test rows; the difference in
ROC-AUC gets a paired bootstrap interval (both models on the same resamples). An empty
--champion-model-uri means no champion: the first model of an environment.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import html
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display in a processing job
import matplotlib.pyplot as plt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb
from sklearn import metrics

import artifacts
import decision_stability
import decision_thresholds
import model_io
import monitoring_baseline
from artifacts import Manifest
from contract import CATEGORICAL
from job_output import PROCESSING_MESSAGE_FILE, JobArgumentParser, JobFailure, run_job

log = logging.getLogger("evaluate")
ROC_PLOT_FILE = "roc.png"
PR_PLOT_FILE = "pr.png"
DEFAULT_THRESHOLD = 0.5
CALIBRATION_BINS = 10
# Curves in evaluation.json are thinned to this many points; the plots use every point.
CURVE_POINTS = 101
# Bootstrap resamples are scored a block at a time: resamples x test rows, at most this many counts.
BOOTSTRAP_BLOCK_CELLS = 2**22
S3_SCHEME = "s3://"


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What the pipeline (or local_run) tells evaluate beyond the model and the test split."""

    train_dir: Path | None = None
    validation_dir: Path | None = None
    environment: str = ""
    auc_thresholds: tuple[tuple[str, float], ...] = ()  # (environment, threshold), in cdk.json's order
    auc_threshold: float | None = None  # this run's gate; None: this environment's entry of auc_thresholds
    champion_model_uri: str = ""  # empty: no champion
    champion_model_package_arn: str = ""
    champion_auc_margin: float | None = None  # None: no champion gate
    input_data_uri: str = ""
    input_data_version: str = ""
    execution_id: str = ""
    code_bundle_uri: str = ""
    label_threshold: float = DEFAULT_THRESHOLD  # the environment's label cut-off (cdk.json training.label_threshold)
    max_flip_rate: float | None = None  # None: no flip-rate gate (decision_stability.py)


@dataclasses.dataclass(frozen=True)
class Scored:
    """A model's probabilities on the test rows, and what the report says about the model."""

    booster: xgb.Booster
    manifest: Manifest
    probability: np.ndarray


Metric = Callable[[np.ndarray, np.ndarray], float]


def confusion(y: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    tp = int(np.sum((predicted == 1) & (y == 1)))
    fp = int(np.sum((predicted == 1) & (y == 0)))
    fn = int(np.sum((predicted == 0) & (y == 1)))
    tn = int(np.sum((predicted == 0) & (y == 0)))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _f_beta(precision: float, recall: float, beta: float) -> float:
    return _ratio((1 + beta**2) * precision * recall, beta**2 * precision + recall)


def rates(tp: float, fp: float, fn: float, tn: float) -> dict[str, float]:
    """The threshold metrics from a confusion matrix's four counts."""
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "precision": precision,
        "recall": recall,
        "f0_5": _f_beta(precision, recall, 0.5),
        "f1": _f_beta(precision, recall, 1.0),
        "f2": _f_beta(precision, recall, 2.0),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
        "true_positive_rate": recall,
        "true_negative_rate": _ratio(tn, tn + fp),
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, fn + tp),
    }


def threshold_metrics(y: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, float]:
    return rates(**confusion(y, (probability >= threshold).astype(np.int8)))


def scalar_metrics(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Every single-number metric at the default threshold (resampled_metrics computes the same per resample)."""
    # In float64: float32 (xgboost's output) rounds 1 - 1e-15 to 1, and a probability of 1 made the loss NaN.
    exact = probability.astype(np.float64)
    clipped = np.clip(exact, 1e-15, 1 - 1e-15)
    return {
        "auc": float(metrics.roc_auc_score(y, probability)),
        "pr_auc": float(metrics.average_precision_score(y, probability)),
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
        "brier_score": float(np.mean((exact - y) ** 2)),
        **threshold_metrics(y, probability, DEFAULT_THRESHOLD),
    }


class ScoreCells:
    """The test rows in cells of (distinct score, label), scores descending. Every metric of scalar_metrics
    depends only on how many rows of each cell a resample draws, so a resample is a row of cell counts."""

    def __init__(self, y: np.ndarray, probability: np.ndarray) -> None:
        if not np.isfinite(probability).all():
            raise ValueError("the model predicted a probability that is not a finite number")
        ascending, position = np.unique(probability, return_inverse=True)
        self.scores = ascending[::-1].astype(np.float64)
        self.cell_of_row = y.astype(np.intp) * len(ascending) + (len(ascending) - 1 - position)
        clipped = np.clip(self.scores, 1e-15, 1 - 1e-15)
        self.loss = np.stack([-np.log(1 - clipped), -np.log(clipped)])  # per cell: label 0, then label 1
        self.squared_error = np.stack([self.scores**2, (1 - self.scores) ** 2])

    def counts(self, resamples: list[np.ndarray]) -> np.ndarray:
        """(resamples, label 0 then 1, scores): how often each resample drew each cell."""
        cells = len(self.scores) * 2
        drawn = [np.bincount(self.cell_of_row[rows], minlength=cells) for rows in resamples]
        return np.stack(drawn).reshape(len(resamples), 2, len(self.scores))


def resample_blocks(y: np.ndarray, samples: int, seed: int) -> Iterator[list[np.ndarray]]:
    """The rows of each bootstrap resample (drawn with replacement), a block of resamples at a time so that the
    counts of a large test split stay within memory. A resample with one class only is left out, and so is a
    block left empty by that."""
    rng = np.random.default_rng(seed)
    block = max(1, BOOTSTRAP_BLOCK_CELLS // (2 * len(y)))
    for start in range(0, samples, block):
        draws = (rng.integers(0, len(y), len(y)) for _ in range(start, min(start + block, samples)))
        kept = [rows for rows in draws if 0 < y[rows].sum() < len(rows)]
        if kept:
            yield kept


def curve_areas(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision of each resample, equal to sklearn's on the resampled rows. The true and
    false positives at or above each distinct score are whole numbers; so is the area under the ROC curve's
    steps (each score's negatives times the positives above it, half of its own) until its one division."""
    negatives, positives = counts[:, 0], counts[:, 1]
    tps, fps = np.cumsum(positives, axis=1), np.cumsum(negatives, axis=1)
    auc = np.sum(negatives * (2 * tps - positives), axis=1) / (2 * tps[:, -1] * fps[:, -1])
    precision = tps / np.maximum(tps + fps, 1)  # where nothing is predicted positive, no positive is either
    return auc, np.sum(positives * precision, axis=1) / tps[:, -1]


def resampled_metrics(cells: ScoreCells, counts: np.ndarray) -> dict[str, np.ndarray]:
    """scalar_metrics of each resample, from its cell counts. (sklearn on each resample's rows, mostly its
    input checks, took 2.5 s per model for 1,000 resamples of the sample's 4,900 test rows; this, 0.3 s.)"""
    auc, average_precision = curve_areas(counts)
    rows = counts.sum(axis=(1, 2))
    # The default threshold predicts positive for a prefix of the descending scores.
    above = int(np.sum(cells.scores >= DEFAULT_THRESHOLD))
    tp, fp = counts[:, 1, :above].sum(axis=1), counts[:, 0, :above].sum(axis=1)
    fn, tn = counts[:, 1, above:].sum(axis=1), counts[:, 0, above:].sum(axis=1)
    per_resample = [rates(*map(float, cell)) for cell in zip(tp, fp, fn, tn, strict=True)]
    return {
        "auc": auc,
        "pr_auc": average_precision,
        "log_loss": np.sum(counts * cells.loss, axis=(1, 2)) / rows,
        "brier_score": np.sum(counts * cells.squared_error, axis=(1, 2)) / rows,
        **{name: np.array([values[name] for values in per_resample]) for name in rates(0, 0, 0, 0)},
    }


def bootstrap(y: np.ndarray, probability: np.ndarray, samples: int, seed: int) -> dict[str, np.ndarray]:
    """Each metric on `samples` resamples of the test rows (a resample with one class only is skipped)."""
    cells = ScoreCells(y, probability)
    blocks = [resampled_metrics(cells, cells.counts(block)) for block in resample_blocks(y, samples, seed)]
    return {name: np.concatenate([block[name] for block in blocks]) for name in blocks[0]} if blocks else {}


def paired_auc_differences(
    y: np.ndarray, challenger: np.ndarray, champion: np.ndarray, samples: int, seed: int
) -> np.ndarray:
    """ROC-AUC of the challenger minus the champion's on the same resamples of the test rows: the pairing
    removes the noise both share (the same hard rows), so the interval is much narrower than two separate ones."""
    first, second = ScoreCells(y, challenger), ScoreCells(y, champion)
    differences = [
        curve_areas(first.counts(block))[0] - curve_areas(second.counts(block))[0]
        for block in resample_blocks(y, samples, seed)
    ]
    return np.concatenate(differences) if differences else np.array([])


def interval_95(values: np.ndarray) -> list[float]:
    return [float(np.percentile(values, q)) for q in (2.5, 97.5)]


def best_f1_threshold(y: np.ndarray, probability: np.ndarray) -> float:
    precision, recall, thresholds = metrics.precision_recall_curve(y, probability)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    # The last precision/recall pair has no threshold.
    return float(thresholds[int(np.argmax(f1[:-1]))])


def calibration_table(y: np.ndarray, probability: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Per equal-width probability bin: rows, mean predicted probability, observed positive rate."""
    index = np.minimum((probability * bins).astype(int), bins - 1)
    table = []
    for position in range(bins):
        members = index == position
        count = int(members.sum())
        table.append(
            {
                "bin_lower": position / bins,
                "bin_upper": (position + 1) / bins,
                "count": count,
                "mean_predicted": float(probability[members].mean()) if count else None,
                "observed_rate": float(y[members].mean()) if count else None,
            }
        )
    return table


def _thinned(values: np.ndarray, points: int = CURVE_POINTS) -> list[float]:
    picks = np.unique(np.linspace(0, len(values) - 1, min(points, len(values))).astype(int))
    return [float(value) for value in values[picks]]


def evaluation_document(
    y: np.ndarray,
    probability: np.ndarray,
    samples: dict[str, np.ndarray],
    best_threshold: float,
    label_threshold: float = DEFAULT_THRESHOLD,
) -> dict:
    """evaluation.json: SageMaker's binary_classification_metrics (at 0.5), plus details for the report, among them
    the confusion matrix at the label cut-off the endpoint labels with (cdk.json training.label_threshold)."""
    point = scalar_metrics(y, probability)

    def shaped(name: str) -> dict[str, float]:
        spread = samples.get(name)
        deviation = float(np.std(spread, ddof=1)) if spread is not None and len(spread) > 1 else 0.0
        return {"value": point[name], "standard_deviation": deviation}

    counts = confusion(y, (probability >= DEFAULT_THRESHOLD).astype(np.int8))
    fpr, tpr, _ = metrics.roc_curve(y, probability)
    precisions, recalls, _ = metrics.precision_recall_curve(y, probability)
    prevalence = float(y.mean())
    # "Best constant classifier": always predicting the majority class, SageMaker's baseline.
    constant = threshold_metrics(y, np.full_like(probability, 1.0 if prevalence >= 0.5 else 0.0), DEFAULT_THRESHOLD)
    auc_samples = samples.get("auc", np.array([point["auc"]]))
    return {
        "binary_classification_metrics": {
            **{name: shaped(name) for name in point},
            "confusion_matrix": {
                "0": {"0": counts["tn"], "1": counts["fp"]},
                "1": {"0": counts["fn"], "1": counts["tp"]},
            },
            "recall_best_constant_classifier": {"value": constant["recall"], "standard_deviation": 0.0},
            "precision_best_constant_classifier": {"value": constant["precision"], "standard_deviation": 0.0},
            "accuracy_best_constant_classifier": {"value": constant["accuracy"], "standard_deviation": 0.0},
            "f1_best_constant_classifier": {"value": constant["f1"], "standard_deviation": 0.0},
            "receiver_operating_characteristic_curve": {
                "false_positive_rates": _thinned(fpr),
                "true_positive_rates": _thinned(tpr),
            },
            "precision_recall_curve": {"precisions": _thinned(precisions), "recalls": _thinned(recalls)},
        },
        "evaluation_details": {
            "test_rows": len(y),
            "test_positive_rate": prevalence,
            "auc_confidence_interval_95": interval_95(auc_samples),
            "bootstrap_samples": len(auc_samples),
            "at_threshold_0_5": threshold_metrics(y, probability, DEFAULT_THRESHOLD),
            "best_f1_threshold": best_threshold,
            "at_best_f1_threshold": threshold_metrics(y, probability, best_threshold),
            "confusion_matrix_at_best_f1_threshold": confusion(y, (probability >= best_threshold).astype(np.int8)),
            "confusion_matrix_at_label_threshold": confusion(y, (probability >= label_threshold).astype(np.int8)),
            "calibration": calibration_table(y, probability),
        },
    }


def _figure_png(draw: Callable[[plt.Axes], None], path: Path) -> bytes:
    figure, axes = plt.subplots(figsize=(5, 4.5), dpi=100)
    draw(axes)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
    return path.read_bytes()


def roc_png(y: np.ndarray, probability: np.ndarray, auc: float, path: Path) -> bytes:
    fpr, tpr, _ = metrics.roc_curve(y, probability)

    def draw(axes: plt.Axes) -> None:
        axes.plot(fpr, tpr, label=f"model (AUC {auc:.4f})")
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
        axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve (test split)")
        axes.legend(loc="lower right")

    return _figure_png(draw, path)


def pr_png(y: np.ndarray, probability: np.ndarray, pr_auc: float, path: Path) -> bytes:
    precision, recall, _ = metrics.precision_recall_curve(y, probability)

    def draw(axes: plt.Axes) -> None:
        axes.plot(recall, precision, label=f"model (average precision {pr_auc:.4f})")
        axes.axhline(y.mean(), linestyle="--", color="grey", label="positive rate")
        axes.set(xlabel="recall", ylabel="precision", title="Precision-recall curve (test split)")
        axes.legend(loc="lower left")

    return _figure_png(draw, path)


def feature_importance(booster: xgb.Booster, manifest: Manifest) -> list[dict[str, Any]]:
    """Total gain per feature and its share of all gain, largest first; features never used in a split have 0."""
    gains = booster.get_score(importance_type="total_gain")
    total = sum(gains.values())
    ranked = sorted(((name, float(gains.get(name, 0.0))) for name in manifest.feature_names), key=lambda x: -x[1])
    return [{"feature": name, "total_gain": gain, "share": gain / total if total else 0.0} for name, gain in ranked]


def data_summary(test: pa.Table, manifest: Manifest) -> list[dict]:
    """Per feature on the test split: kind, missing share, and range or level count."""
    summary = []
    for feature in manifest.features:
        column = test.column(feature.name)
        row = {"feature": feature.name, "kind": feature.kind, "missing": column.null_count / max(len(column), 1)}
        if feature.kind == CATEGORICAL:
            row["detail"] = f"{len(feature.levels or ())} levels in training"
        else:
            low, high = pc.min_max(column).values()
            row["detail"] = f"range {low.as_py()} to {high.as_py()}" if low.is_valid else "no values"
        summary.append(row)
    return summary


def resample_count(text: str) -> int:
    """--bootstrap-samples: a whole number of resamples, at least one (an interval needs some)."""
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"at least 1 resample is needed, got {count}")
    return count


def optional_float(text: str) -> float | None:
    """A number, or nothing: a pipeline parameter may arrive as an empty string."""
    return float(text) if text else None


def parse_thresholds(text: str) -> tuple[tuple[str, float], ...]:
    """`dev=0.85,stg=0.9` as ((environment, threshold), ...); empty text: none."""
    thresholds = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, separator, value = item.partition("=")
        try:
            thresholds.append((name.strip(), float(value)))
        except ValueError:
            separator = ""
        if not separator or not name.strip():
            raise JobFailure(f"--auc-thresholds: {item!r} is not ENVIRONMENT=THRESHOLD")
    return tuple(thresholds)


def threshold_verdicts(auc: float, thresholds: tuple[tuple[str, float], ...], current: str) -> list[dict[str, Any]]:
    return [
        {"environment": name, "threshold": threshold, "passes": auc >= threshold, "this_run": name == current}
        for name, threshold in thresholds
    ]


def fetch_champion(uri: str, work: Path) -> Path:
    """A folder holding the champion's model: an s3:// model.tar.gz is downloaded (boto3 is in the SageMaker
    image; imported only here, local runs never need it), a local archive or folder is used in place."""
    if uri.startswith(S3_SCHEME):
        import boto3

        bucket, _, key = uri.removeprefix(S3_SCHEME).partition("/")
        target = work / model_io.MODEL_ARCHIVE_NAME
        response = boto3.client("s3").get_object(Bucket=bucket, Key=key)
        with target.open("wb") as file:
            shutil.copyfileobj(response["Body"], file)
        return work
    path = Path(uri)
    if path.is_file():
        (work / model_io.MODEL_ARCHIVE_NAME).symlink_to(path.resolve())
        return work
    if path.is_dir():
        return path
    raise JobFailure(f"the champion model {uri} is neither an s3:// URI, a file nor a folder")


def load_model(model_dir: Path, what: str) -> tuple[xgb.Booster, Manifest]:
    model_files = model_io.extract_model_archive(model_dir)
    if not (model_files / model_io.MODEL_FILE_NAME).exists():
        raise JobFailure(f"no {model_io.MODEL_ARCHIVE_NAME} or {model_io.MODEL_FILE_NAME} in {what}")
    return model_io.load_booster(model_files), Manifest.load(model_files)


def score(booster: xgb.Booster, manifest: Manifest, table: pa.Table, what: str) -> np.ndarray:
    missing = [name for name in manifest.feature_names if name not in table.column_names]
    if missing:
        raise JobFailure(f"{what} needs feature(s) {', '.join(missing[:3])} that this run's data does not have")
    return booster.inplace_predict(artifacts.encode_features(table, manifest)).astype(np.float64)


def training_details(booster: xgb.Booster) -> dict[str, Any]:
    """How the model was trained, from the attributes train.py saves in the model file (None if absent)."""
    hyperparameters = booster.attr("hyperparameters")
    best_iteration = booster.attr("best_iteration")
    best_validation_auc = booster.attr("best_validation_auc")
    return {
        "hyperparameters": json.loads(hyperparameters) if hyperparameters else None,
        "best_iteration": int(best_iteration) if best_iteration is not None else None,
        "boosting_rounds": booster.num_boosted_rounds(),
        "best_validation_auc": float(best_validation_auc) if best_validation_auc is not None else None,
    }


def split_aucs(model: Scored, y_test: np.ndarray, context: RunContext) -> dict[str, float | None]:
    """ROC-AUC on each split: a train AUC far above validation and test shows overfitting."""
    aucs: dict[str, float | None] = {}
    for split, folder in ((artifacts.TRAIN, context.train_dir), (artifacts.VALIDATION, context.validation_dir)):
        if folder is None:
            aucs[split] = None
            continue
        table = artifacts.read_split(folder)
        y = artifacts.labels(table, model.manifest)
        aucs[split] = float(metrics.roc_auc_score(y, score(model.booster, model.manifest, table, "the model")))
    aucs[artifacts.TEST] = float(metrics.roc_auc_score(y_test, model.probability))
    return aucs


def champion_comparison(
    y: np.ndarray, challenger: Scored, champion: Scored | None, context: RunContext, samples: int, seed: int
) -> dict[str, Any]:
    """Both models on the same test rows, and the gate's floor (the pipeline's champion condition reads it)."""
    challenger_auc = float(metrics.roc_auc_score(y, challenger.probability))
    margin = context.champion_auc_margin
    if champion is None:
        return {
            "champion": None,
            "auc_difference": None,
            "gate": {"margin": margin, "minimum_auc": 0.0, "passes": None if margin is None else True},
            "decision_stability": None,
            "flip_gate": decision_stability.flip_gate(None, context.max_flip_rate),
        }
    champion_point = scalar_metrics(y, champion.probability)
    champion_auc = champion_point["auc"]
    champion_samples = bootstrap(y, champion.probability, samples, seed)
    differences = paired_auc_differences(y, challenger.probability, champion.probability, samples, seed)
    minimum = champion_auc - margin if margin is not None else 0.0
    stability = decision_stability.decision_stability(
        challenger.probability, champion.probability, context.label_threshold
    )
    return {
        "champion": {
            "model_uri": context.champion_model_uri,
            "model_package_arn": context.champion_model_package_arn or None,
            "auc": {"value": champion_auc, "confidence_interval_95": interval_95(champion_samples["auc"])},
            "scores": {name: champion_point[name] for name in ("pr_auc", "log_loss", "brier_score", "f1")},
            "training": training_details(champion.booster),
        },
        "auc_difference": {
            "value": challenger_auc - champion_auc,
            "confidence_interval_95": interval_95(differences),
            "bootstrap_samples": len(differences),
        },
        "gate": {
            "margin": margin,
            "minimum_auc": max(minimum, 0.0),
            "passes": None if margin is None else challenger_auc >= minimum,
        },
        "decision_stability": stability,
        "flip_gate": decision_stability.flip_gate(stability, context.max_flip_rate),
    }


def gate_threshold(context: RunContext) -> float | None:
    """The threshold this run is gated on: the pipeline passes its AucThreshold parameter; a run without one
    (local_run) uses its environment's entry of the thresholds; None: no threshold rule."""
    if context.auc_threshold is not None:
        return context.auc_threshold
    return dict(context.auc_thresholds).get(context.environment)


def _places(*gaps: float) -> int:
    """Decimal places (4 at least) at which every non-zero gap still shows as non-zero."""
    places = 4
    while places < 12 and any(0 < abs(gap) < 0.5 * 10**-places for gap in gaps):
        places += 1
    return places


def quality_gate(auc: float, threshold: float | None, comparison: dict[str, Any]) -> dict[str, Any]:
    """The gate's verdict and one sentence for people: which rule failed and by how much, or what passed.

    The pipeline's single condition step checks the same two rules on the same numbers (ROC-AUC at least the
    AucThreshold parameter, which this run receives too, and at least champion_comparison.gate.minimum_auc),
    and its Fail step's message is `reason`.
    """
    gate, champion = comparison["gate"], comparison["champion"]
    failed: list[str] = []
    reasons: list[str] = []
    passed: list[str] = []
    champion_auc = champion["auc"]["value"] if champion is not None else None
    places = _places(auc - (threshold or 0.0), auc - (champion_auc or 0.0) + (gate["margin"] or 0.0))
    if threshold is not None:
        if auc >= threshold:
            passed.append(f"clears the threshold {threshold:g}")
        else:
            failed.append("threshold")
            reasons.append(f"is {threshold - auc:.{places}f} below the threshold {threshold:g}")
    if gate["margin"] is not None:
        margin = gate["margin"]
        if champion_auc is None:
            passed.append("has no serving model to compare with")
        elif gate["passes"]:
            passed.append(f"is within the margin {margin:g} of the serving model's ROC-AUC {champion_auc:.{places}f}")
        else:
            failed.append("champion")
            reasons.append(
                f"is {champion_auc - auc:.{places}f} below the serving model's ROC-AUC {champion_auc:.{places}f},"
                f" more than the margin {margin:g}"
            )
    flips = comparison.get("flip_gate", {})
    if flips.get("passes") is False:
        failed.append("flip_rate")
        rate = comparison["decision_stability"]["flip_rate"]
        reasons.append(f"would flip {rate:.2%} of the test rows' labels, more than {flips['max_flip_rate']:.2%}")
    sentence = ", and ".join(reasons) if failed else ", and ".join(passed) or "is not gated (no threshold given)"
    return {
        "passes": not failed,
        "failed_rules": failed,
        "auc_threshold": threshold,
        "champion_auc_margin": gate["margin"],
        "reason": f"ROC-AUC {auc:.{places}f} {sentence}",
    }


def provenance(context: RunContext) -> dict[str, str | None]:
    code = context.code_bundle_uri
    # CDK names an asset object after the hash of its content: the file name is the bundle's hash.
    bundle_hash = code.rsplit("/", 1)[-1].split(".", 1)[0] if code else None
    return {
        "input_data_uri": context.input_data_uri or None,
        "input_data_version": context.input_data_version or None,
        "pipeline_execution_id": context.execution_id or None,
        "code_bundle_uri": code or None,
        "code_bundle_hash": bundle_hash,
    }


def _table_html(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(heading: str, headers: list[str], rows: list[list[object]]) -> str:
    """Every table under a heading of its own."""
    return f"<h2>{html.escape(heading)}</h2>{_table_html(headers, rows)}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _interval(values: list[float]) -> str:
    return f"{values[0]:.4f} to {values[1]:.4f}"


def _decision_sections(document: dict[str, Any]) -> list[str]:
    """What the approver decides on: thresholds, the serving model, and the split AUCs."""
    scores = document["binary_classification_metrics"]
    details = document["evaluation_details"]
    sections = [
        f"<p><strong>{html.escape(artifacts.approver_line(document))}</strong></p>",
        f"<p>Quality gate of this run: {'passes' if document['quality_gate']['passes'] else 'fails'}: "
        f"{html.escape(document['quality_gate']['reason'])}.</p>",
    ]
    verdicts = document["thresholds"]["environments"]
    if verdicts:
        sections.append(
            _section(
                "Thresholds of every environment",
                ["environment", "ROC-AUC threshold", "test ROC-AUC", "result"],
                [
                    [f"{v['environment']}{' (this run)' if v['this_run'] else ''}", f"{v['threshold']:.2f}",
                     _number(scores["auc"]["value"]), "passes" if v["passes"] else "fails"]
                    for v in verdicts
                ],
            )
        )  # fmt: skip
    comparison = document["champion_comparison"]
    champion = comparison["champion"]
    if champion is None:
        sections.append(
            "<h2>Challenger vs serving model</h2><p>No model serves in this environment yet: this model is gated "
            "on the threshold alone.</p>"
        )
    else:
        difference = comparison["auc_difference"]
        rows: list[list[object]] = [
            [
                "ROC-AUC",
                _number(scores["auc"]["value"]),
                _number(champion["auc"]["value"]),
                f"{difference['value']:+.4f}",
            ],
            [
                "ROC-AUC 95% interval",
                _interval(details["auc_confidence_interval_95"]),
                _interval(champion["auc"]["confidence_interval_95"]),
                f"{_interval(difference['confidence_interval_95'])} (paired bootstrap)",
            ],
        ]
        for label, name in (("PR-AUC", "pr_auc"), ("log loss", "log_loss"), ("Brier score", "brier_score")):
            ours, theirs = scores[name]["value"], champion["scores"][name]
            rows.append([label, _number(ours), _number(theirs), f"{ours - theirs:+.4f}"])
        gate = comparison["gate"]
        gate_text = (
            "no champion gate configured"
            if gate["margin"] is None
            else f"gate: at most {gate['margin']:.4f} below the serving model: {'passes' if gate['passes'] else 'fails'}"
        )
        sections.append(
            _section("Challenger vs serving model (same test rows)",
                     ["metric", "this model", "serving model", "difference"], rows)
            + f"<p>Serving model: {html.escape(champion['model_package_arn'] or champion['model_uri'])}; {gate_text}.</p>"
            + f"<p>{html.escape(decision_stability.sentence(comparison))}</p>"
        )  # fmt: skip
    split_auc = document["split_auc"]
    sections.append(
        _section(
            "ROC-AUC per split",
            ["split", "ROC-AUC"],
            [[split, _number(split_auc[split])] for split in artifacts.SPLITS],
        )
        + f"<p><strong>{html.escape(document['overfitting']['text'])}</strong></p>"
    )
    return sections


def _provenance_sections(document: dict[str, Any]) -> list[str]:
    origin = document["provenance"]
    training = document["training"]
    labels = {
        "input_data_uri": "input data",
        "input_data_version": "input data version",
        "pipeline_execution_id": "pipeline execution",
        "code_bundle_uri": "code bundle",
        "code_bundle_hash": "code bundle hash",
    }
    sections = [
        _section("Where the data and code came from", ["item", "value"],
                 [[label, origin[key] or "-"] for key, label in labels.items()]),
        _section("Training", ["item", "value"], [
            ["best iteration", "-" if training["best_iteration"] is None else training["best_iteration"]],
            ["boosting rounds kept", training["boosting_rounds"]],
            ["best validation ROC-AUC", _number(training["best_validation_auc"])],
        ]),
    ]  # fmt: skip
    if training["hyperparameters"]:
        sections.append(
            _section("Hyperparameters", ["name", "value"], [[k, v] for k, v in training["hyperparameters"].items()])
        )
    return sections


def report_html(
    document: dict,
    manifest: Manifest,
    summary: list[dict],
    plots: dict[str, bytes],
) -> str:
    """One HTML file with everything inline (plots as base64), readable offline and as an S3 object."""
    scores = document["binary_classification_metrics"]
    details = document["evaluation_details"]
    headline = [
        ["ROC-AUC", _number(scores["auc"]["value"]), f"95% CI {_interval(details['auc_confidence_interval_95'])}"],
        ["PR-AUC (average precision)", _number(scores["pr_auc"]["value"]), ""],
        ["log loss", _number(scores["log_loss"]["value"]), ""],
        ["Brier score", _number(scores["brier_score"]["value"]), ""],
    ]
    at_threshold = [
        [row["name"], f"{row['threshold']:.4f}", _number(row["precision"]), _number(row["recall"]), row["meaning"]]
        for row in document["reference_thresholds"]
    ]
    # What the endpoint's labels would have been on the test split: the matrix at the label cut-off.
    matrix = details["confusion_matrix_at_label_threshold"]
    confusion_rows = [
        [f"actual {manifest.negative_label}", matrix["tn"], matrix["fp"]],
        [f"actual {manifest.positive_label}", matrix["fn"], matrix["tp"]],
    ]
    calibration = [
        [f"{row['bin_lower']:.1f}-{row['bin_upper']:.1f}", row["count"], _number(row["mean_predicted"]),
         _number(row["observed_rate"])]
        for row in details["calibration"]
    ]  # fmt: skip
    images = "".join(
        f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
        for name, png in plots.items()
    )
    splits = [[split, manifest.rows[split], f"{manifest.positives[split] / manifest.rows[split]:.3f}"]
              for split in artifacts.SPLITS]  # fmt: skip
    importance = [[row["feature"], f"{row['total_gain']:.1f}", f"{row['share']:.1%}"]
                  for row in document["feature_importance"]]  # fmt: skip
    sections = [
        f"<h1>Model evaluation: {html.escape(manifest.target_column)} = {html.escape(manifest.positive_label)}</h1>",
        f"<p>Test split: {details['test_rows']} rows, positive rate {details['test_positive_rate']:.3f}. "
        f"Bootstrap: {details['bootstrap_samples']} resamples.</p>",
        *_decision_sections(document),
        _section("Scores (test split)", ["metric", "value", "note"], headline),
        _section("Label cut-off and reference thresholds (test split)",
                 ["", "threshold", "precision", "recall", "what it means"], at_threshold)
        + "<p>The endpoint labels a row positive from the cut-off on (cdk.json <code>training.label_threshold</code>); "
        "the probability it returns lets a client apply any other threshold.</p>",
        _section(
            f"Confusion matrix at the label cut-off {document['label_threshold']:g} (what the endpoint labels)",
            ["", f"predicted {manifest.negative_label}", f"predicted {manifest.positive_label}"],
            confusion_rows,
        ),
        "<h2>Curves</h2>",
        images,
        _section("Calibration", ["predicted probability", "rows", "mean predicted", "observed positive rate"],
                 calibration),
        _section("Feature importance (total gain, normalised)", ["feature", "total gain", "share of all gain"],
                 importance),
        *_provenance_sections(document),
        _section("Rows per split", ["split", "rows", "positive rate"], splits),
        _section("Features in the test split", ["feature", "kind", "missing in test", "detail"],
                 [[row["feature"], row["kind"], f"{row['missing']:.3%}", row["detail"]] for row in summary]),
    ]  # fmt: skip
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;"
        "text-align:left}img{max-width:48%;margin-right:1%}"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Model evaluation</title>'
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n"
    )


def evaluate(
    model_dir: Path,
    test_dir: Path,
    output_dir: Path,
    bootstrap_samples: int,
    seed: int,
    context: RunContext = RunContext(),
) -> dict:
    booster, manifest = load_model(model_dir, str(model_dir))
    test = artifacts.read_split(test_dir)
    y = artifacts.labels(test, manifest).astype(np.int8)
    if y.min() == y.max():
        raise JobFailure("the test split has only one class; ROC-AUC needs both")
    challenger = Scored(booster, manifest, score(booster, manifest, test, "the model"))
    champion = None
    with tempfile.TemporaryDirectory(prefix="champion-") as work:
        if context.champion_model_uri:
            where = f"the champion model {context.champion_model_uri}"
            champion_booster, champion_manifest = load_model(
                fetch_champion(context.champion_model_uri, Path(work)), where
            )
            if champion_manifest.target_column != manifest.target_column:
                raise JobFailure(
                    f"{where} predicts {champion_manifest.target_column!r}, this model {manifest.target_column!r}"
                )
            champion = Scored(
                champion_booster, champion_manifest, score(champion_booster, champion_manifest, test, where)
            )
    samples = bootstrap(y, challenger.probability, bootstrap_samples, seed)
    document = evaluation_document(
        y,
        challenger.probability,
        samples,
        best_f1_threshold(y, challenger.probability),
        context.label_threshold,
    )
    auc = document["binary_classification_metrics"]["auc"]["value"]
    comparison = champion_comparison(y, challenger, champion, context, bootstrap_samples, seed)
    document.update(
        thresholds={
            "this_environment": context.environment or None,
            "environments": threshold_verdicts(auc, context.auc_thresholds, context.environment),
        },
        quality_gate=quality_gate(auc, gate_threshold(context), comparison),
        champion_comparison=comparison,
        split_auc=split_aucs(challenger, y, context),
        label_threshold=context.label_threshold,
        reference_thresholds=decision_thresholds.reference_thresholds(
            y,
            challenger.probability,
            context.label_threshold,
            document["evaluation_details"]["best_f1_threshold"],
            manifest.positive_label,
        ),
        training=training_details(booster),
        feature_importance=feature_importance(booster, manifest),
        provenance=provenance(context),
    )
    document["overfitting"] = decision_thresholds.overfitting(document["split_auc"])

    output_dir.mkdir(parents=True, exist_ok=True)
    scores = document["binary_classification_metrics"]
    probability = challenger.probability
    plots = {
        "ROC curve": roc_png(y, probability, scores["auc"]["value"], output_dir / ROC_PLOT_FILE),
        "precision-recall curve": pr_png(y, probability, scores["pr_auc"]["value"], output_dir / PR_PLOT_FILE),
    }
    report = report_html(document, manifest, data_summary(test, manifest), plots)
    (output_dir / artifacts.REPORT_FILE).write_text(report, encoding="utf-8")
    # What monitoring compares served traffic with (monitoring_baseline.py): the training rows' features and the
    # test rows' scores; the pipeline registers it as the model package's drift-check baseline.
    train_rows = artifacts.read_split(context.train_dir) if context.train_dir else test
    baseline = monitoring_baseline.baseline_document(
        train_rows, manifest, probability, document, context.label_threshold
    )
    monitoring_baseline.write_baseline(baseline, output_dir)
    # evaluation.json last: the pipeline reads it, so it exists only when everything else does.
    (output_dir / artifacts.EVALUATION_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    log.info("%s; wrote %s", artifacts.approver_line(document), output_dir)
    return document


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = JobArgumentParser(description="Evaluate the model on the test split.")
    inputs = Path("/opt/ml/processing/input")
    parser.add_argument("--model-dir", type=Path, default=inputs / "model")
    parser.add_argument("--test-dir", type=Path, default=inputs / artifacts.TEST)
    # Optional: with them the report shows train / validation / test ROC-AUC side by side.
    parser.add_argument("--train-dir", type=Path, default=None)
    parser.add_argument("--validation-dir", type=Path, default=None)
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output/evaluation"))
    parser.add_argument("--bootstrap-samples", type=resample_count, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--environment", default="")
    # The pipeline's AucThreshold parameter: the gate's threshold for this run.
    parser.add_argument("--auc-threshold", type=optional_float, default=None)
    parser.add_argument("--auc-thresholds", type=parse_thresholds, default=())
    parser.add_argument("--label-threshold", type=float, default=DEFAULT_THRESHOLD, help="the endpoint's cut-off")
    parser.add_argument("--champion-model-uri", default="", help="s3:// URI or local path; empty: no champion")
    parser.add_argument("--champion-model-package-arn", default="")
    # Empty (as a pipeline parameter may pass it): no champion gate.
    parser.add_argument("--champion-auc-margin", type=optional_float, default=None)
    # Empty: no flip-rate gate (the share of test rows whose label would change against the serving model).
    parser.add_argument("--max-flip-rate", type=optional_float, default=None)
    parser.add_argument("--input-data-uri", default="")
    parser.add_argument("--input-data-version", default="")
    parser.add_argument("--execution-id", default="")
    parser.add_argument("--code-bundle-uri", default="")
    return parser.parse_args(argv)


def run_context(args: argparse.Namespace) -> RunContext:
    return RunContext(
        train_dir=args.train_dir,
        validation_dir=args.validation_dir,
        environment=args.environment,
        auc_thresholds=args.auc_thresholds,
        auc_threshold=args.auc_threshold,
        champion_model_uri=args.champion_model_uri,
        champion_model_package_arn=args.champion_model_package_arn,
        champion_auc_margin=args.champion_auc_margin,
        input_data_uri=args.input_data_uri,
        input_data_version=args.input_data_version,
        execution_id=args.execution_id,
        code_bundle_uri=args.code_bundle_uri,
        label_threshold=args.label_threshold,
        max_flip_rate=args.max_flip_rate,
    )


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    evaluate(args.model_dir, args.test_dir, args.output_dir, args.bootstrap_samples, args.seed, run_context(args))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(run_job("evaluate", run, PROCESSING_MESSAGE_FILE))


if __name__ == "__main__":
    main()
