"""Each model version serves with the code it was trained with, carried inside its model.tar.gz.

The life story (issue 25): a model trained with ml_code bundle A is approved; a later deploy changes ml_code
(bundle B); then the serving model scales out, or the older version is re-approved. Each new instance starts
from the model package: SageMaker extracts model.tar.gz into /opt/ml/model and sagemaker-containers imports the
entry script from SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code. So version A must run A's code, found in its
own artifact, whatever ml_code now is. (The SageMaker side, that the model role may read every version's
artifact and needs nothing else, is tests/infra/test_serving_code_life.py.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from ml_helpers import TrainedRun, synthesized_pipeline

import artifacts
import local_endpoint
import local_run
import model_io

ML_CODE = Path(model_io.__file__).resolve().parent
ROWS = 5
# Appended to bundle A's entry script: answers say which bundle served them, through a name that only bundle A's
# inference_handlers defines (so the modules it imports must come from bundle A too).
BUNDLE_A_MARK = """

inference_handlers_transform = transform_fn


def transform_fn(model, request_body, content_type, accept):
    response = inference_handlers_transform(model, request_body, content_type, accept)
    response.headers["X-Served-By"] = inference_handlers.SERVED_BY
    return response
"""


@pytest.fixture(scope="module")
def rows(small_run: TrainedRun) -> str:
    frame = artifacts.read_split(small_run.splits / artifacts.TEST).to_pandas().head(ROWS)
    return frame[small_run.manifest.feature_names].to_csv(index=False)


def bundle_a(folder: Path) -> Path:
    """An earlier ml_code: today's serving modules, marked."""
    folder.mkdir(parents=True)
    for name in model_io.SERVING_MODULES:
        shutil.copyfile(ML_CODE / name, folder / name)
    with (folder / "inference.py").open("a") as script:
        script.write(BUNDLE_A_MARK)
    with (folder / "inference_handlers.py").open("a") as handlers:
        handlers.write('\nSERVED_BY = "bundle A"\n')
    return folder


def model_trained_with(bundle: Path, small_run: TrainedRun, work: Path) -> Path:
    """A model version as SageMaker stores it: SM_MODEL_DIR packed, with the serving code training wrote."""
    model_dir = work / "model"
    shutil.copytree(small_run.model, model_dir, ignore=shutil.ignore_patterns(model_io.SERVING_CODE_DIR_NAME))
    model_io.write_serving_code(model_dir, source=bundle)
    return local_run.pack_model(model_dir, work / "model.tar.gz")


def test_training_writes_exactly_the_serving_modules_under_code(small_run: TrainedRun) -> None:
    code = small_run.model / model_io.SERVING_CODE_DIR_NAME
    assert sorted(path.name for path in code.iterdir()) == sorted(model_io.SERVING_MODULES)
    for name in model_io.SERVING_MODULES:
        assert (code / name).read_bytes() == (ML_CODE / name).read_bytes()


def test_the_packed_model_carries_its_code_beside_the_model_files(small_run: TrainedRun, tmp_path: Path) -> None:
    archive = local_run.pack_model(small_run.model, tmp_path / "model.tar.gz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {model_io.MODEL_FILE_NAME, artifacts.MANIFEST_FILE_NAME} <= names
    assert {f"{model_io.SERVING_CODE_DIR_NAME}/{name}" for name in model_io.SERVING_MODULES} <= names


def test_the_serving_modules_are_all_the_entry_script_imports(small_run: TrainedRun, rows: str) -> None:
    # A fresh interpreter that sees only the model's code/ folder (no ml_code, no tests): the entry script loads
    # the model and answers a request, and every project module it loaded came from that folder.
    code = small_run.model / model_io.SERVING_CODE_DIR_NAME
    ml_code_modules = sorted(path.stem for path in ML_CODE.glob("*.py"))
    program = f"""
import json, sys
sys.path.insert(0, {str(code)!r})
import inference
model = inference.model_fn({str(small_run.model)!r})
response = inference.transform_fn(model, sys.stdin.read(), "text/csv", "application/json")
project = {{name: sys.modules[name].__file__ for name in {ml_code_modules!r} if name in sys.modules}}
print(json.dumps({{"status": response.status_code, "project_modules": project}}))
"""
    completed = subprocess.run(
        [sys.executable, "-I", "-c", program], input=rows, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["status"] == 200
    assert result["project_modules"], "the check would be vacuous: no module of the project was loaded"
    outside = {name: path for name, path in result["project_modules"].items() if not path.startswith(str(code))}
    assert not outside, f"the entry script imported modules that are not in {model_io.SERVING_MODULES}: {outside}"


def test_a_version_trained_with_an_earlier_bundle_serves_with_that_bundle_after_ml_code_changed(
    small_run: TrainedRun, rows: str, tmp_path: Path
) -> None:
    # Version A trained with bundle A; ml_code has changed since (it is bundle B: today's ml_code, unmarked).
    version_a = model_trained_with(bundle_a(tmp_path / "bundle-a"), small_run, tmp_path / "version-a")
    # Scale-out or re-approval: a new instance starts version A from its artifact alone.
    loaded = local_endpoint.load(version_a)
    client = local_endpoint.endpoint_app(loaded.model, loaded.entry_script.transform_fn).test_client()
    response = client.post("/invocations", data=rows, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.get_data(as_text=True)
    # Fails if the entry script came from the current bundle (ml_code) rather than the artifact.
    assert response.headers.get("X-Served-By") == "bundle A"
    assert len(json.loads(response.get_data())["predictions"]) == ROWS


def test_a_version_trained_with_the_current_bundle_serves_unmarked(small_run: TrainedRun, rows: str) -> None:
    # The other half: the mark comes from bundle A, not from the loader.
    loaded = local_endpoint.load(small_run.model)
    client = local_endpoint.endpoint_app(loaded.model, loaded.entry_script.transform_fn).test_client()
    response = client.post("/invocations", data=rows, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200
    assert "X-Served-By" not in response.headers


def test_loading_version_a_leaves_the_current_modules_in_place(small_run: TrainedRun, tmp_path: Path) -> None:
    import inference_handlers

    before = sys.modules["inference_handlers"]
    local_endpoint.load(model_trained_with(bundle_a(tmp_path / "bundle-a"), small_run, tmp_path / "version-a"))
    assert sys.modules["inference_handlers"] is before is inference_handlers
    assert not hasattr(inference_handlers, "SERVED_BY")


def test_the_model_package_points_at_the_folder_training_writes() -> None:
    # The synthesized pipeline's Register step (readable definition kept beside the infra snapshots): SageMaker
    # extracts model.tar.gz into /opt/ml/model, so code/ in the archive is this folder in the container.
    for environment in ("dev", "stg", "prod"):
        definition = synthesized_pipeline(environment)
        text = json.dumps(definition)
        assert f'"SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/{model_io.SERVING_CODE_DIR_NAME}"' in text
        assert f'"SAGEMAKER_PROGRAM": "{local_endpoint.ENTRY_SCRIPT}"' in text


def test_an_isolated_model_serves_from_its_artifact_alone_with_no_network(
    small_run: TrainedRun, rows: str, tmp_path: Path
) -> None:
    # Private network mode: the model runs with network isolation (no S3, no index). SageMaker extracts
    # model.tar.gz into /opt/ml/model; sagemaker-containers copies /opt/ml/model/code to /opt/ml/code, writes its
    # own setup.py and runs `pip install .` there (adding `-r requirements.txt` only if the folder has one, which
    # would need PyPI), then imports the entry script. Here: the same folders, and a fresh interpreter in which
    # any connection attempt fails.
    packed = model_trained_with(ML_CODE, small_run, tmp_path / "version")
    opt_ml_model = tmp_path / "opt/ml/model"
    with tarfile.open(packed) as tar:
        tar.extractall(opt_ml_model, filter="data")
    opt_ml_code = shutil.copytree(opt_ml_model / model_io.SERVING_CODE_DIR_NAME, tmp_path / "opt/ml/code")
    assert not {"requirements.txt", "setup.py", "pyproject.toml"} & {path.name for path in opt_ml_code.iterdir()}
    program = f"""
import json, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network isolation: no connection")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = refuse
sys.path.insert(0, {str(opt_ml_code)!r})
import inference
model = inference.model_fn({str(opt_ml_model)!r})
response = inference.transform_fn(model, sys.stdin.read(), "text/csv", "application/json")
print(json.dumps({{"status": response.status_code, "answers": len(json.loads(response.get_data())["predictions"])}}))
"""
    completed = subprocess.run(
        [sys.executable, "-I", "-c", program], input=rows, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"status": 200, "answers": ROWS}
