"""The model package group's approvals as the registry shows them: only to seed the ledger (`ledger.py`).

A package's LastModifiedTime is the time of its approval only until someone edits or archives it ("Model
Package State Change" fires for those too), so after the seed the ledger's record of approval events decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .decisions import Approval


def approval_of(package: Mapping[str, Any]) -> Approval:
    approved_at = package.get("LastModifiedTime") or package["CreationTime"]
    if not isinstance(approved_at, datetime):
        approved_at = datetime.fromisoformat(str(approved_at))
    return Approval(
        package_arn=package["ModelPackageArn"], version=int(package["ModelPackageVersion"]), approved_at=approved_at
    )


def registry_approvals(sagemaker: Any, group_name: str) -> list[Approval]:
    """Every Approved package of the group, approved (as far as the registry can say) at its LastModifiedTime.

    Described one by one (the listing has no LastModifiedTime): once per ledger, when it is seeded.
    """
    approvals = []
    pages = sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group_name, ModelApprovalStatus="Approved"
    )
    for page in pages:
        for summary in page["ModelPackageSummaryList"]:
            package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            if package.get("ModelApprovalStatus") == "Approved":  # it may have changed since the listing
                approvals.append(approval_of(package))
    return approvals
