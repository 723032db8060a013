"""Reasons, in the template, for findings an independent IaC scanner reports that the project leaves as they are.

checkov reads a resource's `Metadata.checkov.skip` list ({"id", "comment"}) and reports the check as skipped with
that comment, so a reviewer running it sees the reason instead of a finding (docs/private-network.md, "Scanners").
cdk-nag's acknowledgements (constructs/permissions.py) are the same idea for cdk-nag's own rules.
"""

from __future__ import annotations

from aws_cdk import CfnResource

from constructs import IConstruct

# The reasons that recur, one wording each.
NO_RESERVED_CONCURRENCY = (
    "Invoked by EventBridge rules, Step Functions or CloudFormation at a handful of calls per run or deploy; "
    "reserving concurrency would take capacity from the account's shared pool for no protection"
)
CALLER_WAITS = (
    "Invoked synchronously by a caller that handles its failure (a Step Functions task with retries and catches, "
    "or a CloudFormation custom resource whose operation fails without its answer); a Lambda dead-letter queue "
    "receives only asynchronous invocations"
)
NETWORK_OFF = (
    "This environment's network mode is off (cdk.json network; docs/private-network.md): functions, jobs and the "
    "model run outside any VPC here; stg and prod run in their VPC"
)


def skip_checkov(scope: IConstruct, check_id: str, comment: str) -> None:
    """`check_id` skipped on the CloudFormation resource of `scope`, with `comment` as the reason."""
    resource = scope if isinstance(scope, CfnResource) else scope.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{scope.node.path} has no CloudFormation resource to carry a checkov skip")
    skips = [skip for skip in (resource.get_metadata("checkov") or {}).get("skip", []) if skip["id"] != check_id]
    resource.add_metadata("checkov", {"skip": [*skips, {"id": check_id, "comment": comment}]})


def skip_function_checks(function: IConstruct, *, has_dead_letter_queue: bool, in_vpc: bool) -> None:
    """The checks every function of the project (and CDK's own provider function) leaves, with their reasons."""
    skip_checkov(function, "CKV_AWS_115", NO_RESERVED_CONCURRENCY)
    if not has_dead_letter_queue:
        skip_checkov(function, "CKV_AWS_116", CALLER_WAITS)
    if not in_vpc:
        skip_checkov(function, "CKV_AWS_117", NETWORK_OFF)
