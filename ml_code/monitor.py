"""The monitoring job: a window of captured endpoint traffic against the serving version's baseline.

    python monitor.py --baseline FILE_OR_S3_URI --capture CAPTURE_DIR_OR_S3_URI [--labels DIR_OR_S3_URI]
        [--window-end ISO_TIME] [--window-hours 24] [--label-window-days 7] [--output-dir DIR]
        [--endpoint-name NAME --model-version N --metrics-namespace NS] [--feature-psi 0.25 ...]

Writes monitoring_report.json (monitoring_report.py) and prints its verdict. With --metrics-namespace it
publishes the figures to CloudWatch (dimensions EndpointName and ModelVersion; the alarmed aggregates also
under EndpointName alone, so an alarm keeps watching across model versions). It runs as a SageMaker
processing job in the training pipeline's XGBoost image with the same code bundle; `make monitor` runs it on
local folders. An s3:// capture location is read hour by hour in SageMaker's dated layout
(<uri>/<variant>/yyyy/mm/dd/hh/); a window with no traffic is a verdict, not a failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import capture
import labels as label_files_module
import monitoring_baseline
import monitoring_report
from job_output import PROCESSING_MESSAGE_FILE, JobArgumentParser, JobFailure, container_path, run_job

log = logging.getLogger("monitor")
METRICS_PER_CALL = 20


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def download_prefixes(
    uri: str, prefixes: list[str], target: Path, modified_after: datetime | None = None, s3: Any = None
) -> int:
    """Every object under the given key prefixes of an s3:// location ("" for the location's own key) into
    `target`, keeping their keys; returns how many (boto3 is in the image; the job's role reads these keys)."""
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    bucket, base = _split_s3(uri)
    paginator = s3.get_paginator("list_objects_v2")
    count = 0
    for prefix in prefixes:
        key_prefix = f"{base.rstrip('/')}/{prefix}" if prefix else base
        for page in paginator.paginate(Bucket=bucket, Prefix=key_prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith("/") or (modified_after is not None and item["LastModified"] < modified_after):
                    continue
                destination = target / item["Key"]
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                count += 1
    return count


def hour_prefixes(variant: str, start: datetime, end: datetime) -> list[str]:
    """SageMaker's capture key prefixes (<variant>/yyyy/mm/dd/hh/) of every hour the window touches."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour < end:
        prefixes.append(f"{variant}/{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes


def _inside(request: capture.CapturedRequest, start: datetime, end: datetime) -> bool:
    if not request.inference_time:
        return True
    try:
        moment = datetime.fromisoformat(request.inference_time.replace("Z", "+00:00"))
    except ValueError:
        return True
    return start <= moment < end


def local_or_downloaded(location: str, work: Path, name: str, prefixes: list[str], after: datetime | None) -> Path:
    if not location.startswith("s3://"):
        return Path(location)
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    download_prefixes(location, prefixes, folder, after)
    return folder


def metric_data(report: dict[str, Any], endpoint: str, version: str) -> list[dict[str, Any]]:
    """The report's figures as CloudWatch metric data; figures that could not be computed are left out, never 0."""
    versioned = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "ModelVersion", "Value": version}]
    by_endpoint = [{"Name": "EndpointName", "Value": endpoint}]
    data = []

    def add(name: str, value: float | None, dimensions: list[dict[str, str]], unit: str = "None") -> None:
        if value is not None:
            data.append({"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit})

    window = report["window"]
    for dimensions in (versioned, by_endpoint):
        add("CapturedRows", window["rows"], dimensions, "Count")
        add("UnusableCaptureRecords", sum(window["problems"].values()), dimensions, "Count")
        if report["max_feature_psi"] is not None and window["rows"] >= report["thresholds"]["min_rows"]:
            add("MaxFeaturePSI", report["max_feature_psi"], dimensions)
            add("ScorePSI", report["score"]["psi"], dimensions)
        quality = report["realized_quality"]
        if quality["labelled_rows"] >= report["thresholds"]["min_labelled_rows"]:
            add("RealizedAUC", quality["auc"], dimensions)
            add("RealizedAUCDrop", quality["auc_drop"], dimensions)
            calibration = quality["calibration"] or {}
            add("CalibrationError", calibration.get("expected_calibration_error"), dimensions)
    if window["rows"] >= report["thresholds"]["min_rows"]:
        for feature in report["features"]:
            add("FeaturePSI", feature["psi"], [*versioned, {"Name": "Feature", "Value": feature["name"]}])
            add("MissingRate", feature["missing_rate"], [*versioned, {"Name": "Feature", "Value": feature["name"]}])
    return data


def publish(report: dict[str, Any], namespace: str, endpoint: str, version: str, client: Any = None) -> int:
    if client is None:
        import boto3

        client = boto3.client("cloudwatch")
    data = metric_data(report, endpoint, version)
    for start in range(0, len(data), METRICS_PER_CALL):
        client.put_metric_data(Namespace=namespace, MetricData=data[start : start + METRICS_PER_CALL])
    return len(data)


def monitor(args: argparse.Namespace) -> dict[str, Any]:
    end = args.window_end or datetime.now(timezone.utc)
    start = end - timedelta(hours=args.window_hours)
    label_start = end - timedelta(days=args.label_window_days)
    with tempfile.TemporaryDirectory(prefix="monitor-") as work_dir:
        work = Path(work_dir)
        baseline_path = local_or_downloaded(args.baseline, work, "baseline", [""], None)
        if baseline_path.is_dir():
            baseline_path = baseline_path / monitoring_baseline.BASELINE_FILE
        if not baseline_path.is_file():
            raise JobFailure(f"no monitoring baseline at {args.baseline}")
        try:
            baseline = monitoring_baseline.load_baseline(baseline_path)
        except (ValueError, KeyError) as error:
            raise JobFailure(f"the monitoring baseline {args.baseline} cannot be read: {error}") from None
        features = [feature["name"] for feature in baseline["features"]]
        known = {*features, baseline["target_column"]}
        label_entries, label_problems = {}, None
        if args.labels:
            folder = local_or_downloaded(args.labels, work, "labels", [""], label_start)
            label_entries, label_problems = label_files_module.read_labels(
                label_files_module.label_files(folder), baseline["positive_label"], baseline["negative_label"]
            )
        # With labels, captures as far back as the labels may reach; drift looks at the window only.
        capture_start = min(start, label_start) if label_entries else start
        folder = local_or_downloaded(
            args.capture, work, "capture", hour_prefixes(args.variant, capture_start, end), None
        )
        everything = capture.read_window(capture.capture_files(folder), features, known)
    window = capture.CaptureWindow(
        requests=[r for r in everything.requests if _inside(r, start, end)],
        files=everything.files,
        records=everything.records,
        problems=everything.problems,
    )
    thresholds = monitoring_report.Thresholds(
        args.feature_psi, args.score_psi, args.auc_drop, args.min_rows, args.min_labelled_rows
    )
    context = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "endpoint_name": args.endpoint_name or None,
        "model_version": args.model_version or None,
        "baseline": args.baseline,
        "capture": args.capture,
    }
    report = monitoring_report.build_report(baseline, window, label_entries, label_problems, thresholds, context)
    # Realized quality joins labels to every captured request they can reach, not only this window's.
    report["realized_quality"] = {
        **monitoring_report.realized_quality(everything, label_entries, baseline["approved_quality"], thresholds),
        "label_problems": dict(sorted((label_problems or {}).items())),
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / monitoring_report.REPORT_FILE
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.metrics_namespace:
        count = publish(report, args.metrics_namespace, args.endpoint_name, args.model_version)
        log.info("published %d metric values to %s", count, args.metrics_namespace)
    print(f"verdict: {report['verdict']}")
    print(f"realized quality: {report['realized_quality']['status']}")
    print(f"report: {path}")
    return report


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = monitoring_report.Thresholds()
    parser = JobArgumentParser(description="Compare captured endpoint traffic with the serving model's baseline.")
    parser.add_argument("--baseline", required=True, help="monitoring_baseline.json (or its folder, or an s3:// URI)")
    parser.add_argument("--capture", required=True, help="data-capture folder or s3://.../<endpoint> URI")
    parser.add_argument("--labels", default="", help="label folder or s3:// URI; empty: no realized quality")
    parser.add_argument("--variant", default="AllTraffic")
    parser.add_argument("--window-end", type=_time, default=None, help="ISO time; default now")
    parser.add_argument("--window-hours", type=float, default=24.0)
    parser.add_argument("--label-window-days", type=float, default=7.0)
    parser.add_argument("--output-dir", type=Path, default=container_path("processing/output/monitoring"))
    parser.add_argument("--endpoint-name", default="")
    parser.add_argument("--model-version", default="")
    parser.add_argument("--metrics-namespace", default="", help="empty: publish nothing")
    parser.add_argument("--feature-psi", type=float, default=defaults.feature_psi)
    parser.add_argument("--score-psi", type=float, default=defaults.score_psi)
    parser.add_argument("--auc-drop", type=float, default=defaults.auc_drop)
    parser.add_argument("--min-rows", type=int, default=defaults.min_rows)
    parser.add_argument("--min-labelled-rows", type=int, default=defaults.min_labelled_rows)
    args = parser.parse_args(argv)
    if args.metrics_namespace and not (args.endpoint_name and args.model_version):
        parser.error("--metrics-namespace needs --endpoint-name and --model-version")
    return args


def run(argv: list[str] | None = None) -> None:
    monitor(parse_args(argv))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(run_job("monitor", run, PROCESSING_MESSAGE_FILE))


if __name__ == "__main__":
    main()
