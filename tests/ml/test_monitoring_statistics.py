"""The monitor's statistics against hand-computed values, the data-capture format SageMaker documents, and the
label join (ml_code/drift.py, capture.py, labels.py, monitoring_report.py)."""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics

import capture
import drift
import labels
import monitoring_report

FEATURES = ["age", "plan"]
KNOWN = {"age", "plan", "churned"}


def test_psi_of_two_bins_matches_the_formula_by_hand() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 ln 2 + 0.25 ln 1.5
    assert drift.population_stability_index([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653072, abs=1e-9)


def test_psi_of_identical_shares_is_zero() -> None:
    assert drift.population_stability_index([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_an_empty_bin_counts_as_the_floor_not_as_infinity() -> None:
    expected = 0.5 * math.log(2) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert drift.population_stability_index([1.0, 0.0], [0.5, 0.5]) == pytest.approx(expected, rel=1e-12)


def test_numeric_bins_are_training_quantiles_and_outer_bins_are_open() -> None:
    values = np.arange(1.0, 11.0)
    edges = drift.numeric_bin_edges(values, 5)
    assert edges == pytest.approx([2.8, 4.6, 6.4, 8.2])
    assert drift.numeric_bin_counts(values, edges).tolist() == [2, 2, 2, 2, 2]
    assert drift.numeric_bin_counts(np.array([-50.0, 500.0, np.nan]), edges).tolist() == [1, 0, 0, 0, 1]


def test_repeated_quantiles_collapse_into_one_edge() -> None:
    values = np.array([0.0] * 90 + list(range(1, 11)), dtype=float)
    # The 0.1 ... 0.8 quantiles are all 0; the 0.9 quantile (linear, at position 0.9 * 99 = 89.1) is 0.1.
    assert drift.numeric_bin_edges(values, 10) == pytest.approx([0.0, 0.1])


def test_roc_auc_by_hand_and_against_sklearn_with_ties() -> None:
    assert drift.roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500), 1)  # many ties
    assert drift.roc_auc(y, scores) == pytest.approx(metrics.roc_auc_score(y, scores), abs=1e-12)
    assert drift.roc_auc(np.ones(3), np.array([0.1, 0.2, 0.3])) is None


def test_calibration_error_by_hand() -> None:
    result = drift.calibration(np.array([0, 1, 1, 1]), np.array([0.05, 0.15, 0.95, 0.95]), bins=10)
    # bins: [0, .1): score .05 observed 0; [.1, .2): .15 observed 1; [.9, 1]: .95 twice, observed 1
    expected = 0.25 * 0.05 + 0.25 * 0.85 + 0.5 * 0.05
    assert result["expected_calibration_error"] == pytest.approx(expected)
    assert result["observed_positive_rate"] == 0.75


def test_categorical_drift_counts_unknown_levels_and_missing_in_bins_of_their_own() -> None:
    feature = {"name": "plan", "kind": "categorical", "levels": ["a", "b"], "counts": [3, 1], "missing": 0}
    result = monitoring_report.feature_drift(feature, ["a", "b", "c", None], {"", "?"})
    floor = 1e-4
    expected = (0.25 - 0.75) * math.log(0.25 / 0.75) + 2 * (0.25 - floor) * math.log(0.25 / floor)
    assert result["psi"] == pytest.approx(expected, rel=1e-12)
    assert result["unknown_level_rate"] == 0.25
    assert result["missing_rate"] == 0.25
    assert result["largest_shift"]["bin"] == "a"


def test_numeric_values_that_are_not_numbers_are_counted_not_binned() -> None:
    feature = {"name": "age", "kind": "numeric", "edges": [10.0], "counts": [1, 1], "missing": 0}
    result = monitoring_report.feature_drift(feature, ["1", "x", "?", 25.5, True], {"", "?"})
    assert result["invalid_values"] == 2
    assert result["missing_rate"] == 0.2
    # The window's bins: below 10 one value, from 10 one value, missing one.
    expected = drift.population_stability_index(drift.shares([1, 1, 0]), drift.shares([1, 1, 1]))
    assert result["psi"] == pytest.approx(expected)


# The example record of "Capture data from real-time endpoint" (SageMaker developer guide), with this model's
# columns in place of the example's.
DOCUMENTED_RECORD = {
    "captureData": {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "69,basic", "encoding": "CSV"},
        "endpointOutput": {
            "observedContentType": "text/csv; charset=utf-8",
            "mode": "OUTPUT",
            "data": "0.0254",
            "encoding": "CSV",
        },
    },
    "eventMetadata": {
        "eventId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "inferenceId": "order-17",
        "inferenceTime": "2019-11-22T08:24:40Z",
    },
    "eventVersion": "0",
}


def read(*lines: str) -> capture.CaptureWindow:
    window = capture.CaptureWindow()
    capture.read_lines(lines, FEATURES, KNOWN, window)
    return window


def test_the_documented_record_reads_as_one_scored_row_with_its_inference_id() -> None:
    window = read(json.dumps(DOCUMENTED_RECORD))
    (request,) = window.requests
    assert request.rows == [{"age": "69", "plan": "basic"}]
    assert request.scores == [0.0254]
    assert request.inference_id == "order-17"
    assert request.inference_time == "2019-11-22T08:24:40Z"
    assert not window.problems


def test_base64_payloads_decode_to_the_same_request() -> None:
    line = capture.capture_record(
        "age,plan\n69,basic\n30,pro\n", "text/csv", "0.1,no\n0.9,yes\n", "text/csv", "id-1", base64_encoded=True
    )
    assert json.loads(line)["captureData"]["endpointInput"]["encoding"] == "BASE64"
    (request,) = read(line).requests
    assert request.rows == [{"age": "69", "plan": "basic"}, {"age": "30", "plan": "pro"}]
    assert request.scores == [0.1, 0.9]


@pytest.mark.parametrize(
    "body",
    [
        '[{"age": 69, "plan": "basic"}]',
        '{"age": 69, "plan": "basic"}',
        '{"instances": [{"age": 69, "plan": "basic"}]}',
    ],
)
def test_json_bodies_in_every_shape_the_endpoint_takes(body: str) -> None:
    answer = '{"predictions": [{"probability": 0.3, "label": "no"}]}'
    (request,) = read(capture.capture_record(body, "application/json", answer, "application/json", "i")).requests
    assert request.rows == [{"age": 69, "plan": "basic"}]
    assert request.scores == [0.3]


def test_a_record_without_inference_id_still_counts_for_drift() -> None:
    (request,) = read(capture.capture_record("69,basic", "text/csv", "0.2,no", "text/csv")).requests
    assert request.inference_id is None
    assert request.scores == [0.2]


def test_unreadable_records_are_counted_by_reason() -> None:
    bad_base64 = json.loads(capture.capture_record("69,basic", "text/csv", "0.2", "text/csv", "x"))
    bad_base64["captureData"]["endpointInput"].update(encoding="BASE64", data="%%%")
    error_answer = capture.capture_record(
        "69,basic", "text/csv", '{"error": "unknown column"}', "application/json", "y"
    )
    window = read(
        "not json",
        json.dumps({"eventVersion": "0"}),
        json.dumps(bad_base64),
        capture.capture_record("69,basic,extra", "text/csv", "0.2", "text/csv", "z"),
        capture.capture_record("69,basic", "application/x-npy", "0.2", "text/csv", "w"),
        error_answer,
        capture.capture_record("69,basic", "text/csv", "0.2\n0.3", "text/csv", "v"),
    )
    assert window.records == 7
    assert window.problems == Counter(
        {
            "capture line is not JSON": 1,
            "capture line has no captureData": 1,
            "request unusable: data is not base64-encoded UTF-8 text": 1,
            "request unusable: CSV input row with the wrong number of values": 1,
            "request unusable: input content type 'application/x-npy' is not text/csv or application/json": 1,
            "answer unusable (features still counted): answer has no predictions (an error answer?)": 1,
            "answer unusable (features still counted): answer has a different number of scores than the request "
            "has rows": 1,
        }
    )
    # The two requests whose answers could not be read still count for feature drift, without scores.
    assert [request.scores for request in window.requests] == [None, None]


def test_capture_files_are_found_in_sagemakers_dated_layout(tmp_path: Path) -> None:
    hour = tmp_path / "AllTraffic" / "2026" / "01" / "01" / "12"
    hour.mkdir(parents=True)
    (hour / "a.jsonl").write_text(json.dumps(DOCUMENTED_RECORD) + "\n\n", encoding="utf-8")
    (hour / "b.jsonl").write_bytes(b"\xff\xfe")
    window = capture.read_window(capture.capture_files(tmp_path), FEATURES, KNOWN)
    assert (window.files, window.records, window.rows) == (2, 1, 1)
    assert window.problems == Counter({"capture file is not UTF-8 text": 1})


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_labels_from_csv_and_json_lines_with_bad_entries_counted(tmp_path: Path) -> None:
    csv_file = write(
        tmp_path / "a.csv",
        "inference_id,label,row\nid-1,yes,\nid-1,0,1\nid-2,maybe,0\n,1,0\nid-3,1,-2\nid-1,no,0\n",
    )
    jsonl = write(tmp_path / "b.jsonl", '{"inference_id": "id-4", "label": true}\nnot json\n[1]\n')
    headerless = write(tmp_path / "c.csv", "id-9,1\n")
    found, problems = labels.read_labels([csv_file, jsonl, headerless], "yes", "no")
    assert found == {("id-1", 0): 1, ("id-1", 1): 0, ("id-4", 0): 1}
    assert problems == Counter(
        {
            "label value is neither the positive nor the negative label, 1/0 or true/false": 1,
            "label without an inference_id": 1,
            "label row is not a whole number >= 0": 1,
            "label given twice with different values (first kept)": 1,
            "label line is not JSON": 1,
            "label line is not a JSON object": 1,
            "label CSV without an inference_id,label header": 1,
        }
    )


def scored_window(count: int) -> capture.CaptureWindow:
    rng = np.random.default_rng(1)
    lines = [
        capture.capture_record(
            f"{int(rng.integers(18, 80))},basic", "text/csv", f"{rng.random():.4f}", "text/csv", f"r{n}"
        )
        for n in range(count)
    ]
    return read(*lines)


def test_labels_join_by_inference_id_and_row_and_unmatched_ones_are_counted() -> None:
    window = scored_window(4)
    scores = [request.scores[0] for request in window.requests]
    y, joined, unmatched = monitoring_report.joined_labels(
        window, {("r0", 0): 1, ("r2", 0): 0, ("r9", 0): 1, ("r1", 3): 1}
    )
    assert y.tolist() == [1, 0]
    assert joined.tolist() == [scores[0], scores[2]]
    assert unmatched == 2


def test_realized_quality_says_why_there_is_no_auc() -> None:
    approved = {"auc": 0.9, "auc_confidence_interval_95": [0.88, 0.92]}
    thresholds = monitoring_report.Thresholds()
    window = scored_window(3)
    assert monitoring_report.realized_quality(window, {}, approved, thresholds)["status"] == "no labels"
    one_class = monitoring_report.realized_quality(window, {("r0", 0): 1, ("r1", 0): 1}, approved, thresholds)
    assert one_class["auc"] is None
    assert one_class["status"] == "only one class among the 2 labelled rows: ROC-AUC needs both"


def baseline() -> dict:
    return {
        "missing_values": ["", "?"],
        "target_column": "churned",
        "features": [
            {"name": "age", "kind": "numeric", "edges": [40.0], "counts": [50, 50], "missing": 0},
            {"name": "plan", "kind": "categorical", "levels": ["basic", "pro"], "counts": [50, 50], "missing": 0},
        ],
        "score": {"edges": [0.5], "counts": [50, 50], "rows": 100},
        "approved_quality": {"auc": 0.9, "auc_confidence_interval_95": [0.88, 0.92], "label_threshold": 0.5},
    }


def test_a_window_without_traffic_is_a_verdict_with_no_figures() -> None:
    report = monitoring_report.build_report(
        baseline(), capture.CaptureWindow(), None, None, monitoring_report.Thresholds(), {}
    )
    assert report["verdict"] == "no traffic: the window holds no usable captured request"
    assert report["max_feature_psi"] is None
    assert report["score"]["psi"] is None
    assert all(feature["psi"] is None for feature in report["features"])


def test_a_small_window_gets_figures_but_no_drift_verdict() -> None:
    report = monitoring_report.build_report(
        baseline(), scored_window(10), None, None, monitoring_report.Thresholds(min_rows=100), {}
    )
    assert report["verdict"] == "too little traffic for a verdict: 10 rows < 100"
    assert report["drifted_features"] == []
    # plan is "basic" in every row: far from the baseline's 50/50, and still no drift verdict on 10 rows.
    assert report["max_feature_psi"] > 0.25


def test_a_drifted_feature_is_named_in_the_verdict() -> None:
    report = monitoring_report.build_report(
        baseline(), scored_window(10), None, None, monitoring_report.Thresholds(min_rows=5), {}
    )
    assert report["drifted_features"] == ["plan"]
    assert report["verdict"] == "drift: plan (PSI above 0.25)"


def test_base64_helper_is_what_capture_writes() -> None:
    line = json.loads(capture.capture_record("a", "application/x-foo", "0.5", "text/csv", base64_encoded=True))
    assert base64.b64decode(line["captureData"]["endpointInput"]["data"]) == b"a"


def test_s3_locations_are_read_hour_by_hour_and_the_baseline_by_its_own_key(tmp_path: Path) -> None:
    import io as io_module
    from datetime import datetime, timezone

    import boto3
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    import monitor

    assert monitor.hour_prefixes(
        "AllTraffic",
        datetime(2026, 1, 1, 22, 30, tzinfo=timezone.utc),
        datetime(2026, 1, 2, 0, 15, tzinfo=timezone.utc),
    ) == ["AllTraffic/2026/01/01/22/", "AllTraffic/2026/01/01/23/", "AllTraffic/2026/01/02/00/"]
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    key = "pipelines/p/e/evaluate/monitoring_baseline.json"
    modified = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with Stubber(s3) as stub:
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": key, "LastModified": modified}], "IsTruncated": False},
            {"Bucket": "artifacts", "Prefix": key},
        )
        stub.add_response(
            "get_object", {"Body": StreamingBody(io_module.BytesIO(b"{}"), 2)}, {"Bucket": "artifacts", "Key": key}
        )
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": "data-capture/e/AllTraffic/2026/01/01/22/a.jsonl", "LastModified": modified}]},
            {"Bucket": "artifacts", "Prefix": "data-capture/e/AllTraffic/2026/01/01/22/"},
        )
        stub.add_response(
            "get_object",
            {"Body": StreamingBody(io_module.BytesIO(b"x"), 1)},
            {"Bucket": "artifacts", "Key": "data-capture/e/AllTraffic/2026/01/01/22/a.jsonl"},
        )
        assert monitor.download_prefixes(f"s3://artifacts/{key}", [""], tmp_path, s3=s3) == 1
        assert (
            monitor.download_prefixes("s3://artifacts/data-capture/e", ["AllTraffic/2026/01/01/22/"], tmp_path, s3=s3)
            == 1
        )
        stub.assert_no_pending_responses()
    assert (tmp_path / key).read_text() == "{}"
