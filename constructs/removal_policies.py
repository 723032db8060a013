"""What happens to an environment's resources when CloudFormation deletes or replaces them.

`cdk.json` says per environment whether its data outlives its stacks (`removal_policy`: destroy or retain).
Retained resources use CloudFormation's `RetainExceptOnCreate` (CDK's RETAIN_ON_UPDATE_OR_DELETE): kept on a stack
delete and on a replacement, but deleted when the stack's first create fails and rolls back, when nothing of value
can be in them yet; with plain `Retain`, the retry of a failed first create would meet them and fail with
"already exists" (CloudFormation User Guide, "DeletionPolicy attribute", RetainExceptOnCreate). What is kept,
and what a redeploy after `cdk destroy` must delete or import: docs/deployment-runbook.md, "Life of the stacks".
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy


def environment_removal_policy(destroy_on_removal: bool) -> RemovalPolicy:
    return RemovalPolicy.DESTROY if destroy_on_removal else RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
