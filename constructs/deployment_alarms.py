"""The operators' endpoint alarms: error rates and latency of everything the endpoint serves, to the SNS topic.

They watch the endpoint as a whole (EndpointName + VariantName: during a blue/green update both fleets), so
they say "the endpoint is unwell", not "this rollout is bad". Rollbacks use other alarms: the deploy workflow
creates per-rollout alarms on the new fleet's EndpointConfigName (`model_deployment_lambda/model_deployment/endpoint_requests.py`).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns

from constructs import Construct
from settings.schema import AlarmsConfig

# Name suffixes (`<endpoint>-<suffix>`) and construct ids kept from earlier releases: renaming replaces alarms.
OPERATOR_ALARMS = (
    ("Invocation5xxAlarm", "invocation-5xx-errors", "Invocation5XXErrors", "share of requests answered 5XX"),
    ("ModelErrorsAlarm", "model-errors", "InvocationModelErrors", "share of requests with a model error"),
    ("ModelLatencyAlarm", "model-latency", "ModelLatency", "average model latency (microseconds)"),
)


def operator_alarm_names(endpoint_name: str) -> list[str]:
    return [f"{endpoint_name}-{suffix}" for _, suffix, _, _ in OPERATOR_ALARMS]


def allow_alarms_to_notify(
    scope: Construct, *, alarm_names: list[str], topic: sns.ITopic, key: kms.IKey, sid: str
) -> None:
    """Lets CloudWatch publish these alarms' actions to the topic, and use the key that encrypts it.

    The topic's own policy replaces SNS's default access policy, and CloudWatch publishes alarm actions as the
    service principal cloudwatch.amazonaws.com: without an Allow there, and in the key policy for an encrypted
    topic, every notification fails with "not authorized to perform: SNS:Publish" (AWS Knowledge Center,
    "cloudwatch receive SNS for alarm trigger"; Amazon SNS Developer Guide, "Key management", "Enable
    compatibility between event sources from AWS services and encrypted topics").

    The topic statement is scoped to these alarms by aws:SourceArn and aws:SourceAccount (the confused-deputy
    guard the Knowledge Center page shows for the topic policy). The key statement is the documented one, without
    a condition: no AWS page says CloudWatch's request to KMS carries aws:SourceArn, and a condition on a key the
    request lacks denies it, so alarms would notify nobody (SNS Developer Guide, "Key management" →
    compatibility with AWS services; Knowledge Center "cloudwatch-configure-alarm-sns", where the Condition is
    "(optional)"). It is this key's own policy, so Resource "*" is this key; the actions are the two named there.
    Only names go in the topic's conditions, so the topic's stack does not come to depend on the alarms' stack.
    """
    stack = Stack.of(scope)
    alarm_arns = [
        stack.format_arn(
            service="cloudwatch", resource="alarm", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        for name in alarm_names
    ]
    principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[principal],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "ArnEquals": {"aws:SourceArn": alarm_arns},
                "StringEquals": {"aws:SourceAccount": stack.account},
            },
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[principal],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
        )
    )


def operator_alarms(
    scope: Construct, *, endpoint_name: str, variant_name: str, settings: AlarmsConfig, topic: sns.ITopic
) -> list[cloudwatch.Alarm]:
    thresholds = {
        "Invocation5XXErrors": settings.invocation_5xx_error_rate_percent / 100,
        "InvocationModelErrors": settings.model_error_rate_percent / 100,
        "ModelLatency": settings.model_latency_microseconds,
    }
    notify = actions.SnsAction(topic)
    alarms = []
    for (construct_id, _, metric_name, what), alarm_name in zip(
        OPERATOR_ALARMS, operator_alarm_names(endpoint_name), strict=True
    ):
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            alarm_name=alarm_name,
            alarm_description=(
                f"{what} on {endpoint_name} above {thresholds[metric_name]:g} for "
                f"{settings.evaluation_seconds} s; for operators (rollbacks use the new fleet's own alarms)"
            ),
            # Average of a 0/1-per-request metric is a rate, independent of traffic volume.
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=metric_name,
                dimensions_map={"EndpointName": endpoint_name, "VariantName": variant_name},
                statistic="Average",
                period=Duration.seconds(settings.period_seconds),
            ),
            threshold=thresholds[metric_name],
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=settings.evaluation_periods,
            datapoints_to_alarm=settings.evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(notify)
        alarm.add_ok_action(notify)
        alarms.append(alarm)
    return alarms
