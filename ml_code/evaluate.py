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

This file is the job: its arguments and the order of the work. The parts are modules of their own:
evaluation_metrics (the scores), bootstrap_resampling (their spread), champion (loading, scoring, the comparison),
quality_gate (the verdict) and evaluation_report (report.html and the plots).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn import metrics

import artifacts
import decision_thresholds
import monitoring_baseline
from artifacts import Manifest
from bootstrap_resampling import bootstrap
from champion import Scored, champion_comparison, load_champion, load_model, score, training_details
from evaluation_metrics import DEFAULT_THRESHOLD, best_f1_threshold, evaluation_document
from evaluation_report import PR_PLOT_FILE, ROC_PLOT_FILE, data_summary, pr_png, report_html, roc_png
from job_output import PROCESSING_MESSAGE_FILE, JobArgumentParser, JobFailure, container_path, run_job
from quality_gate import quality_gate, threshold_verdicts

log = logging.getLogger("evaluate")


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


def feature_importance(booster: xgb.Booster, manifest: Manifest) -> list[dict[str, Any]]:
    """Total gain per feature and its share of all gain, largest first; features never used in a split have 0."""
    gains = booster.get_score(importance_type="total_gain")
    total = sum(gains.values())
    ranked = sorted(((name, float(gains.get(name, 0.0))) for name in manifest.feature_names), key=lambda x: -x[1])
    return [{"feature": name, "total_gain": gain, "share": gain / total if total else 0.0} for name, gain in ranked]


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


def gate_threshold(context: RunContext) -> float | None:
    """The threshold this run is gated on: the pipeline passes its AucThreshold parameter; a run without one
    (local_run) uses its environment's entry of the thresholds; None: no threshold rule."""
    if context.auc_threshold is not None:
        return context.auc_threshold
    return dict(context.auc_thresholds).get(context.environment)


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
    if context.champion_model_uri:
        with tempfile.TemporaryDirectory(prefix="champion-") as work:
            champion = load_champion(context.champion_model_uri, Path(work), manifest, test)
    samples = bootstrap(y, challenger.probability, bootstrap_samples, seed)
    document = evaluation_document(
        y,
        challenger.probability,
        samples,
        best_f1_threshold(y, challenger.probability),
        context.label_threshold,
    )
    auc = document["binary_classification_metrics"]["auc"]["value"]
    comparison = champion_comparison(
        y,
        challenger,
        champion,
        context.champion_auc_margin,
        (context.champion_model_uri, context.champion_model_package_arn),
        bootstrap_samples,
        seed,
        label_threshold=context.label_threshold,
        max_flip_rate=context.max_flip_rate,
    )
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = JobArgumentParser(description="Evaluate the model on the test split.")
    inputs = container_path("processing/input")
    parser.add_argument("--model-dir", type=Path, default=inputs / "model")
    parser.add_argument("--test-dir", type=Path, default=inputs / artifacts.TEST)
    # Optional: with them the report shows train / validation / test ROC-AUC side by side.
    parser.add_argument("--train-dir", type=Path, default=None)
    parser.add_argument("--validation-dir", type=Path, default=None)
    parser.add_argument("--output-dir", type=Path, default=container_path("processing/output/evaluation"))
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
