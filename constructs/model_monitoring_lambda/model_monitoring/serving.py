"""Which model package version the endpoint serves: DescribeEndpoint -> its EndpointConfigName (during a blue/green
update still the old, serving config) -> the variant's model -> the model's ModelPackageName (the deploy workflow
creates every model from its package: CreateModel with Containers [{ModelPackageName}])."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def serving_package(sagemaker: Any, endpoint_name: str, variant_name: str) -> tuple[dict[str, Any] | None, str]:
    """(DescribeModelPackage's answer, "") or (None, why there is none)."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationException":  # "Could not find endpoint ..."
            return None, f"endpoint {endpoint_name} does not exist (no model approved yet, or torn down)"
        raise
    config_name = endpoint.get("EndpointConfigName")
    if not config_name:
        return None, f"endpoint {endpoint_name} has no endpoint config (status {endpoint.get('EndpointStatus')})"
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    variants = [v for v in config["ProductionVariants"] if v["VariantName"] == variant_name]
    if not variants:
        return None, f"endpoint config {config_name} has no variant {variant_name}"
    model = sagemaker.describe_model(ModelName=variants[0]["ModelName"])
    containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
    package_name = containers[0].get("ModelPackageName")
    if not package_name:
        return None, f"model {variants[0]['ModelName']} was not created from a model package"
    return sagemaker.describe_model_package(ModelPackageName=package_name), ""
