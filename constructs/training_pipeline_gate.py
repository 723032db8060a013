"""The training pipeline's quality gate: one condition step after Evaluate, then Register or Fail.

The gate reads what Evaluate wrote in evaluation.json (the JSON paths are in training_pipeline_settings.py): the
model is registered for approval only if every rule holds, and otherwise the run fails with Evaluate's sentence.
"""

from __future__ import annotations

from typing import Any

from constructs import sagemaker_sdk  # noqa: F401  (before the SDK: importing it quiets the SDK; see the module)
from constructs.training_pipeline_jobs import PipelineParameters
from constructs.training_pipeline_settings import (
    AUC_JSON_PATH,
    CHAMPION_FLOOR_JSON_PATH,
    FLIP_MARGIN_JSON_PATH,
    GATE_REASON_JSON_PATH,
    SERVING_CODE_DIRECTORY,
    PipelineSettings,
)

# isort: split
from sagemaker.drift_check_baselines import DriftCheckBaselines
from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep


def _evaluation_value(evaluate: ProcessingStep, evaluation_report: PropertyFile, json_path: str) -> JsonGet:
    """A value of the run's evaluation.json, read by a later step."""
    return JsonGet(step_name=evaluate.name, property_file=evaluation_report, json_path=json_path)


def register_step(
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
            "PREDICTION_THRESHOLD": str(settings.training.label_threshold),
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


def fail_step(evaluate: ProcessingStep, evaluation_report: PropertyFile) -> FailStep:
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


def quality_gate_step(
    parameters: PipelineParameters,
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
