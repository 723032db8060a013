"""`make monitor`: a local run's test split replayed as captured endpoint traffic, then the monitoring job on it.

    python ml_code/local/monitor_replay.py [--run latest|RUN_FOLDER] [--shift-feature NAME] [--shift-sd 1.0]

The test rows are sent through the endpoint's own handlers (inference_handlers) in small requests, alternately
as CSV with a header and as JSON records, every third one base64-encoded as data capture writes content types it
does not know, each with an InferenceId; a labels file gives each request's outcome. The job then runs twice:
on the rows as they are, and with one numeric feature shifted by some standard deviations. Each run prints the
drift verdict and the realized quality; the reports land in <run>/monitoring/{as-is,shifted}/.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# The container modules are this folder's parent, imported as flat siblings as in the containers. The tools live
# apart so that the code bundle carries only what SageMaker runs (ml_code/bundle_contents.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import artifacts
import capture
import inference_handlers
import local_endpoint
import monitor
import monitoring_baseline

REQUEST_ROWS = 20


def _cell(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def request_bodies(frame: pd.DataFrame, number: int) -> tuple[str, str]:
    """(body, content type): even requests CSV with a header (missing as an empty cell), odd ones JSON records."""
    if number % 2 == 0:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(frame.columns)
        for row in frame.itertuples(index=False):
            writer.writerow(["" if _cell(value) is None else value for value in row])
        return buffer.getvalue(), inference_handlers.CSV
    records = [{name: _cell(value) for name, value in row.items()} for row in frame.to_dict(orient="records")]
    return json.dumps(records), inference_handlers.JSON


def replay(
    features: pd.DataFrame,
    outcomes: np.ndarray,
    model: Any,
    capture_dir: Path,
    labels_dir: Path,
    inference_time: str = "2026-01-01T12:00:00Z",
) -> int:
    """Write the rows as capture files (SageMaker's layout for the hour of `inference_time`) and a labels CSV;
    returns the number of requests."""
    hour = (
        capture_dir
        / "AllTraffic"
        / inference_time[:4]
        / inference_time[5:7]
        / inference_time[8:10]
        / inference_time[11:13]
    )
    hour.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    lines, label_rows = [], []
    for number, start in enumerate(range(0, len(features), REQUEST_ROWS)):
        chunk = features.iloc[start : start + REQUEST_ROWS]
        body, content_type = request_bodies(chunk, number)
        prediction = inference_handlers.predict_fn(inference_handlers.input_fn(body, content_type), model)
        answer, answer_type = inference_handlers.output_fn(prediction, content_type)
        inference_id = f"replay-{number:06d}"
        lines.append(
            capture.capture_record(
                body, content_type, answer, answer_type, inference_id, inference_time, base64_encoded=number % 3 == 2
            )
        )
        label_rows += [
            (inference_id, row, int(outcome)) for row, outcome in enumerate(outcomes[start : start + REQUEST_ROWS])
        ]
    (hour / "replay.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (labels_dir / "labels.csv").open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["inference_id", "row", "label"])
        writer.writerows(label_rows)
    return len(lines)


def shifted(frame: pd.DataFrame, feature: str, sd: float) -> pd.DataFrame:
    copy = frame.copy()
    copy[feature] = copy[feature] + sd * copy[feature].std()
    return copy


def run_replays(
    run_dir: Path, shift_feature: str | None, shift_sd: float, print_line: Callable[[str], None] = print
) -> dict[str, dict]:
    baseline_path = run_dir / "evaluation" / monitoring_baseline.BASELINE_FILE
    if not baseline_path.is_file():
        raise SystemExit(f"{baseline_path} does not exist: run make local-run (evaluate writes it)")
    baseline = monitoring_baseline.load_baseline(baseline_path)
    loaded = local_endpoint.load(run_dir / "model" / "model.tar.gz")
    test = artifacts.read_split(run_dir / "preprocess" / "output" / artifacts.TEST).to_pandas()
    outcomes = test.pop(baseline["target_column"]).to_numpy()
    numeric = [feature["name"] for feature in baseline["features"] if feature["kind"] == "numeric"]
    feature = shift_feature or numeric[0]
    if feature not in numeric:
        raise SystemExit(f"--shift-feature {feature}: not a numeric feature of the model ({numeric})")
    reports = {}
    for name, frame in (("as-is", test), ("shifted", shifted(test, feature, shift_sd))):
        folder = run_dir / "monitoring" / name
        replay(frame, outcomes, loaded.model, folder / "capture", folder / "labels")
        args = monitor.parse_args(
            ["--baseline", str(baseline_path), "--capture", str(folder / "capture"), "--labels", str(folder / "labels"),
             "--window-end", "2026-01-02T00:00:00Z", "--output-dir", str(folder)]
        )  # fmt: skip
        title = "as is" if name == "as-is" else f"{feature} shifted by {shift_sd:g} standard deviations"
        print_line(f"== replay {title}: {len(test)} rows")
        reports[name] = monitor.monitor(args)
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description="Replay a local run's test split as captured traffic and monitor it.")
    parser.add_argument("--run", default="latest", help="a run folder under runs/, or latest")
    parser.add_argument("--shift-feature", default="", help="numeric feature to shift (default: the first)")
    parser.add_argument("--shift-sd", type=float, default=1.0)
    args = parser.parse_args()
    if args.run.strip().lower() == "latest":
        try:
            run_dir = local_endpoint.resolve_model("latest").parent.parent
        except local_endpoint.LocalEndpointError as error:
            raise SystemExit(str(error)) from None
    else:
        run_dir = Path(args.run)
    run_replays(run_dir.resolve(), args.shift_feature or None, args.shift_sd)


if __name__ == "__main__":
    main()
