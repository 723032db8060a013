"""Processing job: score the model on the test split and write the evidence for the approval decision.

    python3 evaluate.py [--model-dir DIR] [--test-dir DIR] [--output-dir DIR]
        [--bootstrap-samples 1000] [--seed 42]

--model-dir holds model.tar.gz as SageMaker writes it, or the extracted files. Writes evaluation.json in
SageMaker's model-quality metrics shape (the pipeline's condition reads
binary_classification_metrics.auc.value), roc.png, pr.png and report.html (self-contained).
A failure writes one sentence to /opt/ml/output/message.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display in a processing job
import matplotlib.pyplot as plt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb
from sklearn import metrics

import artifacts
import model_io
from artifacts import Manifest
from contract import CATEGORICAL
from job_output import PROCESSING_MESSAGE_FILE, JobArgumentParser, JobFailure, run_job

log = logging.getLogger("evaluate")
EVALUATION_FILE = "evaluation.json"
REPORT_FILE = "report.html"
ROC_PLOT_FILE = "roc.png"
PR_PLOT_FILE = "pr.png"
DEFAULT_THRESHOLD = 0.5
CALIBRATION_BINS = 10
# Curves in evaluation.json are thinned to this many points; the plots use every point.
CURVE_POINTS = 101

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


def threshold_metrics(y: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, float]:
    counts = confusion(y, (probability >= threshold).astype(np.int8))
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "precision": precision,
        "recall": recall,
        "f0_5": _f_beta(precision, recall, 0.5),
        "f1": _f_beta(precision, recall, 1.0),
        "f2": _f_beta(precision, recall, 2.0),
        "accuracy": _ratio(tp + tn, len(y)),
        "true_positive_rate": recall,
        "true_negative_rate": _ratio(tn, tn + fp),
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, fn + tp),
    }


def scalar_metrics(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Every single-number metric at the default threshold; also applied to each bootstrap sample."""
    clipped = np.clip(probability, 1e-15, 1 - 1e-15)
    return {
        "auc": float(metrics.roc_auc_score(y, probability)),
        "pr_auc": float(metrics.average_precision_score(y, probability)),
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
        "brier_score": float(np.mean((probability - y) ** 2)),
        **threshold_metrics(y, probability, DEFAULT_THRESHOLD),
    }


def bootstrap(y: np.ndarray, probability: np.ndarray, samples: int, seed: int) -> dict[str, np.ndarray]:
    """Each metric on `samples` resamples of the test rows (a resample with one class only is skipped)."""
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {}
    for _ in range(samples):
        rows = rng.integers(0, len(y), len(y))
        if y[rows].min() == y[rows].max():
            continue
        for name, value in scalar_metrics(y[rows], probability[rows]).items():
            values.setdefault(name, []).append(value)
    return {name: np.asarray(series) for name, series in values.items()}


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
    y: np.ndarray, probability: np.ndarray, samples: dict[str, np.ndarray], best_threshold: float
) -> dict:
    """evaluation.json: SageMaker's binary_classification_metrics, plus details for the report."""
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
            "auc_confidence_interval_95": [float(np.percentile(auc_samples, q)) for q in (2.5, 97.5)],
            "bootstrap_samples": len(auc_samples),
            "at_threshold_0_5": threshold_metrics(y, probability, DEFAULT_THRESHOLD),
            "best_f1_threshold": best_threshold,
            "at_best_f1_threshold": threshold_metrics(y, probability, best_threshold),
            "confusion_matrix_at_best_f1_threshold": confusion(y, (probability >= best_threshold).astype(np.int8)),
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


def feature_importance(booster: xgb.Booster, manifest: Manifest) -> list[tuple[str, float]]:
    """Total gain per feature, largest first; features never used in a split have 0."""
    gains = booster.get_score(importance_type="total_gain")
    return sorted(((name, float(gains.get(name, 0.0))) for name in manifest.feature_names), key=lambda x: -x[1])


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


def _table_html(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def report_html(
    document: dict,
    manifest: Manifest,
    importance: list[tuple[str, float]],
    summary: list[dict],
    plots: dict[str, bytes],
) -> str:
    """One HTML file with everything inline (plots as base64), readable offline and as an S3 object."""
    scores = document["binary_classification_metrics"]
    details = document["evaluation_details"]
    low, high = details["auc_confidence_interval_95"]
    headline = [
        ["ROC-AUC", _number(scores["auc"]["value"]), f"95% CI {low:.4f} to {high:.4f}"],
        ["PR-AUC (average precision)", _number(scores["pr_auc"]["value"]), ""],
        ["log loss", _number(scores["log_loss"]["value"]), ""],
        ["Brier score", _number(scores["brier_score"]["value"]), ""],
    ]
    at_threshold = [
        [label, f"{threshold:.4f}", *(_number(values[name]) for name in ("precision", "recall", "f1", "accuracy"))]
        for label, threshold, values in (
            ("default", DEFAULT_THRESHOLD, details["at_threshold_0_5"]),
            ("best F1", details["best_f1_threshold"], details["at_best_f1_threshold"]),
        )
    ]
    matrix = scores["confusion_matrix"]
    confusion_rows = [
        [f"actual {manifest.negative_label}", matrix["0"]["0"], matrix["0"]["1"]],
        [f"actual {manifest.positive_label}", matrix["1"]["0"], matrix["1"]["1"]],
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
    sections = [
        f"<h1>Model evaluation: {html.escape(manifest.target_column)} = {html.escape(manifest.positive_label)}</h1>",
        f"<p>Test split: {details['test_rows']} rows, positive rate {details['test_positive_rate']:.3f}. "
        f"Bootstrap: {details['bootstrap_samples']} resamples.</p>",
        "<h2>Scores</h2>",
        _table_html(["metric", "value", "note"], headline),
        "<h2>At a threshold</h2>",
        _table_html(["", "threshold", "precision", "recall", "F1", "accuracy"], at_threshold),
        "<h2>Confusion matrix at 0.5</h2>",
        _table_html(
            ["", f"predicted {manifest.negative_label}", f"predicted {manifest.positive_label}"], confusion_rows
        ),
        "<h2>Curves</h2>",
        images,
        "<h2>Calibration</h2>",
        _table_html(["predicted probability", "rows", "mean predicted", "observed positive rate"], calibration),
        "<h2>Feature importance (total gain)</h2>",
        _table_html(["feature", "total gain"], [[name, f"{gain:.1f}"] for name, gain in importance]),
        "<h2>Data</h2>",
        _table_html(["split", "rows", "positive rate"], splits),
        _table_html(
            ["feature", "kind", "missing in test", "detail"],
            [[row["feature"], row["kind"], f"{row['missing']:.3%}", row["detail"]] for row in summary],
        ),
    ]
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;"
        "text-align:left}img{max-width:48%;margin-right:1%}"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Model evaluation</title>'
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n"
    )


def evaluate(model_dir: Path, test_dir: Path, output_dir: Path, bootstrap_samples: int, seed: int) -> dict:
    model_files = model_io.extract_model_archive(model_dir)
    if not (model_files / model_io.MODEL_FILE_NAME).exists():
        raise JobFailure(f"no {model_io.MODEL_ARCHIVE_NAME} or {model_io.MODEL_FILE_NAME} in {model_dir}")
    manifest = Manifest.load(model_files)
    booster = model_io.load_booster(model_files)
    test = artifacts.read_split(test_dir)
    y = artifacts.labels(test, manifest).astype(np.int8)
    if y.min() == y.max():
        raise JobFailure("the test split has only one class; ROC-AUC needs both")
    probability = booster.inplace_predict(artifacts.encode_features(test, manifest)).astype(np.float64)
    samples = bootstrap(y, probability, bootstrap_samples, seed)
    document = evaluation_document(y, probability, samples, best_f1_threshold(y, probability))

    output_dir.mkdir(parents=True, exist_ok=True)
    scores = document["binary_classification_metrics"]
    plots = {
        "ROC curve": roc_png(y, probability, scores["auc"]["value"], output_dir / ROC_PLOT_FILE),
        "precision-recall curve": pr_png(y, probability, scores["pr_auc"]["value"], output_dir / PR_PLOT_FILE),
    }
    report = report_html(document, manifest, feature_importance(booster, manifest), data_summary(test, manifest), plots)
    (output_dir / REPORT_FILE).write_text(report, encoding="utf-8")
    # evaluation.json last: the pipeline reads it, so it exists only when everything else does.
    (output_dir / EVALUATION_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    log.info("test ROC-AUC %.4f (std %.4f), wrote %s", scores["auc"]["value"], scores["auc"]["standard_deviation"],
             output_dir)  # fmt: skip
    return document


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = JobArgumentParser(description="Evaluate the model on the test split.")
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/input/model"))
    parser.add_argument("--test-dir", type=Path, default=Path("/opt/ml/processing/input/test"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output/evaluation"))
    parser.add_argument("--bootstrap-samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    evaluate(args.model_dir, args.test_dir, args.output_dir, args.bootstrap_samples, args.seed)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(run_job("evaluate", run, PROCESSING_MESSAGE_FILE))


if __name__ == "__main__":
    main()
