"""The SageMaker Pipeline definition, built offline at synth time with the SageMaker Python SDK 2.x.

One function from explicit arguments to the definition's JSON: build_pipeline_definition, whose _pipeline lists
the steps in run order, each built by its own function from what the steps before it produce: the jobs in
training_pipeline_jobs.py (preprocess_step, train_step, evaluate_step), then the gate in training_pipeline_gate.py
(register_step, fail_step, quality_gate_step). Everything SDK-specific stays in these three modules (and
sagemaker_sdk.py), so moving to SDK 3.x (which moved the workflow module) touches them only.

The SDK runs offline only if it never needs AWS: an explicit region and default bucket, scripts as
`s3://` URIs, a full role ARN and telemetry off. CDK tokens are not valid S3 URIs or ARNs for the SDK's
parsers, so callers pass valid placeholder strings and swap the tokens back into the JSON afterwards.
"""

from __future__ import annotations

import functools
import json
import warnings

from constructs import sagemaker_sdk  # before the SDK: importing it quiets the SDK (see the module)
from constructs.training_pipeline_gate import fail_step, quality_gate_step, register_step
from constructs.training_pipeline_jobs import (
    evaluate_step,
    job_processor,
    pipeline_parameters,
    preprocess_step,
    train_step,
)
from constructs.training_pipeline_settings import CODE_DIR, ENVIRONMENT_TAG_KEY, SPLITS, PipelineSettings
from constructs.xgboost_image import XGBOOST_FRAMEWORK_VERSION
from settings.resource_names import pipeline_prefix

# isort: split
from sagemaker import image_uris
from sagemaker.processing import ProcessingInput
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.pipeline_definition_config import PipelineDefinitionConfig
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import CacheConfig


@functools.cache
def xgboost_image_uri(region: str) -> str:
    """The SageMaker XGBoost framework image every step runs in, from the SDK's own image list (each lookup
    loads botocore's endpoint list, so once per region)."""
    return image_uris.retrieve("xgboost", region, version=XGBOOST_FRAMEWORK_VERSION)


def build_pipeline_definition(settings: PipelineSettings) -> str:
    """The pipeline definition JSON: Preprocess -> Train -> Evaluate -> quality gate (one condition step:
    the threshold and, where configured, the champion margin) -> Register or Fail."""
    with (
        warnings.catch_warnings(),
        sagemaker_sdk.offline_sessions(settings.region, settings.artifacts_bucket) as session,
    ):
        # Each step prints "Running within a PipelineSession, there will be No Wait...": expected here.
        warnings.simplefilter("ignore", UserWarning)
        definition = _pipeline(settings, session).definition()
    return _with_isolated_code_path(definition, settings) if settings.private_network else definition


# Where the SDK says an isolated training job's code is: its "code" channel, assumed to hold sourcedir.tar.gz
# (sagemaker.estimator.Framework.CONTAINER_CODE_CHANNEL_SOURCEDIR_PATH). SageMaker writes a channel's object
# under its own name (/opt/ml/input/data/<channel>/<object name>), and the bundle is a CDK asset named by its hash.
SDK_CODE_CHANNEL_PATH = "/opt/ml/input/data/code/sourcedir.tar.gz"
CODE_CHANNEL_FOLDER = "/opt/ml/input/data/code"


def _with_isolated_code_path(definition: str, settings: PipelineSettings) -> str:
    """The Train step's sagemaker_submit_directory pointed at the bundle as its code channel holds it: the
    training toolkit extracts that file (sagemaker_training._files.download_and_extract) before running train.py."""
    parsed = json.loads(definition)
    (train,) = [step for step in parsed["Steps"] if step["Type"] == "Training"]
    hyperparameters = train["Arguments"]["HyperParameters"]
    if json.loads(hyperparameters["sagemaker_submit_directory"]) != SDK_CODE_CHANNEL_PATH:
        raise ValueError("the SDK no longer points an isolated job's code at its code channel: check this module")
    hyperparameters["sagemaker_submit_directory"] = json.dumps(f"{CODE_CHANNEL_FOLDER}/{settings.code_file_name}")
    return json.dumps(parsed)


def _pipeline(settings: PipelineSettings, session: PipelineSession) -> Pipeline:
    """The steps in the order a run takes them, each built from what the steps before it produce."""
    image_uri = xgboost_image_uri(settings.region)
    parameters = pipeline_parameters(settings)
    cache = CacheConfig(enable_caching=settings.training.enable_step_caching, expire_after="P30D")
    job_tags = [{"Key": ENVIRONMENT_TAG_KEY, "Value": settings.environment_name}]
    run_prefix = f"s3://{settings.artifacts_bucket}/{pipeline_prefix(settings.pipeline_name)}"
    instance_type = parameters.processing_instance_type
    code_input = ProcessingInput(source=settings.code_uri, destination=CODE_DIR, input_name="code")

    # Preprocess reads its declared input and writes its outputs, nothing else: isolated in a private network.
    preprocess_processor = job_processor(settings, session, image_uri, instance_type, job_tags, isolated=True)
    preprocess = preprocess_step(preprocess_processor, code_input, parameters, run_prefix, cache)
    split_uris = {split: preprocess.properties.ProcessingOutputConfig.Outputs[split].S3Output.S3Uri for split in SPLITS}
    train = train_step(settings, session, image_uri, parameters, split_uris, run_prefix, job_tags, cache)
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts
    evaluation_report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    # Evaluate is never isolated: it downloads the champion model itself (ml_code/champion.py), because a
    # processing input cannot be optional and most runs have a champion only after the first approval
    # (docs/private-network.md, "What isolation changes"). In a private network it reaches S3 by the gateway
    # endpoint, with the pipeline role's read of model artifacts.
    evaluate_processor = job_processor(settings, session, image_uri, instance_type, job_tags, isolated=False)
    evaluate = evaluate_step(
        settings,
        evaluate_processor,
        code_input,
        parameters,
        model_data,
        split_uris,
        evaluation_report,
        run_prefix,
        cache,
    )
    register = register_step(settings, session, image_uri, model_data, evaluate, evaluation_report)
    fail = fail_step(evaluate, evaluation_report)
    quality_gate = quality_gate_step(
        parameters, evaluate, evaluation_report, register, fail, settings.training.max_flip_rate
    )

    return Pipeline(
        name=settings.pipeline_name,
        parameters=parameters.in_definition_order(),
        steps=[preprocess, train, evaluate, quality_gate],
        sagemaker_session=session,
        # No SageMaker Experiments trial per run: nothing here reads it, and it would need more permissions.
        pipeline_experiment_config=None,
        # No timestamped job-name prefixes: two synths give the same definition (aws/sagemaker-python-sdk#4142).
        pipeline_definition_config=PipelineDefinitionConfig(use_custom_job_prefix=False),
    )
