"""The training pipeline's jobs, one step builder each: Preprocess, Train and Evaluate, and the run's parameters.

Each builder takes the settings (training_pipeline_settings.py), the run's parameters and what the steps before it
produce; the gate that follows Evaluate is training_pipeline_gate.py, and training_pipeline_definition.py composes
them all into the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs import sagemaker_sdk  # noqa: F401  (before the SDK: importing it quiets the SDK; see the module)
from constructs.training_pipeline_settings import (
    PROCESSING_ROOT,
    RUN_FROM_BUNDLE,
    SPLITS,
    TRAINING_MAX_RUNTIME_ENV,
    VALIDATION_AUC_METRIC_REGEX,
    PipelineSettings,
)
from constructs.xgboost_image import XGBOOST_FRAMEWORK_VERSION
from settings.resource_names import TRAINING_OUTPUT_FOLDER

# isort: split
from sagemaker.inputs import TrainingInput
from sagemaker.network import NetworkConfig
from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep
from sagemaker.xgboost import XGBoost


@dataclass(frozen=True)
class PipelineParameters:
    """The pipeline's parameters: what the trigger passes per run, and the settings ops may override per run."""

    input_data_uri: ParameterString
    input_data_version: ParameterString
    champion_model_uri: ParameterString
    champion_model_package_arn: ParameterString
    champion_auc_margin: ParameterFloat | None  # None: no champion gate
    auc_threshold: ParameterFloat
    processing_instance_type: ParameterString
    training_instance_type: ParameterString
    training_instance_count: ParameterInteger

    def in_definition_order(self) -> list[ParameterString | ParameterFloat | ParameterInteger]:
        return [
            self.input_data_uri,
            self.input_data_version,
            self.auc_threshold,
            self.champion_model_uri,
            self.champion_model_package_arn,
            *([] if self.champion_auc_margin is None else [self.champion_auc_margin]),
            self.processing_instance_type,
            self.training_instance_type,
            self.training_instance_count,
        ]


def pipeline_parameters(settings: PipelineSettings) -> PipelineParameters:
    return PipelineParameters(
        input_data_uri=ParameterString(name="InputDataUri"),
        # What the trigger knows about the run's input and the serving model; empty when started by hand.
        input_data_version=ParameterString(name="InputDataVersion", default_value=""),
        # The model.tar.gz of the environment's serving (most recently approved) package; empty: no champion.
        champion_model_uri=ParameterString(name="ChampionModelUri", default_value=""),
        champion_model_package_arn=ParameterString(name="ChampionModelPackageArn", default_value=""),
        champion_auc_margin=(
            None
            if settings.training.champion_auc_margin is None
            else ParameterFloat(name="ChampionAucMargin", default_value=settings.training.champion_auc_margin)
        ),
        auc_threshold=ParameterFloat(name="AucThreshold", default_value=settings.training.auc_threshold),
        processing_instance_type=ParameterString(
            name="ProcessingInstanceType", default_value=settings.training.processing_instance_type
        ),
        training_instance_type=ParameterString(
            name="TrainingInstanceType", default_value=settings.training.training_instance_type
        ),
        training_instance_count=ParameterInteger(
            name="TrainingInstanceCount", default_value=settings.training.training_instance_count
        ),
    )


def _run_output(run_prefix: str, *parts: str) -> Join:
    # Every execution writes under its own id, so runs never overwrite each other.
    return Join(on="/", values=[run_prefix, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts])


def job_processor(
    settings: PipelineSettings,
    session: PipelineSession,
    image_uri: str,
    instance_type: ParameterString,
    job_tags: list[dict[str, str]],
    *,
    isolated: bool,
) -> Processor:
    """A processing job of Preprocess or Evaluate: the XGBoost image running a script of the code bundle. In a
    private network it runs in the VPC, and with no network at all where `isolated`."""
    return Processor(
        role=settings.role_arn,
        image_uri=image_uri,
        instance_count=1,
        instance_type=instance_type,
        entrypoint=["/bin/bash", "-c", RUN_FROM_BUNDLE, "run-ml-code"],
        volume_kms_key=settings.kms_key_arn,
        output_kms_key=settings.kms_key_arn,
        max_runtime_in_seconds=settings.training.max_runtime_seconds,
        network_config=NetworkConfig(
            encrypt_inter_container_traffic=settings.training.encrypt_inter_container_traffic,
            **_job_network(settings, isolated),
        ),
        tags=job_tags,
        sagemaker_session=session,
    )


def _job_network(settings: PipelineSettings, isolated: bool) -> dict[str, Any]:
    """A job's VPC and isolation arguments (the same names for NetworkConfig and the estimator); none outside a
    private network, so that definition stays as it was."""
    if not settings.private_network:
        return {}
    return {
        "subnets": list(settings.subnet_ids),
        "security_group_ids": list(settings.security_group_ids),
        "enable_network_isolation": isolated,
    }


def preprocess_step(
    processor: Processor,
    code_input: ProcessingInput,
    parameters: PipelineParameters,
    run_prefix: str,
    cache: CacheConfig,
) -> ProcessingStep:
    """The uploaded CSV checked against the data contract and split into train, validation and test."""
    return ProcessingStep(
        name="Preprocess",
        step_args=processor.run(
            inputs=[
                ProcessingInput(
                    source=parameters.input_data_uri, destination=f"{PROCESSING_ROOT}/input/data", input_name="data"
                ),
                code_input,
            ],
            outputs=[
                ProcessingOutput(
                    output_name=split,
                    source=f"{PROCESSING_ROOT}/output/{split}",
                    destination=_run_output(run_prefix, "preprocess", split),
                )
                for split in SPLITS
            ],
            arguments=["preprocess.py", "--train-shards", parameters.training_instance_count.to_string()],
        ),
        cache_config=cache,
    )


def train_step(
    settings: PipelineSettings,
    session: PipelineSession,
    image_uri: str,
    parameters: PipelineParameters,
    split_uris: dict[str, Any],
    run_prefix: str,
    job_tags: list[dict[str, str]],
    cache: CacheConfig,
) -> TrainingStep:
    """XGBoost on the train split, early-stopped on the validation split; the model carries its serving code."""
    estimator = XGBoost(
        entry_point="train.py",
        source_dir=settings.code_uri,
        framework_version=XGBOOST_FRAMEWORK_VERSION,
        role=settings.role_arn,
        instance_count=parameters.training_instance_count,
        instance_type=parameters.training_instance_type,
        volume_size=settings.training.training_volume_size_gb,
        volume_kms_key=settings.kms_key_arn,
        output_kms_key=settings.kms_key_arn,
        max_run=settings.training.max_runtime_seconds,
        image_uri=image_uri,  # the SDK would look it up again from framework_version
        environment={TRAINING_MAX_RUNTIME_ENV: str(settings.training.max_runtime_seconds)},
        # A static prefix: a pipeline-variable output_path makes the SDK ask S3 for its default bucket.
        # Runs still never collide: SageMaker names each job pipelines-<execution id>-Train-<suffix>,
        # and the model lands under that name.
        output_path=f"{run_prefix}/{TRAINING_OUTPUT_FOLDER}",
        encrypt_inter_container_traffic=settings.training.encrypt_inter_container_traffic,
        # Isolated in a private network: the SDK then hands the code bundle over as a "code" input channel,
        # and train.py reads only its channels (training hosts still reach each other).
        **_job_network(settings, isolated=True),
        metric_definitions=[{"Name": "validation:auc", "Regex": VALIDATION_AUC_METRIC_REGEX}],
        disable_profiler=True,
        debugger_hook_config=False,
        tags=job_tags,
        sagemaker_session=session,
    )
    return TrainingStep(
        name="Train",
        step_args=estimator.fit(
            {
                # Each training instance reads only its own train files; the validation split goes whole to each.
                "train": TrainingInput(s3_data=split_uris["train"], distribution="ShardedByS3Key"),
                "validation": TrainingInput(s3_data=split_uris["validation"]),
            }
        ),
        cache_config=cache,
    )


def evaluate_step(
    settings: PipelineSettings,
    processor: Processor,
    code_input: ProcessingInput,
    parameters: PipelineParameters,
    model_data: Any,
    split_uris: dict[str, Any],
    evaluation_report: PropertyFile,
    run_prefix: str,
    cache: CacheConfig,
) -> ProcessingStep:
    """The model scored on the test split (and against the champion, when there is one): evaluation.json, with
    the gate's verdict and reason, and report.html."""
    champion_margin = parameters.champion_auc_margin
    return ProcessingStep(
        name="Evaluate",
        step_args=processor.run(
            inputs=[
                ProcessingInput(source=model_data, destination=f"{PROCESSING_ROOT}/input/model", input_name="model"),
                *(
                    ProcessingInput(
                        source=split_uris[split], destination=f"{PROCESSING_ROOT}/input/{split}", input_name=split
                    )
                    for split in SPLITS
                ),
                code_input,
            ],
            outputs=[
                ProcessingOutput(
                    output_name="evaluation",
                    source=f"{PROCESSING_ROOT}/output/evaluation",
                    destination=_run_output(run_prefix, "evaluate"),
                )
            ],
            arguments=[
                "evaluate.py",
                *(
                    argument
                    for split in ("train", "validation")
                    for argument in (f"--{split}-dir", f"{PROCESSING_ROOT}/input/{split}")
                ),
                "--environment",
                settings.environment_name,
                # The gate's threshold for this run, so that Evaluate's verdict and reason use it too.
                "--auc-threshold",
                parameters.auc_threshold.to_string(),
                "--auc-thresholds",
                ",".join(f"{name}={threshold}" for name, threshold in settings.auc_thresholds),
                "--label-threshold",
                str(settings.training.label_threshold),
                # A processing input cannot be optional (an S3 input must name existing objects), so the
                # champion arrives as a URI that evaluate downloads itself when it is not empty.
                "--champion-model-uri",
                parameters.champion_model_uri.to_string(),
                "--champion-model-package-arn",
                parameters.champion_model_package_arn.to_string(),
                *([] if champion_margin is None else ["--champion-auc-margin", champion_margin.to_string()]),
                *(
                    []
                    if settings.training.max_flip_rate is None
                    else ["--max-flip-rate", str(settings.training.max_flip_rate)]
                ),
                "--input-data-uri",
                parameters.input_data_uri.to_string(),
                "--input-data-version",
                parameters.input_data_version.to_string(),
                "--execution-id",
                ExecutionVariables.PIPELINE_EXECUTION_ID.to_string(),
                "--code-bundle-uri",
                settings.code_uri,
            ],
        ),
        property_files=[evaluation_report],
        cache_config=cache,
    )
