"""The model the environment's endpoint serves: the champion a run is compared with."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

NO_CHAMPION = [{"Name": "ChampionModelUri", "Value": ""}, {"Name": "ChampionModelPackageArn", "Value": ""}]


def champion_parameters(sagemaker: Any, endpoint_name: str) -> list[dict[str, str]]:
    """ChampionModelUri and ChampionModelPackageArn of the model serving on the environment's endpoint; empty
    without one.

    The version that serves, read from the endpoint itself: its EndpointConfigName (the config serving, also
    while an update rolls another out, DescribeEndpoint), that config's model, and the model package the deploy
    workflow made the model from (`Containers=[{ModelPackageName}]`). Not "the Approved package approved last":
    editing an old package moves its LastModifiedTime, and a rollout may have rolled back.
    """
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationException":  # no endpoint (yet)
            return NO_CHAMPION
        raise
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
    package_arn = containers[0].get("ModelPackageName")
    if not package_arn:
        return NO_CHAMPION
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    model_data_url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    return [
        {"Name": "ChampionModelUri", "Value": model_data_url},
        {"Name": "ChampionModelPackageArn", "Value": package["ModelPackageArn"]},
    ]
