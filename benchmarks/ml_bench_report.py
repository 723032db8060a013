"""ml_bench.py's results as the Markdown table the README's benchmark section shows: each measure beside its
baseline, then where the 1,000-row request's time goes."""

from __future__ import annotations


def _table(header: tuple[str, str], rows: list[tuple[str, str]]) -> list[str]:
    return [f"| {header[0]} | {header[1]} |", "| --- | --- |", *(f"| {name} | {value} |" for name, value in rows)]


def markdown(results: dict) -> str:
    """The issue's table: each measure beside its baseline, from this one run (the parts that ran); then where
    the 1,000-row request's time goes."""
    rows = []
    if "train" in results:
        train_ = results["train"]
        rows.append(
            ("train.py end to end / bare training script", f"{train_['ratio']:.2f} (CPU {train_['cpu_ratio']:.2f})")
        )
    if "preprocess" in results:
        preprocess = results["preprocess"]
        rows += [
            ("preprocess / pyarrow read_csv alone", f"{preprocess['time_ratio']:.2f}x"),
            ("preprocess peak memory / CSV size", f"{preprocess['preprocess_peak_memory_x_csv']:.2f}x"),
        ]
    steps = []
    if "inference" in results:
        inference_ = results["inference"]
        overhead = inference_["one_row_overhead_ms"]
        rows += [
            ("one-row request overhead over Booster.predict, p50 / p99", f"{overhead['p50']:.3f} / {overhead['p99']:.3f} ms"),
            ("1,000-row request rows/s / bare inplace_predict", f"{inference_['rows_per_second_ratio']:.2f}x"),
            ("1,000-row ratio that reading (pyarrow) and printing (repr) alone permit", f"{inference_['ratio_the_floors_permit']:.2f}x"),
        ]  # fmt: skip
        steps = [
            "",
            *_table(
                ("1,000-row CSV request, step (medians of the same rounds)", "ms"),
                [("whole request (transform_fn)", f"{inference_['1000_row_request_ms']:.3f}"),
                 *((step, f"{ms:.3f}") for step, ms in inference_["1000_row_steps_ms"].items()),
                 ("bare inplace_predict on the rows already encoded", f"{inference_['1000_row_bare_inplace_predict_ms']:.3f}"),
                 *((f"floor: {name}", f"{ms:.3f}") for name, ms in inference_["1000_row_floors_ms"].items())],
            ),
        ]  # fmt: skip
    machine = results["machine"]
    return "\n".join(
        [
            f"{results['rows']:,} rows, {machine['cpus']} cores, Python {machine['python']}, xgboost {machine['xgboost']}",
            "",
            *_table(("measure (same run, side by side)", "value"), rows),
            *steps,
        ]
    )
