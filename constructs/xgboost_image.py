"""SageMaker's XGBoost framework image: the version every job and the endpoint run, and its ECR repository.

The roles that pull the image need the repository's ARN. It is read from the SageMaker SDK's own image list
(`sagemaker/image_uri_config/xgboost.json`, the file `image_uris.retrieve` reads) without importing the SDK,
so the deployment stack, which needs this ARN and nothing else of the SDK, does not load it.
tests/infra/test_layout.py checks it against the SDK's `image_uris.retrieve`.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

XGBOOST_FRAMEWORK_VERSION = "3.0-5"


@functools.cache
def _image_list() -> dict[str, Any]:
    spec = importlib.util.find_spec("sagemaker")  # finds the package without importing it
    assert spec is not None and spec.submodule_search_locations, "the SageMaker SDK is not installed"
    path = Path(spec.submodule_search_locations[0]) / "image_uri_config" / "xgboost.json"
    # Training and inference use the same images ("scope" lists both; the SDK defaults to training).
    return json.loads(path.read_text(encoding="utf-8"))["training"]["versions"][XGBOOST_FRAMEWORK_VERSION]


def xgboost_image_repository_arn(region: str) -> str:
    """The ECR repository of the image in `region`, for the roles that pull it."""
    image = _image_list()
    if region not in image["registries"]:
        raise ValueError(f"SageMaker's XGBoost {XGBOOST_FRAMEWORK_VERSION} image is not offered in region {region}")
    return f"arn:aws:ecr:{region}:{image['registries'][region]}:repository/{image['repository']}"
