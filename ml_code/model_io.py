"""The model artifact: the file names SageMaker and every step agree on, saving and loading, and the serving
code that travels inside it."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from artifacts import Manifest
from bundle_contents import SERVING_MODULES  # what the endpoint runs: the list lives with the bundle's

if TYPE_CHECKING:  # imported where a model is loaded: local_run needs only the names, not xgboost's 1 s import
    import xgboost as xgb

# The one name of the model file: train saves it, evaluate and the endpoint's model_fn load it.
MODEL_FILE_NAME = "xgboost-model.json"
# What SageMaker packs SM_MODEL_DIR into.
MODEL_ARCHIVE_NAME = "model.tar.gz"
# The serving code travels inside the model: each version serves with the code it was trained with, for as long
# as it may serve or be re-approved, whatever later deploys do to ml_code (docs/deployment-runbook.md, "Life of
# the stacks"). SageMaker extracts model.tar.gz into /opt/ml/model, and the model package names this folder as
# SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code, which sagemaker-containers copies to /opt/ml/code and imports
# (the SageMaker SDK's repack does the same for framework models). A network-isolated model can load only this.
SERVING_CODE_DIR_NAME = "code"
ML_CODE_DIR = Path(__file__).resolve().parent


def save_model(booster: xgb.Booster, manifest: Manifest, model_dir: Path) -> None:
    """The booster in XGBoost's own JSON format (save_model, not pickle) and the manifest beside it."""
    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(model_dir / MODEL_FILE_NAME)
    manifest.save(model_dir)
    write_serving_code(model_dir)


def write_serving_code(model_dir: Path, source: Path = ML_CODE_DIR) -> Path:
    """The serving modules, copied from the code this process runs, into `model_dir`/code."""
    code_dir = model_dir / SERVING_CODE_DIR_NAME
    code_dir.mkdir(parents=True, exist_ok=True)
    for name in SERVING_MODULES:
        shutil.copyfile(source / name, code_dir / name)
    return code_dir


def load_booster(model_dir: Path) -> xgb.Booster:
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(model_dir / MODEL_FILE_NAME)
    return booster


def extract_model_archive(model_dir: Path) -> Path:
    """A folder holding the model files: `model_dir` itself, or its model.tar.gz extracted to a temp dir."""
    archive = model_dir / MODEL_ARCHIVE_NAME
    if (model_dir / MODEL_FILE_NAME).exists() or not archive.exists():
        return model_dir
    target = Path(tempfile.mkdtemp(prefix="model-"))
    with tarfile.open(archive) as tar:
        # The archive holds the files train.py saved (the model's, and its serving code under code/); nothing that
        # would land outside the target is extracted. tarfile's own "data"
        # filter is used where it exists (Python 3.10.12+, 3.11.4+): the image's patch level may predate it.
        members = [member for member in tar.getmembers() if _is_plain_file(member)]
        safety = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(target, members=members, **safety)
    return target


def _is_plain_file(member: tarfile.TarInfo) -> bool:
    path = PurePosixPath(member.name)
    return member.isfile() and not path.is_absolute() and ".." not in path.parts
