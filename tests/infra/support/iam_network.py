"""What placing a job, a model or a function in a VPC needs from its role (private network mode).

The service does it as the role: Lambda attaches a function to its subnets (AWS Lambda Developer Guide, "Giving
Lambda functions access to resources in an Amazon VPC", execution role permissions); SageMaker places jobs and
models (SageMaker Developer Guide, "Give SageMaker training jobs access to resources in your Amazon VPC",
"... hosted endpoints ..."). Each action's resources follow the Service Authorization Reference: an ENI, and for
CreateNetworkInterface the subnet and security group it goes into; describes take `*`.
"""

from __future__ import annotations

from collections.abc import Iterable

from constructs.private_network import LAMBDA_NETWORK_ACTIONS, SAGEMAKER_NETWORK_ACTIONS
from tests.infra.support.iam_needs import Context
from tests.infra.support.iam_policy import Need
from tests.infra.support.iam_reference import arn_formats

INTERFACE_ID = "eni-0123456789abcdef0"  # a network interface the service creates: a stand-in id


def network_needs(
    ctx: Context, service: str, subnets: Iterable[str], security_groups: Iterable[str], why: str
) -> list[Need]:
    actions = LAMBDA_NETWORK_ACTIONS if service == "lambda" else SAGEMAKER_NETWORK_ACTIONS
    resources = {
        "network-interface": [ctx.arn("ec2", f"network-interface/{INTERFACE_ID}")],
        "subnet": [ctx.arn("ec2", f"subnet/{subnet}") for subnet in subnets],
        "security-group": [ctx.arn("ec2", f"security-group/{group}") for group in security_groups],
    }
    needs = []
    for action in actions:
        # The types the reference marks required (an optional one, such as CreateNetworkInterface's security
        # group, is not checked on its own), else `*`.
        types = [kind.rstrip("*") for kind, (required, _) in arn_formats(action).items() if required]
        if not types:
            needs.append(Need(action, "*", why=why))
        for resource_type in types:
            needs += [Need(action, resource, why=why) for resource in resources[resource_type]]
    return needs
