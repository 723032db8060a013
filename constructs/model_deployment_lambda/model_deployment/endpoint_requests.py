"""The AWS requests the rollout makes, built from the settings alone (pure functions, tested without AWS)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The rollback alarms of one rollout: (name suffix, metric, the settings key of its threshold, what it is).
# Invocation5XXErrors and InvocationModelErrors are 0/1 per request, so their Average over a period is the
# fraction of requests that failed (Amazon SageMaker AI metrics in Amazon CloudWatch,
# https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html).
ROLLBACK_ALARMS = (
    ("5xx-error-rate", "Invocation5XXErrors", "invocation_5xx_error_rate_percent", "share of 5XX answers"),
    ("model-error-rate", "InvocationModelErrors", "model_error_rate_percent", "share of model errors"),
    ("model-latency", "ModelLatency", "model_latency_microseconds", "average model latency (us)"),
)


def rollback_alarm_names(config_name: str) -> list[str]:
    """The rollback alarms watching the new fleet of `config_name`: `<config>-rollback-<what>`."""
    return [rollback_alarm_name(config_name, suffix) for suffix, *_ in ROLLBACK_ALARMS]


def rollback_alarm_name(config_name: str, suffix: str) -> str:
    return f"{config_name}-rollback-{suffix}"


def rollback_alarm_requests(settings: Mapping[str, Any], config_name: str) -> list[dict[str, Any]]:
    """PutMetricAlarm requests for the alarms that roll a rollout of `config_name` back.

    The new fleet only: the `EndpointConfigName` dimension of the config being rolled out, as in "Monitor
    invocation errors on the new fleet" of Auto-Rollback Configuration and Monitoring
    (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html). Alarms on
    EndpointName + VariantName alone would count the old fleet's traffic too.
    """
    alarms = settings["alarms"]
    dimensions = [
        {"Name": "EndpointName", "Value": settings["endpoint_name"]},
        {"Name": "VariantName", "Value": settings["variant_name"]},
        {"Name": "EndpointConfigName", "Value": config_name},
    ]
    requests = []
    for suffix, metric, key, what in ROLLBACK_ALARMS:
        name = rollback_alarm_name(config_name, suffix)
        threshold = alarms[key] / 100 if key.endswith("_percent") else alarms[key]
        requests.append(
            {
                "AlarmName": name,
                "AlarmDescription": (
                    f"{what} of the new fleet ({config_name}) on {settings['endpoint_name']}: rolls the blue/green "
                    f"update back while it bakes; created and deleted by the deploy workflow"
                ),
                "Namespace": "AWS/SageMaker",
                "MetricName": metric,
                "Dimensions": dimensions,
                "Statistic": "Average",
                "Period": alarms["period_seconds"],
                "EvaluationPeriods": alarms["evaluation_periods"],
                "DatapointsToAlarm": alarms["evaluation_periods"],
                "Threshold": float(threshold),
                "ComparisonOperator": "GreaterThanThreshold",
                # No requests yet on the new fleet is no evidence against it.
                "TreatMissingData": "notBreaching",
            }
        )
    return requests


def endpoint_config_request(settings: Mapping[str, Any], config_name: str, model_name: str) -> dict[str, Any]:
    variant = {
        "VariantName": settings["variant_name"],
        "ModelName": model_name,
        "InstanceType": settings["instance_type"],
        "InitialInstanceCount": settings["instance_count"],
        "InitialVariantWeight": 1.0,
        # Without it a model that cannot start keeps the endpoint Creating for about an hour.
        "ContainerStartupHealthCheckTimeoutInSeconds": settings["container_startup_health_check_timeout_seconds"],
        "ModelDataDownloadTimeoutInSeconds": settings["model_data_download_timeout_seconds"],
    }
    request: dict[str, Any] = {
        "EndpointConfigName": config_name,
        "ProductionVariants": [variant],
        "KmsKeyId": settings["kms_key_arn"],  # the ML storage volumes of the instances
    }
    if settings["data_capture_percent"] > 0:
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": settings["data_capture_percent"],
            "DestinationS3Uri": settings["data_capture_s3_uri"],
            "KmsKeyId": settings["kms_key_arn"],
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
        }
    return request


def deployment_config(settings: Mapping[str, Any], config_name: str) -> dict[str, Any]:
    """The blue/green DeploymentConfig of UpdateEndpoint, rolling back on the new fleet's alarms."""
    routing: dict[str, Any] = {
        "Type": settings["traffic_routing"],
        "WaitIntervalInSeconds": settings["traffic_wait_seconds"],
    }
    step = {"Type": "CAPACITY_PERCENT", "Value": settings["traffic_step_percent"]}
    if settings["traffic_routing"] == "CANARY":
        routing["CanarySize"] = step
    elif settings["traffic_routing"] == "LINEAR":
        routing["LinearStepSize"] = step
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": settings["termination_wait_seconds"],
            "MaximumExecutionTimeoutInSeconds": settings["max_execution_timeout_seconds"],
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in rollback_alarm_names(config_name)]},
    }


# What RetainAllVariantProperties would keep of the old config's data capture. The API reference lists
# DataCaptureConfig among the VariantPropertyType values ExcludeRetainedVariantProperties could override, marked
# "(Not currently supported.)" (VariantProperty,
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_VariantProperty.html): so the workflow never asks
# for it, and retains properties only when the old and the new config capture alike.
_CAPTURE_FIELDS = (
    "EnableCapture",
    "InitialSamplingPercentage",
    "DestinationS3Uri",
    "KmsKeyId",
    "CaptureOptions",
    "CaptureContentTypeHeader",
)


def capture_settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    capture = (config or {}).get("DataCaptureConfig") or {}
    return {key: capture.get(key) for key in _CAPTURE_FIELDS if capture.get("EnableCapture")}


def retains_variant_properties(
    settings: Mapping[str, Any], new_config: Mapping[str, Any], previous_config: Mapping[str, Any] | None
) -> bool:
    """Whether UpdateEndpoint keeps the autoscaled instance count (RetainAllVariantProperties).

    Only where autoscaling runs, and only when nothing but the count could be retained wrongly: the same instance
    type and the same data capture as the config serving now. Otherwise the new config applies whole (its
    InitialInstanceCount), and Conclude registers autoscaling again, which scales from there.
    """
    if not settings.get("autoscaling") or previous_config is None:
        return False
    same_type = {v.get("InstanceType") for v in previous_config["ProductionVariants"]} == {settings["instance_type"]}
    return same_type and capture_settings(previous_config) == capture_settings(new_config)


def update_endpoint_request(
    settings: Mapping[str, Any], config_name: str, previous_config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """UpdateEndpoint with the blue/green policy; `previous_config` is DescribeEndpointConfig of the serving one."""
    request: dict[str, Any] = {
        "EndpointName": settings["endpoint_name"],
        "EndpointConfigName": config_name,
        "DeploymentConfig": deployment_config(settings, config_name),
    }
    new_config = endpoint_config_request(settings, config_name, config_name)
    if retains_variant_properties(settings, new_config, previous_config):
        # Keep the instance count (and weight) autoscaling reached; nothing is excluded.
        request["RetainAllVariantProperties"] = True
    return request
