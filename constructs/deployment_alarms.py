"""The operators' endpoint alarms: error rates and latency of everything the endpoint serves, to the SNS topic.

They watch the endpoint as a whole (EndpointName + VariantName: during a blue/green update both fleets), so
they say "the endpoint is unwell", not "this rollout is bad". Rollbacks use other alarms: the deploy workflow
creates per-rollout alarms on the new fleet's EndpointConfigName (`model_deployment_lambda/deploy/requests.py`).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns

from constructs import Construct
from settings.config import AlarmsConfig

# Name suffixes (`<endpoint>-<suffix>`) and construct ids kept from earlier releases: renaming replaces alarms.
OPERATOR_ALARMS = (
    ("Invocation5xxAlarm", "invocation-5xx-errors", "Invocation5XXErrors", "share of requests answered 5XX"),
    ("ModelErrorsAlarm", "model-errors", "InvocationModelErrors", "share of requests with a model error"),
    ("ModelLatencyAlarm", "model-latency", "ModelLatency", "average model latency (microseconds)"),
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
    for construct_id, suffix, metric_name, what in OPERATOR_ALARMS:
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            alarm_name=f"{endpoint_name}-{suffix}",
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
