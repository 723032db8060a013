"""One AWS account for the deploy workflow's tests: moto for the registry, SNS, CloudWatch, Application Auto
Scaling and Step Functions; the endpoint-lifecycle double for SageMaker endpoints; a queue on the topic."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import boto3

from constructs.model_deployment import workflow_settings
from constructs.model_deployment_lambda.model_deployment.aws_clients import Clients
from settings.loading import load_environments
from tests.infra.support import documented_support
from tests.infra.support.synthesis import cdk_json_context
from twin.sagemaker_endpoint_double import SageMakerEndpointDouble

REGION = "eu-west-1"
ACCOUNT = "123456789012"
GROUP = "mlops-test-models"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5"
CONFIGS = {config.name: config for config in load_environments(cdk_json_context())}


def settings_for(environment: str, *, endpoint_name: str | None = None, **overrides: Any) -> dict[str, Any]:
    settings = workflow_settings(
        environment_name=environment,
        endpoint_name=endpoint_name or f"mlops-{environment}",
        settings=CONFIGS[environment].deployment,
        model_package_group_name=GROUP,
        model_role_arn=f"arn:aws:iam::{ACCOUNT}:role/model-role",
        kms_key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        data_capture_s3_uri=f"s3://artifacts/data-capture/mlops-{environment}",
        topic_arn=f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-{environment}",
        ledger_table_name=f"mlops-{environment}-deploy-ledger",
    )
    return {**settings, **overrides}


def event_for(
    arn: str, status: str = "Approved", group: str = GROUP, event_id: str | None = None, at: datetime | None = None
) -> dict[str, Any]:
    """A "SageMaker Model Package State Change" event as EventBridge delivers it, made now (or `at`)."""
    version = int(arn.rsplit("/", 1)[1])
    moment = at or datetime.now(timezone.utc)
    return {
        "version": "0",
        "id": event_id or f"event-{version}-{status}-{moment.timestamp()}",
        "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "region": REGION,
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageVersion": version,
            "ModelPackageArn": arn,
            "ModelApprovalStatus": status,
        },
    }


class World:
    """Call inside mock_aws. `clients`: botocore clients to reuse (service name -> client), e.g. from a World of
    the same test after moto was reset; the hooks this World puts on them replace the previous World's."""

    def __init__(self, settings: dict[str, Any], clients: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.reused_clients = clients if clients is not None else {}

        def client(service: str) -> Any:
            if service not in self.reused_clients:
                self.reused_clients[service] = boto3.client(service, region_name=REGION)
            return self.reused_clients[service]

        self.moto_sagemaker = client("sagemaker")
        self.cloudwatch = client("cloudwatch")
        self.sagemaker = SageMakerEndpointDouble(self.moto_sagemaker, self.cloudwatch, REGION, ACCOUNT)
        self.sns = client("sns")
        self.sqs = client("sqs")
        self.autoscaling = client("application-autoscaling")
        self.stepfunctions = client("stepfunctions")
        self.dynamodb = client("dynamodb")
        self.dynamodb.create_table(
            TableName=settings["ledger_table_name"],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        # Every request the workflow sends is checked against what the API references say is supported.
        self.unsupported_fields: list[str] = []
        for client in (self.moto_sagemaker, self.cloudwatch, self.sns, self.autoscaling, self.dynamodb):
            documented_support.install(client, self.unsupported_fields)
        self.sns.create_topic(Name=settings["topic_arn"].rsplit(":", 1)[1])
        self.queue_url = self.sqs.create_queue(QueueName="outcomes")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        self.sns.subscribe(TopicArn=settings["topic_arn"], Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
        self.moto_sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        self._received: list[dict[str, Any]] = []

    @property
    def endpoint_name(self) -> str:
        return self.settings["endpoint_name"]

    def clients(self) -> Clients:
        return Clients(
            sagemaker=self.sagemaker,
            sns=self.sns,
            autoscaling=self.autoscaling,
            stepfunctions=self.stepfunctions,
            cloudwatch=self.cloudwatch,
            dynamodb=self.dynamodb,
        )

    def fault_clients(self) -> list[Any]:
        """The clients whose calls the harness numbers and may fail (the double reports on moto's sagemaker)."""
        return [self.moto_sagemaker, self.sns, self.autoscaling, self.cloudwatch, self.dynamodb]

    def register(self, auc: str = "0.93", approve: bool = True, group: str = GROUP) -> str:
        arn = self.moto_sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://artifacts/runs/1/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties={"auc": auc},
        )["ModelPackageArn"]
        if approve:
            self.approve(arn, auc)
        return arn

    def approve(self, arn: str, auc: str = "0.93", status: str = "Approved") -> None:
        # moto drops CustomerMetadataProperties on an update that does not repeat them (SageMaker keeps them).
        self.moto_sagemaker.update_model_package(
            ModelPackageArn=arn, ModelApprovalStatus=status, CustomerMetadataProperties={"auc": auc}
        )

    def endpoint(self) -> dict[str, Any]:
        return self.sagemaker.describe_endpoint(EndpointName=self.endpoint_name)

    def serving_version(self) -> int:
        """The package version of the config the endpoint serves (`<prefix>-v<version>-<hash>`)."""
        config = self.endpoint()["EndpointConfigName"]
        return int(config.rsplit("-v", 1)[1].split("-")[0])

    def set_alarm(self, name: str, state: str = "ALARM") -> None:
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")

    def alarm_names(self) -> list[str]:
        return sorted(alarm["AlarmName"] for alarm in self.cloudwatch.describe_alarms()["MetricAlarms"])

    def config_names(self) -> list[str]:
        return sorted(c["EndpointConfigName"] for c in self.moto_sagemaker.list_endpoint_configs()["EndpointConfigs"])

    def model_names(self) -> list[str]:
        return sorted(m["ModelName"] for m in self.moto_sagemaker.list_models()["Models"])

    def config_tags(self, name: str) -> dict[str, str]:
        arn = self.moto_sagemaker.describe_endpoint_config(EndpointConfigName=name)["EndpointConfigArn"]
        return {tag["Key"]: tag["Value"] for tag in self.moto_sagemaker.list_tags(ResourceArn=arn)["Tags"]}

    def active_claims(self) -> list[str]:
        """Ledger claims not released: a rollout some execution still considers its own."""
        items = self.dynamodb.scan(TableName=self.settings["ledger_table_name"])["Items"]
        return sorted(i["pk"]["S"] for i in items if i["pk"]["S"].startswith("claim#") and i["active"]["BOOL"])

    def messages(self) -> list[dict[str, Any]]:
        """Every outcome published so far, oldest first."""
        while True:
            received = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not received:
                return list(self._received)
            for message in received:
                envelope = json.loads(message["Body"])
                self._received.append({"subject": envelope.get("Subject"), **json.loads(envelope["Message"])})
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
