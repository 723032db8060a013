"""The champion a run is compared with (champion.py): the model the environment's endpoint serves."""

from __future__ import annotations

from typing import Any

from constructs.training_trigger_lambda.training_trigger import (
    on_upload,
)
from tests.infra.support.trigger_world import (
    ENDPOINT,
    GOOD_CSV,
    MODEL_PACKAGE_GROUP,
    NO_CHAMPION,
    Aws,
    mocked_aws,  # noqa: F401  (the fixture `aws`: the tests name it)
    upload,
)


def register(aws: Aws, model_data_url: str) -> str:
    """A package in the group as the pipeline's Register step creates it: PendingManualApproval."""
    return aws.sagemaker.create_model_package(
        ModelPackageGroupName=MODEL_PACKAGE_GROUP,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5",
                            "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]  # fmt: skip


def decide(aws: Aws, package_arn: str, status: str) -> None:
    aws.sagemaker.update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus=status)


def started_parameters(aws: Aws, result: dict[str, Any]) -> dict[str, str]:
    parameters = aws.sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=result["pipeline_execution_arn"]
    )["PipelineParameters"]
    return {parameter["Name"]: parameter["Value"] for parameter in parameters}


def serve(aws: Aws, package_arn: str, version: int) -> None:
    """What the deploy workflow leaves behind: a model of the package, its config, the endpoint on it."""
    name = f"{ENDPOINT}-v{version}-abcd1234"
    aws.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/model",
        Containers=[{"ModelPackageName": package_arn}],
    )
    aws.sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    # moto has no UpdateEndpoint: a new endpoint on the config stands for the update.
    if any(e["EndpointName"] == ENDPOINT for e in aws.sagemaker.list_endpoints()["Endpoints"]):
        aws.sagemaker.delete_endpoint(EndpointName=ENDPOINT)
    aws.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=name)


def test_the_run_is_compared_with_the_model_the_endpoint_serves(aws: Aws) -> None:
    first = register(aws, "s3://artifacts/models/1/model.tar.gz")
    second = register(aws, "s3://artifacts/models/2/model.tar.gz")
    register(aws, "s3://artifacts/models/3/model.tar.gz")  # newest, still waiting for approval
    decide(aws, first, "Approved")
    decide(aws, second, "Approved")
    serve(aws, second, 2)

    parameters = started_parameters(aws, on_upload.handler(upload(aws, "incoming/a.csv", GOOD_CSV), None))

    assert parameters["ChampionModelUri"] == "s3://artifacts/models/2/model.tar.gz"
    assert parameters["ChampionModelPackageArn"] == second


def test_an_older_version_serving_again_is_the_champion_even_after_a_newer_one_was_edited(aws: Aws) -> None:
    # Rolled back to v1 (approved again); then v2's metadata is edited, which moves its LastModifiedTime.
    first = register(aws, "s3://artifacts/models/1/model.tar.gz")
    second = register(aws, "s3://artifacts/models/2/model.tar.gz")
    decide(aws, first, "Approved")
    decide(aws, second, "Approved")
    serve(aws, first, 1)
    decide(aws, second, "Approved")

    parameters = started_parameters(aws, on_upload.handler(upload(aws, "incoming/a.csv", GOOD_CSV), None))

    assert parameters["ChampionModelPackageArn"] == first


def test_without_an_endpoint_there_is_no_champion(aws: Aws) -> None:
    decide(aws, register(aws, "s3://artifacts/models/1/model.tar.gz"), "Approved")

    parameters = started_parameters(aws, on_upload.handler(upload(aws, "incoming/a.csv", GOOD_CSV), None))

    assert {name: parameters[name] for name in ("ChampionModelUri", "ChampionModelPackageArn")} == {
        item["Name"]: item["Value"] for item in NO_CHAMPION
    }
