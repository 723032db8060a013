"""Benchmarks for ml_code, measured side by side in one run and printed as JSON, then as a Markdown table (reported, not asserted).

    .venv-ml/bin/python benchmarks/ml_bench.py [--rows 1000000] [--rounds 50] [--requests 2000] [--repeats 3]
        [--preprocess-only | --inference-only]

Timings are the fastest of --repeats interleaved runs: the machine may be shared. OpenMP's waiting threads
spin by default, as in the containers; on a loaded machine they steal the cores of the side being timed (a
bare 1,000-row predict took 23 ms instead of 3), so there run it with OMP_WAIT_POLICY=PASSIVE, which every
script this starts inherits (it adds about 0.035 ms to the one-row overhead: inplace_predict wakes threads).

1. train.py end to end vs a bare training script, each a whole subprocess timed the same way (wall and CPU
   seconds, from process start to exit), with the same parameters, rounds, threads and evaluation set.
   train.py: interpreter start, its imports, reading the manifest and both parquet splits, encoding them,
   building the QuantileDMatrix pair, training with early stopping and a log line per round, cutting the
   booster to its best round, saving the model and the manifest. The bare script (BARE_TRAIN_SOURCE):
   interpreter start, importing pyarrow and xgboost, reading the manifest's feature list and both parquet
   splits with pyarrow, converting them to float32 numpy the plainest way (categories as their positions
   in the manifest's levels), building the QuantileDMatrix pair and xgboost.train; nothing logged or saved.
2. preprocess.py on the generated CSV vs reading that CSV alone with pyarrow (each in its own process):
   wall time, and peak memory (the process's max RSS) as a multiple of the CSV's size.
3. inference: one-row request latency through transform_fn (input_fn -> predict_fn -> output_fn) vs a bare
   Booster.predict on that row, and rows per second for a 1,000-row request vs a bare inplace_predict on
   the same rows already encoded; then where the 1,000-row request's time goes, step by step, beside two
   floors: pyarrow reading the body alone and printing the probabilities alone (Python's float repr).

The data is generated: `--rows` rows of 30 features (20 numeric, 10 categorical, 2% missing) and a binary
target from a noisy logistic signal.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from ml_bench_report import markdown  # beside this script

ML_CODE = Path(__file__).resolve().parent.parent / "ml_code"
sys.path.insert(0, str(ML_CODE))

import xgboost as xgb  # noqa: E402

import artifacts  # noqa: E402
import inference  # noqa: E402
import inference_handlers  # noqa: E402
import request_features  # noqa: E402
import train  # noqa: E402
from contract import CATEGORICAL  # noqa: E402

TARGET, POSITIVE = "label", "yes"
NUMERIC_FEATURES, CATEGORICAL_FEATURES = 20, 10
# Rounds of the 1,000-row measurements; their medians are reported (with 20, the whole request's moved by 30 %).
BATCH_ROUNDS = 200
MISSING_SHARE = 0.02
# The baseline for preprocess: reading the CSV with pyarrow and nothing else.
READ_CSV_SOURCE = "import sys\nimport pyarrow.csv\npyarrow.csv.read_csv(sys.argv[1])\n"
# The baseline for train.py: read the splits, convert them, train. Arguments: splits folder, params (JSON), rounds.
BARE_TRAIN_SOURCE = """import glob, json, sys
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xgboost as xgb

splits, params, rounds = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
with open(f"{splits}/train/manifest.json") as file:
    manifest = json.load(file)

def matrix(split, ref=None):
    table = pa.concat_tables(pq.read_table(path) for path in sorted(glob.glob(f"{splits}/{split}/*.parquet")))
    columns = [table[feature["name"]] if feature["levels"] is None
               else pc.index_in(table[feature["name"]], value_set=pa.array(feature["levels"]))
               for feature in manifest["features"]]
    x = np.column_stack([column.to_numpy() for column in columns]).astype(np.float32)
    return xgb.QuantileDMatrix(x, label=table[manifest["target_column"]].to_numpy().astype(np.float32),
                               feature_types=["c" if feature["levels"] is not None else "q"
                                              for feature in manifest["features"]],
                               enable_categorical=True, ref=ref)

train = matrix("train")
xgb.train(params, train, num_boost_round=rounds, evals=[(matrix("validation", ref=train), "validation")],
          verbose_eval=False)
"""


def generate_csv(path: Path, rows: int, seed: int = 0) -> int:
    """Write the benchmark CSV; returns its size in bytes."""
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {}
    signal = np.zeros(rows)
    for index in range(NUMERIC_FEATURES):
        values = rng.normal(0, 1, rows).round(4)
        signal += values * rng.normal(0, 0.5)
        columns[f"num_{index:02d}"] = pa.array(values, mask=rng.random(rows) < MISSING_SHARE)
    for index in range(CATEGORICAL_FEATURES):
        levels = np.array([f"level_{level}" for level in range(5 + 5 * index)])
        codes = rng.integers(0, len(levels), rows)
        signal += rng.normal(0, 0.5, len(levels))[codes]
        columns[f"cat_{index:02d}"] = pa.array(levels[codes], mask=rng.random(rows) < MISSING_SHARE)
    probability = 1 / (1 + np.exp(-(signal - np.quantile(signal, 0.75)) * 1.5))
    columns[TARGET] = pa.array(np.where(rng.random(rows) < probability, POSITIVE, "no"))
    pa_csv.write_csv(pa.table(columns), path)
    return path.stat().st_size


# Runs a script and records its process's peak RSS (VmHWM) at exit. A child's ru_maxrss would include the
# memory of this (large) parent process it was forked from, so it can not be used.
_PEAK_RSS_WRAPPER = """
import atexit, os, runpy, sys
report, script = sys.argv[1], sys.argv[2]
def write_peak():
    with open("/proc/self/status") as status, open(report, "w") as out:
        out.write(status.read().split("VmHWM:")[1].split()[0])
atexit.register(write_peak)
sys.argv = sys.argv[2:]
sys.path.insert(0, os.path.dirname(script))
runpy.run_path(script, run_name="__main__")
"""


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(script: Path, args: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall seconds, CPU seconds (all threads; unlike wall time, barely moved by other processes' load) and
    peak RSS (bytes) of one script run in its own process, which must succeed."""
    with tempfile.TemporaryDirectory() as folder:
        report, log = Path(folder) / "peak", Path(folder) / "log"
        cpu_before = _children_cpu_seconds()
        started = time.perf_counter()
        with log.open("w") as output:
            completed = subprocess.run(
                [sys.executable, "-c", _PEAK_RSS_WRAPPER, str(report), str(script), *args],
                env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        seconds = time.perf_counter() - started
        cpu_seconds = _children_cpu_seconds() - cpu_before
        if completed.returncode != 0:
            raise SystemExit(f"{script.name} failed:\n{log.read_text()[-2000:]}")
        return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3),
                "peak_rss_bytes": int(report.read_text()) * 1024}  # fmt: skip


def bench_preprocess(csv_path: Path, csv_bytes: int, output_dir: Path, repeats: int) -> dict:
    read_csv_script = output_dir.parent / "read_csv.py"
    read_csv_script.write_text(READ_CSV_SOURCE)
    read_alone, preprocess = [], []
    for _ in range(repeats):  # interleaved, so that load from other processes hits both alike
        read_alone.append(run_measured(read_csv_script, [str(csv_path)]))
        preprocess.append(run_measured(
            ML_CODE / "preprocess.py",
            ["--input-dir", str(csv_path.parent), "--output-dir", str(output_dir), "--target-column", TARGET,
             "--positive-label", POSITIVE],
            env={"SM_OUTPUT_DIR": str(output_dir.parent / "sm-output")},
        ))  # fmt: skip
    read_seconds = min(run["seconds"] for run in read_alone)
    preprocess_seconds = min(run["seconds"] for run in preprocess)
    read_cpu = min(run["cpu_seconds"] for run in read_alone)
    preprocess_cpu = min(run["cpu_seconds"] for run in preprocess)
    return {
        "csv_megabytes": round(csv_bytes / 1e6, 1),
        "preprocess_seconds": preprocess_seconds,
        "pyarrow_read_csv_seconds": read_seconds,
        "all_runs_seconds": {
            "preprocess": [run["seconds"] for run in preprocess],
            "pyarrow_read_csv": [run["seconds"] for run in read_alone],
        },
        "time_ratio": round(preprocess_seconds / read_seconds, 2),
        "cpu_seconds": {"preprocess": preprocess_cpu, "pyarrow_read_csv": read_cpu},
        "cpu_ratio": round(preprocess_cpu / read_cpu, 2),
        "preprocess_peak_memory_x_csv": round(max(run["peak_rss_bytes"] for run in preprocess) / csv_bytes, 2),
        "pyarrow_read_csv_peak_memory_x_csv": round(max(run["peak_rss_bytes"] for run in read_alone) / csv_bytes, 2),
    }


def bench_train(splits: Path, model_dir: Path, rounds: int, repeats: int) -> dict:
    # Same rounds for both: early stopping can not trigger when its patience equals the round count.
    args = ["--num-round", str(rounds), "--early-stopping-rounds", str(rounds)]
    params = train.xgboost_params(train.parse_hyperparameters(args), artifacts.Manifest.load(splits / artifacts.TRAIN))
    bare_script = splits.parent / "bare_train.py"
    bare_script.write_text(BARE_TRAIN_SOURCE)
    script, bare = [], []
    for _ in range(repeats):  # interleaved, so that load from other processes hits both alike
        script.append(run_measured(
            ML_CODE / "train.py",
            args,
            env={"SM_CHANNEL_TRAIN": str(splits / artifacts.TRAIN), "SM_CHANNEL_VALIDATION":
                 str(splits / artifacts.VALIDATION), "SM_MODEL_DIR": str(model_dir),
                 "SM_OUTPUT_DIR": str(model_dir.parent / "sm-output")},
        ))  # fmt: skip
        bare.append(run_measured(bare_script, [str(splits), json.dumps(params), str(rounds)]))
    script_seconds = min(run["seconds"] for run in script)
    bare_seconds = min(run["seconds"] for run in bare)
    script_cpu = min(run["cpu_seconds"] for run in script)
    bare_cpu = min(run["cpu_seconds"] for run in bare)
    return {
        "rounds": rounds,
        "train_py_end_to_end_seconds": script_seconds,
        "bare_xgboost_train_seconds": bare_seconds,
        "ratio": round(script_seconds / bare_seconds, 3),
        "all_runs_seconds": {"train_py": [run["seconds"] for run in script], "bare": [run["seconds"] for run in bare]},
        "cpu_seconds": {"train_py": script_cpu, "bare": bare_cpu},
        "cpu_ratio": round(script_cpu / bare_cpu, 3),
    }


def _percentiles_ms(samples: list[float]) -> dict[str, float]:
    return {"p50": round(float(np.percentile(samples, 50)) * 1e3, 4),
            "p99": round(float(np.percentile(samples, 99)) * 1e3, 4)}  # fmt: skip


def _read_body_alone(body: bytes, manifest: artifacts.Manifest) -> None:
    """The parse floor: pyarrow reads the body into typed columns (one thread), nothing checked or encoded."""
    types = {
        feature.name: pa.string() if feature.kind == CATEGORICAL else pa.float64() for feature in manifest.features
    }
    pa_csv.read_csv(io.BytesIO(body), read_options=pa_csv.ReadOptions(column_names=manifest.feature_names,
                    use_threads=False), convert_options=pa_csv.ConvertOptions(column_types=types))  # fmt: skip


def _request_steps(model: inference_handlers.Model, body: str) -> dict[str, float]:
    """Seconds of each step of one CSV request through inference_handlers, as transform_fn runs them."""
    seconds, started = {}, time.perf_counter()

    def lap(step: str) -> None:
        nonlocal started
        now = time.perf_counter()
        seconds[step], started = now - started, now

    data = inference_handlers.input_fn(body, "text/csv")
    lap("input_fn (decode, strip)")
    columns = request_features.request_columns(data, model.manifest)
    lap("request_columns (CSV read, checks)")
    encoded = request_features.encoded_request(columns, model.manifest)
    lap("encoded_request")
    probabilities = model.booster.inplace_predict(encoded)
    lap("inplace_predict")
    labels = inference_handlers.predicted_labels(probabilities, model)
    lap("labels")
    inference_handlers.output_fn(inference_handlers.Prediction(probabilities, labels), "text/csv")
    lap("output_fn (CSV)")
    return seconds


def bench_inference(splits: Path, model_dir: Path, requests: int) -> dict:
    model = inference.model_fn(str(model_dir))
    manifest = model.manifest
    test = artifacts.read_split(splits / artifacts.TEST).slice(0, 1000)
    bodies = test.select(manifest.feature_names).to_pandas().to_csv(index=False, header=False).splitlines()
    encoded = artifacts.encode_features(test, manifest)

    bare, handled = [], []
    for index in range(requests):
        row = index % len(bodies)
        matrix = xgb.DMatrix(encoded[row : row + 1], feature_names=manifest.feature_names,
                             feature_types=manifest.xgboost_feature_types, enable_categorical=True)  # fmt: skip
        started = time.perf_counter()
        model.booster.predict(matrix)
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        response = inference.transform_fn(model, bodies[row] + "\n", "text/csv", "application/json")
        handled.append(time.perf_counter() - started)
        assert response.status_code == 200
    batch_body = "\n".join(bodies) + "\n"
    probabilities = model.booster.inplace_predict(encoded).tolist()
    batch, bare_batch, steps, read_alone, repr_alone = [], [], [], [], []
    for _ in range(BATCH_ROUNDS):  # interleaved, so that load from other processes hits all alike
        started = time.perf_counter()
        inference.transform_fn(model, batch_body, "text/csv", "text/csv")
        batch.append(time.perf_counter() - started)
        started = time.perf_counter()
        model.booster.inplace_predict(encoded)
        bare_batch.append(time.perf_counter() - started)
        steps.append(_request_steps(model, batch_body))
        started = time.perf_counter()
        _read_body_alone(batch_body.encode(), manifest)
        read_alone.append(time.perf_counter() - started)
        started = time.perf_counter()
        list(map(repr, probabilities))
        repr_alone.append(time.perf_counter() - started)
    bare_ms, handled_ms = _percentiles_ms(bare), _percentiles_ms(handled)
    batch_seconds, bare_batch_seconds = float(np.median(batch)), float(np.median(bare_batch))
    read_seconds, repr_seconds = float(np.median(read_alone)), float(np.median(repr_alone))
    return {
        "requests": requests,
        "one_row_transform_fn_ms": handled_ms,
        "one_row_bare_booster_predict_ms": bare_ms,
        "one_row_overhead_ms": {key: round(handled_ms[key] - bare_ms[key], 4) for key in ("p50", "p99")},
        "rows_per_second_1000_row_request": round(len(bodies) / batch_seconds),
        "rows_per_second_bare_inplace_predict": round(len(bodies) / bare_batch_seconds),
        "rows_per_second_ratio": round(bare_batch_seconds / batch_seconds, 3),
        "1000_row_request_ms": round(batch_seconds * 1e3, 3),
        "1000_row_bare_inplace_predict_ms": round(bare_batch_seconds * 1e3, 3),
        # Medians of each step over the same rounds (their sum need not equal the whole request's median).
        "1000_row_steps_ms": {
            step: round(float(np.median([run[step] for run in steps])) * 1e3, 3) for step in steps[0]
        },
        "1000_row_floors_ms": {
            "pyarrow_read_csv_alone": round(read_seconds * 1e3, 3),
            "float_repr_of_probabilities": round(repr_seconds * 1e3, 3),
        },
        # The best ratio a handler could reach that reads the body with pyarrow and prints the probabilities.
        "ratio_the_floors_permit": round(bare_batch_seconds / (bare_batch_seconds + read_seconds + repr_seconds), 3),
    }


def prepare_model(csv_path: Path, splits: Path, model_dir: Path, rounds: int) -> None:
    """Preprocess and train once, untimed, with the settings the timed runs use: for --inference-only."""
    run_measured(
        ML_CODE / "preprocess.py",
        ["--input-dir", str(csv_path.parent), "--output-dir", str(splits), "--target-column", TARGET,
         "--positive-label", POSITIVE],
        env={"SM_OUTPUT_DIR": str(splits.parent / "sm-output")},
    )  # fmt: skip
    run_measured(
        ML_CODE / "train.py",
        ["--num-round", str(rounds), "--early-stopping-rounds", str(rounds)],
        env={"SM_CHANNEL_TRAIN": str(splits / artifacts.TRAIN), "SM_CHANNEL_VALIDATION": str(splits / artifacts.VALIDATION),
             "SM_MODEL_DIR": str(model_dir), "SM_OUTPUT_DIR": str(model_dir.parent / "sm-output")},
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=50, help="boosting rounds for the training comparison")
    parser.add_argument("--requests", type=int, default=2000, help="one-row requests for the latency figures")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each timing; the fastest counts")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--preprocess-only", action="store_true", help="measure preprocess only (part 2)")
    only.add_argument(
        "--inference-only", action="store_true", help="measure inference only (part 3; preprocess and train untimed)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ml-bench-") as folder:
        work = Path(folder)
        (work / "input").mkdir()
        csv_path = work / "input" / "bench.csv"
        csv_bytes = generate_csv(csv_path, args.rows)
        splits, model_dir = work / "splits", work / "model"
        results = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "xgboost": xgb.__version__},
            "rows": args.rows,
            "features": NUMERIC_FEATURES + CATEGORICAL_FEATURES,
        }
        if args.inference_only:
            prepare_model(csv_path, splits, model_dir, args.rounds)
        else:
            results["preprocess"] = bench_preprocess(csv_path, csv_bytes, splits, args.repeats)
            if not args.preprocess_only:
                results["train"] = bench_train(splits, model_dir, args.rounds, args.repeats)
        if not args.preprocess_only:
            results["inference"] = bench_inference(splits, model_dir, args.requests)
    print(json.dumps(results, indent=2))
    print()
    print(markdown(results))


if __name__ == "__main__":
    main()
