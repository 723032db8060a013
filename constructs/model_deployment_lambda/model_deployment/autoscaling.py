"""Application Auto Scaling of the endpoint's variant: paused around an instance-type change, restored after."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from .aws_answers import NotYetConsistent, error_code
from .aws_clients import Clients
from .constants import ENDPOINT_TAG, SCALABLE_DIMENSION


def scalable_resource(settings: Mapping[str, Any]) -> str:
    return f"endpoint/{settings['endpoint_name']}/variant/{settings['variant_name']}"


def apply_autoscaling(aws: Clients, settings: Mapping[str, Any]) -> None:
    """Register the variant's scaling as configured (deregister it where the environment has none)."""
    scaling = settings.get("autoscaling")
    if not scaling:
        deregister_autoscaling(aws, settings)
        return
    resource = scalable_resource(settings)
    aws.autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=scaling["min_instances"],
        MaxCapacity=scaling["max_instances"],
        Tags={ENDPOINT_TAG: settings["endpoint_name"]},
    )
    try:
        _put_scaling_policy(aws, settings, resource, scaling)
    except ClientError as error:
        if error_code(error) == "ObjectNotFoundException":
            # The target registered just above is not visible yet to PutScalingPolicy: "You cannot create a
            # scaling policy until you have registered the resource as a scalable target" (Application Auto
            # Scaling API reference, PutScalingPolicy,
            # https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html).
            raise NotYetConsistent(str(error)) from error
        raise


def _put_scaling_policy(aws: Clients, settings: Mapping[str, Any], resource: str, scaling: Mapping[str, Any]) -> None:
    aws.autoscaling.put_scaling_policy(
        PolicyName=f"{settings['endpoint_name']}-invocations-per-instance",
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=SCALABLE_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(scaling["target_invocations_per_instance"]),
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    )


def deregister_autoscaling(aws: Clients, settings: Mapping[str, Any]) -> None:
    """Deregister the variant's scalable target if there is one.

    Looked up first: the IAM policy lets the workflow change only targets tagged as this endpoint's, so
    deregistering a target that does not exist is refused (AccessDenied: no resource, no tag) rather than
    answered with ObjectNotFound.
    """
    found = aws.autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[scalable_resource(settings)], ScalableDimension=SCALABLE_DIMENSION
    )
    if not found.get("ScalableTargets"):
        return
    try:
        aws.autoscaling.deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=scalable_resource(settings), ScalableDimension=SCALABLE_DIMENSION
        )
    except ClientError as error:
        if error_code(error) not in {"ObjectNotFoundException", "ValidationException"}:
            raise


def pause_if_instance_type_changes(
    aws: Clients, settings: Mapping[str, Any], previous_config: Mapping[str, Any] | None
) -> bool:
    """SageMaker rejects an update changing the instance type of an autoscaled variant: deregister first.

    `previous_config`: DescribeEndpointConfig of the config serving now. Returns whether it paused; `conclude`
    registers autoscaling again whatever the outcome.
    """
    if not settings.get("autoscaling") or not previous_config:
        return False
    if {variant.get("InstanceType") for variant in previous_config["ProductionVariants"]} == {
        settings["instance_type"]
    }:
        return False
    deregister_autoscaling(aws, settings)
    return True
