from __future__ import annotations

import json
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from ml_helpers import ML_TOOLS, SAMPLE_DATA, SMALL_POSITIVE, SMALL_TARGET, small_frame

import artifacts
import model_io


def local_run(python: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python local_run.py args` as `make local-run` runs it; `python` is conftest's container_python."""
    return subprocess.run(
        [str(python), str(ML_TOOLS / "local_run.py"), *args], capture_output=True, text=True, check=False, cwd=cwd
    )


def test_local_run_on_a_subset_of_the_sample_leaves_sagemaker_shaped_artifacts(
    container_python: Path, tmp_path: Path
) -> None:
    subset = tmp_path / "adult-subset.csv"
    pd.read_csv(SAMPLE_DATA, nrows=3000, dtype=str, keep_default_na=False).to_csv(subset, index=False)

    result = local_run(container_python, "--data", str(subset), "--runs-dir", str(tmp_path / "runs"))

    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr  # the contract's target: its features are checked
    lines = result.stdout.strip().splitlines()
    assert [line.split(" ...")[0] for line in lines if " ..." in line] == ["[1/3] preprocess", "[2/3] train",
                                                                           "[3/3] evaluate"]  # fmt: skip
    assert lines[-1].startswith("evaluation: ")
    evaluation = Path(lines[-1].removeprefix("evaluation: "))
    run_dir = evaluation.parent.parent
    assert run_dir.parent == tmp_path / "runs"
    auc = json.loads(evaluation.read_text())["binary_classification_metrics"]["auc"]["value"]
    assert 0.8 < auc <= 1.0
    assert (evaluation.parent / "report.html").exists()
    with tarfile.open(run_dir / "model" / model_io.MODEL_ARCHIVE_NAME) as archive:
        code = [f"{model_io.SERVING_CODE_DIR_NAME}/{name}" for name in model_io.SERVING_MODULES]
        files = [artifacts.MANIFEST_FILE_NAME, model_io.MODEL_FILE_NAME, model_io.SERVING_CODE_DIR_NAME, *code]
        assert sorted(archive.getnames()) == sorted(files)
    manifest = artifacts.Manifest.load(run_dir / "preprocess" / "output" / "train")
    assert sum(manifest.rows.values()) == 3000


@dataclass(frozen=True)
class ChurnRun:
    """One local run on a generated churn file with the target overridden; `common` repeats its arguments."""

    data: Path
    common: list[str]
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def churn_run(tmp_path_factory: pytest.TempPathFactory, container_python: Path) -> ChurnRun:
    # Shared: the override test and the champion test made this same run (same file, same arguments) each.
    work = tmp_path_factory.mktemp("churn")
    data = work / "churn.csv"
    small_frame(1000).to_csv(data, index=False)
    common = ["--data", str(data), "--target-column", SMALL_TARGET, "--positive-label", SMALL_POSITIVE,
              "--runs-dir", str(work / "runs")]  # fmt: skip
    return ChurnRun(data, common, local_run(container_python, *common))


def test_local_run_on_any_csv_with_a_target_override(churn_run: ChurnRun) -> None:
    result = churn_run.result
    assert result.returncode == 0, result.stderr
    # Another target drops the contract's features: said before the run starts, not found out later.
    assert result.stderr.startswith(
        "warning: target 'churned' is not the data contract's target 'income-per-year': feature columns and "
        "types are INFERRED from this data, not checked against a contract."
    )
    evaluation = Path(result.stdout.strip().splitlines()[-1].removeprefix("evaluation: "))
    assert json.loads(evaluation.read_text())["binary_classification_metrics"]["auc"]["value"] > 0.7


def test_local_run_with_a_contract_checks_its_feature_columns(container_python: Path, tmp_path: Path) -> None:
    # The input that exposed it: a file missing a contract column trained with exit 0 under TARGET=...
    contract = tmp_path / "contract.json"
    features = {"tenure": "numeric", "plan": "categorical", "spend": "numeric", "region": "categorical"}
    contract.write_text(json.dumps({"target_column": SMALL_TARGET, "positive_label": SMALL_POSITIVE,
                                    "features": features}))  # fmt: skip
    data = tmp_path / "churn.csv"
    small_frame(300).drop(columns=["spend"]).to_csv(data, index=False)
    result = local_run(container_python, "--data", str(data), "--contract", str(contract), "--target-column", SMALL_TARGET,
                       "--runs-dir", str(tmp_path / "runs"))  # fmt: skip
    assert result.returncode == 1
    assert "warning" not in result.stderr
    assert "preprocess failed: churn.csv: column 'spend' is missing (required by the data contract)" in result.stderr


def test_local_run_on_bad_data_exits_non_zero_with_the_step_message(container_python: Path, tmp_path: Path) -> None:
    data = tmp_path / "export" / "header-only.csv"
    data.parent.mkdir()
    data.write_text(",".join(small_frame(1).columns) + "\n", encoding="utf-8")
    # Relative paths, as typed in a shell, a data folder among them: the steps (run in ml_code/) still find them.
    result = local_run(
        container_python, "--data", "export", "--target-column", SMALL_TARGET, "--runs-dir", "runs", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "preprocess failed: header-only.csv has a header but no data rows" in result.stderr
    assert "evaluation:" not in result.stdout


def test_local_run_compares_with_a_champion_and_ends_with_the_approver_line(
    churn_run: ChurnRun, container_python: Path
) -> None:
    data, common, first = churn_run.data, churn_run.common, churn_run.result
    assert first.returncode == 0, first.stderr
    *_, advice, first_line, first_evaluation = first.stdout.strip().splitlines()
    thresholds = r"(passes|fails) dev 0\.85.*prod 0\.92"  # every environment's threshold from cdk.json
    # What thresholds this data supports, from the run's interval, and where to set them when one fails.
    assert re.fullmatch(r"thresholds: this run's test ROC-AUC 95% interval is \[0\.\d{3}, 0\.\d{3}\]; a "
                        r"training\.auc_threshold up to 0\.\d\d passes a model like this one.*", advice)  # fmt: skip
    # The advice on where to set thresholds comes exactly when an environment's threshold fails this run.
    where_to_set = "would fail it): if this quality is what your data allows, set auc_threshold per environment"
    assert (where_to_set in advice) == ("fails" in first_line)
    assert re.fullmatch(rf"test ROC-AUC 0\.\d{{3}} \[0\.\d{{3}}, 0\.\d{{3}}\]: {thresholds}.*"
                        r"; no serving model to compare with", first_line)  # fmt: skip
    champion = Path(first_evaluation.removeprefix("evaluation: ")).parent.parent / "model" / "model.tar.gz"

    second = local_run(container_python, *common, "--champion", str(champion))

    assert second.returncode == 0, second.stderr
    *_, line, last = second.stdout.strip().splitlines()
    # The same data and seed train the same model: it differs from itself by exactly nothing.
    assert re.fullmatch(rf"test ROC-AUC .*: {thresholds}.*; serving model 0\.\d{{3}}, difference \+0\.000 "
                        r"\[\+0\.000, \+0\.000\]", line)  # fmt: skip
    document = json.loads(Path(last.removeprefix("evaluation: ")).read_text())
    assert document["champion_comparison"]["champion"]["model_uri"] == str(champion.resolve())
    assert [row["environment"] for row in document["thresholds"]["environments"]] == ["dev", "stg", "prod"]
    assert document["provenance"]["input_data_uri"] == str(data.resolve())  # the file given, not the run's link


def test_local_run_with_a_missing_champion_stops_before_running(container_python: Path, tmp_path: Path) -> None:
    result = local_run(
        container_python, "--champion", str(tmp_path / "nothing.tar.gz"), "--runs-dir", str(tmp_path / "runs")
    )
    assert result.returncode == 1
    assert f"--champion {tmp_path / 'nothing.tar.gz'} does not exist" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_local_run_that_cannot_start_leaves_no_run_folder(container_python: Path, tmp_path: Path) -> None:
    result = local_run(container_python, "--data", str(tmp_path / "missing.csv"), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 1
    assert f"--data {tmp_path / 'missing.csv'} is neither a file nor a folder" in result.stderr
    assert not (tmp_path / "runs").exists()
