"""The SageMaker Pipeline definition, built offline at synth time with the SageMaker Python SDK 2.x.

One function from explicit arguments to the definition's JSON: build_pipeline_definition, whose _pipeline lists
the steps in run order, each built by its own function (_preprocess_step, _train_step, _evaluate_step, then the
gate: _register_step, _fail_step, _quality_gate_step) from what the steps before it produce. Everything
SDK-specific stays in this module, so moving to SDK 3.x (which moved the workflow module) touches this file only;
that is why it is one file of ~480 lines rather than a module per step.

The SDK runs offline only if it never needs AWS: an explicit region and default bucket, scripts as
`s3://` URIs, a full role ARN and telemetry off. CDK tokens are not valid S3 URIs or ARNs for the SDK's
parsers, so callers pass valid placeholder strings and swap the tokens back into the JSON afterwards.
"""

from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass
from typing import Any

from constructs import sagemaker_sdk  # before the SDK: importing it quiets the SDK (see the module)
from constructs.xgboost_image import XGBOOST_FRAMEWORK_VERSION
from settings.resource_names import TRAINING_OUTPUT_FOLDER, pipeline_prefix

# isort: split
from sagemaker import image_uris
from sagemaker.drift_check_baselines import DriftCheckBaselines
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.network import NetworkConfig
from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.pipeline_definition_config import PipelineDefinitionConfig
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep
from sagemaker.xgboost import XGBoost

# The path evaluate.py writes the ROC-AUC at in evaluation.json; the condition reads exactly this.
AUC_JSON_PATH = "binary_classification_metrics.auc.value"
# Where evaluate.py writes the champion rule's floor (the champion's ROC-AUC minus the margin; 0 without a
# champion): the gate's second condition reads it.
CHAMPION_FLOOR_JSON_PATH = "champion_comparison.gate.minimum_auc"
# Where evaluate.py writes, in one sentence, which rule of the gate failed and by how much (with the AUC,
# the threshold, the serving model's AUC and the margin): the Fail step's message reads it.
GATE_REASON_JSON_PATH = "quality_gate.reason"
# The flip-rate gate's margin (ml_code/decision_stability.py), read only when training.max_flip_rate is set.
FLIP_MARGIN_JSON_PATH = "champion_comparison.flip_gate.margin"
# Matches the per-round line xgboost prints for the eval set named "validation" (see ml_code/train.py).
VALIDATION_AUC_METRIC_REGEX = r"validation-auc:([0-9.]+)"
# Every job a run creates carries this tag, valued with the environment's name: the pipeline role may create,
# describe and stop only jobs tagged with its own environment (aws:RequestTag / aws:ResourceTag conditions).
ENVIRONMENT_TAG_KEY = "mlops:environment"
# The model package's SAGEMAKER_SUBMIT_DIRECTORY: the serving code inside the model artifact, where train.py writes
# it (ml_code/model_io.py, SERVING_CODE_DIR_NAME) and SageMaker extracts model.tar.gz (/opt/ml/model). Each version
# serves with the code it was trained with; the model role reads nothing else but the model.
SERVING_CODE_DIRECTORY = "/opt/ml/model/code"
# train.py bounds every wait between training hosts by a share of the job's maximum runtime, read from here.
TRAINING_MAX_RUNTIME_ENV = "TRAINING_MAX_RUNTIME_SECONDS"

PROCESSING_ROOT = "/opt/ml/processing"
# What Preprocess writes and Evaluate reads, each a processing output/input of that name.
SPLITS = ("train", "validation", "test")
CODE_DIR = f"{PROCESSING_ROOT}/input/code"
# Processing jobs get the same code bundle as training: unpack it, then run the named script with the
# job's arguments ("$1" is the script, the rest its arguments).
RUN_FROM_BUNDLE = (
    'set -euo pipefail; mkdir -p /opt/ml/code; tar -xzf "$(ls ' + CODE_DIR + '/*)" -C /opt/ml/code; '
    'script="$1"; shift; exec python3 "/opt/ml/code/$script" "$@"'
)


@dataclass(frozen=True)
class PipelineSettings:
    """What the definition depends on. Strings that are CDK tokens at synth time arrive as placeholders."""

    pipeline_name: str
    environment_name: str
    region: str
    role_arn: str
    artifacts_bucket: str
    code_uri: str  # s3:// URI of the ml_code bundle (sourcedir.tar.gz)
    kms_key_arn: str
    model_package_group_name: str
    auc_threshold: float
    # Every environment's threshold (environment name -> threshold): each run's report shows them all.
    auc_thresholds: tuple[tuple[str, float], ...]
    # None: no champion gate.
    champion_auc_margin: float | None
    processing_instance_type: str
    training_instance_type: str
    training_instance_count: int
    training_volume_size_gb: int
    max_runtime_seconds: int
    enable_step_caching: bool
    encrypt_inter_container_traffic: bool
    # The endpoint's label cut-off: registered in the model package's environment, shown in the run's report.
    label_threshold: float = 0.5
    # Private network mode (docs/private-network.md): the jobs' subnets and security groups. Empty: no VPC, and
    # no job isolated (today's definition).
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    # The code bundle's object name (the last part of code_uri's key): where an isolated training job finds it.
    code_file_name: str = "sourcedir.tar.gz"

    @property
    def private_network(self) -> bool:
        return bool(self.subnet_ids)

    # The flip-rate gate (ml_code/decision_stability.py): None, no gate.
    max_flip_rate: float | None = None


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


@dataclass(frozen=True)
class _Parameters:
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


def _pipeline(settings: PipelineSettings, session: PipelineSession) -> Pipeline:
    """The steps in the order a run takes them, each built from what the steps before it produce."""
    image_uri = xgboost_image_uri(settings.region)
    parameters = _parameters(settings)
    cache = CacheConfig(enable_caching=settings.enable_step_caching, expire_after="P30D")
    job_tags = [{"Key": ENVIRONMENT_TAG_KEY, "Value": settings.environment_name}]
    run_prefix = f"s3://{settings.artifacts_bucket}/{pipeline_prefix(settings.pipeline_name)}"
    instance_type = parameters.processing_instance_type
    code_input = ProcessingInput(source=settings.code_uri, destination=CODE_DIR, input_name="code")

    # Preprocess reads its declared input and writes its outputs, nothing else: isolated in a private network.
    preprocess_processor = _processor(settings, session, image_uri, instance_type, job_tags, isolated=True)
    preprocess = _preprocess_step(preprocess_processor, code_input, parameters, run_prefix, cache)
    split_uris = {split: preprocess.properties.ProcessingOutputConfig.Outputs[split].S3Output.S3Uri for split in SPLITS}
    train = _train_step(settings, session, image_uri, parameters, split_uris, run_prefix, job_tags, cache)
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts
    evaluation_report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    # Evaluate is never isolated: it downloads the champion model itself (ml_code/champion.py), because a
    # processing input cannot be optional and most runs have a champion only after the first approval
    # (docs/private-network.md, "What isolation changes"). In a private network it reaches S3 by the gateway
    # endpoint, with the pipeline role's read of model artifacts.
    evaluate_processor = _processor(settings, session, image_uri, instance_type, job_tags, isolated=False)
    evaluate = _evaluate_step(
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
    register = _register_step(settings, session, image_uri, model_data, evaluate, evaluation_report)
    fail = _fail_step(evaluate, evaluation_report)
    quality_gate = _quality_gate_step(parameters, evaluate, evaluation_report, register, fail, settings.max_flip_rate)

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


def _parameters(settings: PipelineSettings) -> _Parameters:
    return _Parameters(
        input_data_uri=ParameterString(name="InputDataUri"),
        # What the trigger knows about the run's input and the serving model; empty when started by hand.
        input_data_version=ParameterString(name="InputDataVersion", default_value=""),
        # The model.tar.gz of the environment's serving (most recently approved) package; empty: no champion.
        champion_model_uri=ParameterString(name="ChampionModelUri", default_value=""),
        champion_model_package_arn=ParameterString(name="ChampionModelPackageArn", default_value=""),
        champion_auc_margin=(
            None
            if settings.champion_auc_margin is None
            else ParameterFloat(name="ChampionAucMargin", default_value=settings.champion_auc_margin)
        ),
        auc_threshold=ParameterFloat(name="AucThreshold", default_value=settings.auc_threshold),
        processing_instance_type=ParameterString(
            name="ProcessingInstanceType", default_value=settings.processing_instance_type
        ),
        training_instance_type=ParameterString(
            name="TrainingInstanceType", default_value=settings.training_instance_type
        ),
        training_instance_count=ParameterInteger(
            name="TrainingInstanceCount", default_value=settings.training_instance_count
        ),
    )


def _run_output(run_prefix: str, *parts: str) -> Join:
    # Every execution writes under its own id, so runs never overwrite each other.
    return Join(on="/", values=[run_prefix, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts])


def _processor(
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
        max_runtime_in_seconds=settings.max_runtime_seconds,
        network_config=NetworkConfig(
            encrypt_inter_container_traffic=settings.encrypt_inter_container_traffic,
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


def _preprocess_step(
    processor: Processor,
    code_input: ProcessingInput,
    parameters: _Parameters,
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


def _train_step(
    settings: PipelineSettings,
    session: PipelineSession,
    image_uri: str,
    parameters: _Parameters,
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
        volume_size=settings.training_volume_size_gb,
        volume_kms_key=settings.kms_key_arn,
        output_kms_key=settings.kms_key_arn,
        max_run=settings.max_runtime_seconds,
        image_uri=image_uri,  # the SDK would look it up again from framework_version
        environment={TRAINING_MAX_RUNTIME_ENV: str(settings.max_runtime_seconds)},
        # A static prefix: a pipeline-variable output_path makes the SDK ask S3 for its default bucket.
        # Runs still never collide: SageMaker names each job pipelines-<execution id>-Train-<suffix>,
        # and the model lands under that name.
        output_path=f"{run_prefix}/{TRAINING_OUTPUT_FOLDER}",
        encrypt_inter_container_traffic=settings.encrypt_inter_container_traffic,
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


def _evaluate_step(
    settings: PipelineSettings,
    processor: Processor,
    code_input: ProcessingInput,
    parameters: _Parameters,
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
                str(settings.label_threshold),
                # A processing input cannot be optional (an S3 input must name existing objects), so the
                # champion arrives as a URI that evaluate downloads itself when it is not empty.
                "--champion-model-uri",
                parameters.champion_model_uri.to_string(),
                "--champion-model-package-arn",
                parameters.champion_model_package_arn.to_string(),
                *([] if champion_margin is None else ["--champion-auc-margin", champion_margin.to_string()]),
                *([] if settings.max_flip_rate is None else ["--max-flip-rate", str(settings.max_flip_rate)]),
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


def _evaluation_value(evaluate: ProcessingStep, evaluation_report: PropertyFile, json_path: str) -> JsonGet:
    """A value of the run's evaluation.json, read by a later step."""
    return JsonGet(step_name=evaluate.name, property_file=evaluation_report, json_path=json_path)


def _register_step(
    settings: PipelineSettings,
    session: PipelineSession,
    image_uri: str,
    model_data: Any,
    evaluate: ProcessingStep,
    evaluation_report: PropertyFile,
) -> ModelStep:
    """The model registered as PendingManualApproval, with its ROC-AUC and the links to its evaluation and report."""
    # Where Evaluate's output really is: after a cache hit that is the earlier run's folder, and nothing is
    # written under this execution's id (a step's cache key is its inputs, not its outputs).
    evaluation_folder = evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri
    evaluation_uri = Join(on="/", values=[evaluation_folder, "evaluation.json"])
    report_uri = Join(on="/", values=[evaluation_folder, "report.html"])
    # What the monitoring job compares served traffic with (ml_code/monitoring_baseline.py), found from the package.
    baseline_uri = Join(on="/", values=[evaluation_folder, "monitoring_baseline.json"])
    model = Model(
        image_uri=image_uri,
        model_data=model_data,
        role=settings.role_arn,
        # The serving container runs ml_code's inference.py only if these two are set
        # (aws/sagemaker-python-sdk#2014). The code is the copy train.py wrote into the model itself: a local
        # directory, which sagemaker-containers copies to /opt/ml/code (_files.download_and_extract) as it would
        # extract an S3 tarball; the SDK's repack points framework models at the same folder.
        env={
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": SERVING_CODE_DIRECTORY,
            "SAGEMAKER_REGION": settings.region,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            # Read by inference.py (inference_handlers.THRESHOLD_ENV): the package serves with the cut-off its
            # report shows, wherever and whenever it is approved.
            "PREDICTION_THRESHOLD": str(settings.label_threshold),
        },
        sagemaker_session=session,
    )
    auc = _evaluation_value(evaluate, evaluation_report, AUC_JSON_PATH)
    return ModelStep(
        name="Register",
        step_args=model.register(
            content_types=["text/csv", "application/json"],
            response_types=["text/csv", "application/json"],
            model_package_group_name=settings.model_package_group_name,
            approval_status="PendingManualApproval",
            model_metrics=ModelMetrics(
                model_statistics=MetricsSource(s3_uri=evaluation_uri, content_type="application/json")
            ),
            drift_check_baselines=DriftCheckBaselines(
                model_data_statistics=MetricsSource(s3_uri=baseline_uri, content_type="application/json")
            ),
            customer_metadata_properties={
                "auc": Join(on="", values=[auc]),
                "evaluation_uri": evaluation_uri,
                "report_uri": report_uri,
            },
            description="Registered by the training pipeline; review report_uri before approving.",
        ),
    )


def _fail_step(evaluate: ProcessingStep, evaluation_report: PropertyFile) -> FailStep:
    """The run fails with Evaluate's sentence: a Fail step cannot tell which condition failed, but Evaluate, which
    received the same threshold and margin, wrote it with the numbers (e.g. "ROC-AUC 0.8100 is 0.0400 below the
    threshold 0.85")."""
    return FailStep(
        name="QualityGateFailed",
        error_message=Join(
            on=" ",
            values=["Quality gate failed:", _evaluation_value(evaluate, evaluation_report, GATE_REASON_JSON_PATH)],
        ),
    )


def _quality_gate_step(
    parameters: _Parameters,
    evaluate: ProcessingStep,
    evaluation_report: PropertyFile,
    register: ModelStep,
    fail: FailStep,
    max_flip_rate: float | None = None,
) -> ConditionStep:
    """One condition step for the whole gate: SageMaker does not support a condition step inside another
    (constructs/pipeline_definition_limits.py). Its conditions must all hold: the threshold rule reads the
    AucThreshold parameter (ops see it here); the champion rule reads the floor Evaluate computed from the
    ChampionAucMargin parameter (0 without a serving model)."""
    auc = _evaluation_value(evaluate, evaluation_report, AUC_JSON_PATH)
    conditions = [ConditionGreaterThanOrEqualTo(left=auc, right=parameters.auc_threshold)]
    if parameters.champion_auc_margin is not None:
        champion_floor = _evaluation_value(evaluate, evaluation_report, CHAMPION_FLOOR_JSON_PATH)
        conditions.append(ConditionGreaterThanOrEqualTo(left=auc, right=champion_floor))
    if max_flip_rate is not None:
        # Evaluate writes max_flip_rate - flip rate (0 without a serving model): at least 0 passes.
        flip_margin = _evaluation_value(evaluate, evaluation_report, FLIP_MARGIN_JSON_PATH)
        conditions.append(ConditionGreaterThanOrEqualTo(left=flip_margin, right=0.0))
    return ConditionStep(name="CheckQualityGate", conditions=conditions, if_steps=[register], else_steps=[fail])
