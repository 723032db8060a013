"""report.html, one self-contained page for the approver (plots inline), and the ROC and precision-recall plots."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display in a processing job
import matplotlib.pyplot as plt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn import metrics

import artifacts
import decision_stability
from artifacts import Manifest
from contract import CATEGORICAL

ROC_PLOT_FILE = "roc.png"


PR_PLOT_FILE = "pr.png"


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
