"""Run preprocess -> train -> evaluate on this machine, as the SageMaker jobs would, without AWS or Docker.

    python ml_code/local/local_run.py [--data FILE_OR_DIR] [--contract FILE] [--target-column NAME]
        [--positive-label VALUE] [--champion MODEL_TAR_GZ_OR_DIR] [--runs-dir DIR]

The data is checked against the data contract (--contract, default ml_code/data_contract.json). A target
column other than the contract's means another data set: its features are then inferred from the data,
not checked, and the run says so on stderr before it starts.

Each step is the same script with the same arguments and SageMaker environment variables as in its
container, with the container paths mapped into a new run folder:

    runs/<timestamp>/input/data/          the data (a link to --data when it is a file)
    runs/<timestamp>/preprocess/output/   train/, validation/, test/ and train/manifest.json
    runs/<timestamp>/train/model/         SM_MODEL_DIR
    runs/<timestamp>/model/model.tar.gz   the model as SageMaker packs it
    runs/<timestamp>/evaluation/          evaluation.json, report.html, roc.png, pr.png
    runs/<timestamp>/logs/                each step's output

--champion is a model the new one is compared with on the same test rows, as the pipeline compares it
with the model serving in the environment. Evaluate gets every environment's ROC-AUC threshold from
cdk.json. The run ends with the line an approver reads first, then `evaluation: <path to
evaluation.json>` as the last line. A failing step ends the run with exit code 1 and the step's own
message.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import secrets
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

# The container modules are this folder's parent, imported as flat siblings as in the containers. The tools live
# apart so that the code bundle carries only what SageMaker runs (ml_code/bundle_contents.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import artifacts
import decision_thresholds
import model_io
from contract import ContractError, load_contract
from job_output import OUTPUT_DIR_ENV, PROCESSING_MESSAGE_FILE, TRAINING_FAILURE_FILE

CODE_DIR = Path(__file__).resolve().parents[1]  # ml_code: the scripts the containers run
REPO_ROOT = CODE_DIR.parent
DEFAULT_DATA = CODE_DIR / "data" / "adult.csv.gz"
DEFAULT_RUNS_DIR = REPO_ROOT / "runs"
CDK_JSON = REPO_ROOT / "cdk.json"
LOCAL_HOST = "algo-1"  # SageMaker's name for the first training host


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    script: str
    args: list[str]
    env: dict[str, str]
    reason_file: str  # where the script writes why it failed, under its SM_OUTPUT_DIR


def new_run_dir(runs_dir: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_dir = runs_dir / f"{stamp}-{secrets.token_hex(2)}"
    run_dir.mkdir(parents=True)
    return run_dir


def input_folder(data: Path, run_dir: Path) -> Path:
    """Preprocess reads a folder: a data folder as is, a single file through a link in a new folder."""
    if data.is_dir():
        return data
    folder = run_dir / "input" / "data"
    folder.mkdir(parents=True)
    (folder / data.name).symlink_to(data.resolve())
    return folder


def pack_model(model_dir: Path, archive: Path) -> Path:
    """model.tar.gz with the model files at its root, as SageMaker packs SM_MODEL_DIR."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return archive


def label_threshold(cdk_json: Path = CDK_JSON) -> str:
    """The first environment's label cut-off (training.label_threshold: its own, else environment_defaults', else
    the schema's default 0.5), which the report shows."""
    context = json.loads(cdk_json.read_text(encoding="utf-8"))["context"]
    first = next(iter(context["environments"].values()), {})
    shared = context.get("environment_defaults", {}).get("training", {}).get("label_threshold", 0.5)
    return str(first.get("training", {}).get("label_threshold", shared))


def auc_thresholds(cdk_json: Path = CDK_JSON) -> str:
    """Every environment's threshold as evaluate takes them (`dev=0.85,...`), from cdk.json, the one source."""
    environments = json.loads(cdk_json.read_text(encoding="utf-8"))["context"]["environments"]
    return ",".join(f"{name}={settings['training']['auc_threshold']}" for name, settings in environments.items())


def plan(
    run_dir: Path,
    data_dir: Path,
    target_column: str | None,
    positive_label: str | None,
    champion: Path | None = None,
    data_source: Path | None = None,
    contract_path: Path | None = None,
) -> list[Step]:
    processed = run_dir / "preprocess" / "output"
    overrides = ["--contract", str(contract_path)] if contract_path else []
    if target_column:
        overrides += ["--target-column", target_column]
    if positive_label:
        overrides += ["--positive-label", positive_label]
    training_env = {
        "SM_MODEL_DIR": str(run_dir / "train" / "model"),
        "SM_CHANNEL_TRAIN": str(processed / artifacts.TRAIN),
        "SM_CHANNEL_VALIDATION": str(processed / artifacts.VALIDATION),
        "SM_HOSTS": json.dumps([LOCAL_HOST]),
        "SM_CURRENT_HOST": LOCAL_HOST,
    }
    return [
        Step(
            "preprocess",
            "preprocess.py",
            ["--input-dir", str(data_dir), "--output-dir", str(processed), *overrides],
            {},
            PROCESSING_MESSAGE_FILE,
        ),
        Step("train", "train.py", [], training_env, TRAINING_FAILURE_FILE),
        Step(
            "evaluate",
            "evaluate.py",
            [
                "--model-dir",
                str(run_dir / "model"),
                "--test-dir",
                str(processed / artifacts.TEST),
                "--output-dir",
                str(run_dir / "evaluation"),
                "--train-dir",
                str(processed / artifacts.TRAIN),
                "--validation-dir",
                str(processed / artifacts.VALIDATION),
                "--auc-thresholds",
                auc_thresholds(),
                "--label-threshold",
                label_threshold(),
                "--input-data-uri",
                str((data_source or data_dir).resolve()),
                "--execution-id",
                f"local-run {run_dir.name}",
                *(["--champion-model-uri", str(champion.resolve())] if champion else []),
            ],
            {},
            PROCESSING_MESSAGE_FILE,
        ),
    ]


def run_step(step: Step, run_dir: Path) -> None:
    """Run one script as its container would; on failure print its message and exit 1."""
    output_dir = run_dir / step.name / "sm-output"
    log_path = run_dir / "logs" / f"{step.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **step.env, OUTPUT_DIR_ENV: str(output_dir), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(CODE_DIR / step.script), *step.args]
    with log_path.open("w", encoding="utf-8") as log:
        completed = subprocess.run(command, env=env, cwd=CODE_DIR, stdout=log, stderr=subprocess.STDOUT, check=False)
    if completed.returncode != 0:
        reason_path = output_dir / step.reason_file
        reason = reason_path.read_text(encoding="utf-8") if reason_path.exists() else f"{step.name} failed"
        print(f"error: {reason}", file=sys.stderr)
        print(f"log: {log_path}", file=sys.stderr)
        sys.exit(completed.returncode)


def step_summary(name: str, run_dir: Path) -> str:
    if name == "preprocess":
        manifest = artifacts.Manifest.load(run_dir / "preprocess" / "output" / artifacts.TRAIN)
        return ", ".join(f"{split} {rows} rows" for split, rows in manifest.rows.items())
    if name == "train":
        found = re.search(r"best_iteration=(\d+) best_score=([0-9.]+)", (run_dir / "logs" / "train.log").read_text())
        return f"best validation AUC {float(found[2]):.4f} at round {found[1]}" if found else "no best round logged"
    document = json.loads((run_dir / "evaluation" / artifacts.EVALUATION_FILE).read_text(encoding="utf-8"))
    auc = document["binary_classification_metrics"]["auc"]
    return f"test ROC-AUC {auc['value']:.4f} (bootstrap std {auc['standard_deviation']:.4f})"


def warn_if_features_are_inferred(contract_path: Path | None, target_column: str | None) -> None:
    """A target other than the contract's drops the contract's feature columns: say so before anything runs."""
    try:
        contract = load_contract(contract_path)
    except ContractError as error:
        raise SystemExit(f"error: {error}") from None
    if contract.with_target(target_column, None).features is None and contract.features is not None:
        print(
            f"warning: target '{target_column}' is not the data contract's target '{contract.target_column}': "
            "feature columns and types are INFERRED from this data, not checked against a contract. "
            "Draft a contract for this data (make draft-contract) and pass it with CONTRACT=... to check them.",
            file=sys.stderr,
            flush=True,
        )


def local_run(
    data: Path,
    target_column: str | None,
    positive_label: str | None,
    runs_dir: Path,
    contract_path: Path | None = None,
    champion: Path | None = None,
) -> Path:
    # Absolute: the steps run in ml_code/, where a relative path would point elsewhere.
    data, runs_dir = data.resolve(), runs_dir.resolve()
    # Checked before the run folder exists: a run that cannot start leaves no empty folder behind.
    if not (data.is_dir() or data.is_file()):
        raise SystemExit(f"--data {data} is neither a file nor a folder")
    if champion is not None and not champion.exists():
        raise SystemExit(f"--champion {champion} does not exist")
    warn_if_features_are_inferred(contract_path, target_column)
    run_dir = new_run_dir(runs_dir)
    print(f"run folder: {run_dir}")
    steps = plan(run_dir, input_folder(data, run_dir), target_column, positive_label, champion, data, contract_path)
    for number, step in enumerate(steps, start=1):
        print(f"[{number}/{len(steps)}] {step.name} ...", flush=True)
        started = time.monotonic()
        run_step(step, run_dir)
        if step.name == "train":
            pack_model(run_dir / "train" / "model", run_dir / "model" / model_io.MODEL_ARCHIVE_NAME)
        print(f"      done in {time.monotonic() - started:.1f} s: {step_summary(step.name, run_dir)}", flush=True)
    print(f"report: {run_dir / 'evaluation' / artifacts.REPORT_FILE}")
    evaluation = run_dir / "evaluation" / artifacts.EVALUATION_FILE
    document = json.loads(evaluation.read_text(encoding="utf-8"))
    print(decision_thresholds.threshold_advice(document))
    print(artifacts.approver_line(document))
    return evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description="Run preprocess -> train -> evaluate locally.")
    # Empty values (an unset make variable) mean the defaults.
    parser.add_argument("--data", default="", help="a CSV file or a folder of CSVs (default: the shipped sample)")
    parser.add_argument("--contract", default="", help="data contract JSON (default: ml_code/data_contract.json)")
    parser.add_argument("--target-column", default=None, help="default: the data contract's")
    parser.add_argument("--positive-label", default=None, help="default: the data contract's")
    parser.add_argument("--champion", default="", help="a model.tar.gz (or its folder) to compare with")
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR)
    args = parser.parse_args()
    data = Path(args.data) if args.data else DEFAULT_DATA
    champion = Path(args.champion) if args.champion else None
    contract = Path(args.contract).resolve() if args.contract else None
    evaluation = local_run(
        data, args.target_column or None, args.positive_label or None, args.runs_dir, contract, champion
    )
    print(f"evaluation: {evaluation}")


if __name__ == "__main__":
    main()
