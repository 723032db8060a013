"""The model package group's approvals: the one arbiter every execution consults at each decision point.

Concurrent executions (two approvals, or one approval delivered several times) never coordinate directly. Each
asks the registry which package was approved last and the endpoint whether a rollout runs; SageMaker refuses a
second UpdateEndpoint while one is in progress ("Cannot update in-progress endpoint"), which makes the endpoint
itself the lock. So whatever the order of events and timers, only the latest approval starts a rollout once the
endpoint is free, and an overtaken execution ends `superseded`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .decisions import Approval, latest_approval


def approval_of(package: Mapping[str, Any]) -> Approval:
    # An approval changes the package, so LastModifiedTime is the approval's time (DescribeModelPackage).
    approved_at = package.get("LastModifiedTime") or package["CreationTime"]
    if not isinstance(approved_at, datetime):
        approved_at = datetime.fromisoformat(str(approved_at))
    return Approval(
        package_arn=package["ModelPackageArn"], version=int(package["ModelPackageVersion"]), approved_at=approved_at
    )


def latest_approved_package(sagemaker: Any, group_name: str) -> Approval | None:
    """The most recently approved package of the group, read from the registry now."""
    approvals = []
    pages = sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group_name, ModelApprovalStatus="Approved"
    )
    for page in pages:
        for summary in page["ModelPackageSummaryList"]:
            package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            if package.get("ModelApprovalStatus") == "Approved":  # it may have changed since the listing
                approvals.append(approval_of(package))
    return latest_approval(approvals)
