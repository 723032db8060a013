"""The notices, as subject and body:

- Pipeline execution Failed: which step failed and why (the event itself does not say; ask SageMaker).
- Model package registered (PendingManualApproval): version, AUC, where the report is, how to approve.
"""

from __future__ import annotations

from typing import Any

from .constants import SNS_SUBJECT_MAX_CHARS


def failed_steps(steps: list[dict[str, Any]]) -> list[str]:
    """'Step: reason' for each failed step, in the order SageMaker lists them."""
    return [
        f"{step['StepName']}: {step.get('FailureReason', 'no reason given')}"
        for step in steps
        if step.get("StepStatus") == "Failed"
    ]


def pipeline_failed_message(environment: str, detail: dict[str, Any], steps: list[dict[str, Any]]) -> tuple[str, str]:
    failures = failed_steps(steps) or ["no step reported a failure; see the execution in SageMaker Studio"]
    first_step = failures[0].split(":", 1)[0]
    subject = f"[{environment}] Training run failed at {first_step}"
    body = "\n".join(
        [
            f"The training pipeline run {detail['pipelineExecutionArn']} failed.",
            *(f"- {failure}" for failure in failures),
            f"Started from: {detail.get('pipelineExecutionDescription', 'unknown input')}",
        ]
    )
    return subject[:SNS_SUBJECT_MAX_CHARS], body


def model_registered_message(environment: str, detail: dict[str, Any]) -> tuple[str, str]:
    metadata = detail.get("CustomerMetadataProperties", {})
    version = detail.get("ModelPackageVersion", "?")
    subject = f"[{environment}] Model version {version} awaits approval (ROC-AUC {metadata.get('auc', '?')})"
    arn = detail["ModelPackageArn"]
    body = "\n".join(
        [
            f"Model package {arn} was registered as PendingManualApproval.",
            f"ROC-AUC on the test split: {metadata.get('auc', 'unknown')}",
            f"Report: {metadata.get('report_uri', 'unknown')}",
            f"Metrics: {metadata.get('evaluation_uri', 'unknown')}",
            "Approve it to deploy it:",
            f"  aws sagemaker update-model-package --model-package-arn {arn} --model-approval-status Approved",
        ]
    )
    return subject[:SNS_SUBJECT_MAX_CHARS], body
