"""Watching the serving model without SageMaker Model Monitor: a scheduled job, its metrics, alarms and the optional
retraining trigger (docs/monitoring.md).

- A schedule (an EventBridge rule, `monitoring.schedule_enabled`, off by default) starts the launcher function, which
  finds the version the endpoint serves and starts a SageMaker processing job: ml_code/monitor.py in the training
  pipeline's XGBoost image with its code bundle (no new image). A processing job, not a function: with prod's 20%
  capture a day of traffic is up to millions of rows, beyond a function's memory and 15 minutes with numpy.
- The job reads the window's data capture, the version's baseline (the model package's drift-check baseline, which
  evaluate writes) and the labels uploaded under labels/<endpoint>/, writes monitoring_report.json under
  monitoring/<endpoint>/<job>/ of the artifacts bucket and publishes its figures in METRICS_NAMESPACE.
- Alarms on the largest feature PSI, the score PSI and the realized ROC-AUC drop notify the SNS topic.
- The retraining rule (`monitoring.retraining.enabled`, off by default) starts the pipeline on an alarm, guarded.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from constructs import Construct
from constructs.deployment_alarms import allow_alarms_to_notify
from constructs.ml_code_bundle import MlCodeBundle
from constructs.model_deployment_lambda.model_deployment.constants import versioned_prefix
from constructs.model_monitoring_lambda.model_monitoring.constants import (
    LAUNCHER_SETTINGS_VARIABLE,
    RETRAINING_SETTINGS_VARIABLE,
)
from constructs.permissions import (
    acknowledge_wildcard_resource,
    allow,
    allow_key_use,
    allow_wildcard,
)
from constructs.private_network import NetworkPlacement, allow_sagemaker_network_interfaces
from constructs.python_lambda import PythonLambda, encrypted_log_group
from constructs.training_pipeline_settings import CODE_DIR, ENVIRONMENT_TAG_KEY, PROCESSING_ROOT, RUN_FROM_BUNDLE
from constructs.xgboost_image import XGBOOST_FRAMEWORK_VERSION, xgboost_image_repository_arn
from settings.resource_names import DATA_CAPTURE_PREFIX
from settings.schema import MonitoringConfig

HANDLER_DIR = Path(__file__).with_name("model_monitoring_lambda")
METRICS_NAMESPACE = "MLOps/ModelMonitoring"
LABELS_PREFIX = "labels/"
REPORTS_PREFIX = "monitoring/"
OUTPUT_PATH = f"{PROCESSING_ROOT}/output/monitoring"
# (construct id, alarm name suffix, metric, setting, what it means)
MONITORING_ALARMS = (
    ("FeatureDriftAlarm", "feature-drift", "MaxFeaturePSI", "feature_psi", "the largest feature PSI"),
    ("ScoreDriftAlarm", "score-drift", "ScorePSI", "score_psi", "the PSI of the scores"),
    ("RealizedAucAlarm", "realized-auc-drop", "RealizedAUCDrop", "realized_auc_drop", "the realized ROC-AUC drop"),
)


def monitoring_alarm_names(endpoint_name: str) -> list[str]:
    return [f"{endpoint_name}-{suffix}" for _, suffix, _, _, _ in MONITORING_ALARMS]


def xgboost_image_uri(region: str) -> str:
    """The image URI of the repository ARN xgboost_image gives: <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>."""
    arn = xgboost_image_repository_arn(region)
    account, repository = arn.split(":")[4], arn.split(":repository/")[1]
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}:{XGBOOST_FRAMEWORK_VERSION}"


class ModelMonitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        settings: MonitoringConfig,
        endpoint_name: str,
        variant_name: str,
        artifacts_bucket: s3.IBucket,
        key: kms.IKey,
        topic: sns.ITopic,
        code: MlCodeBundle,
        pipeline_name: str,
        pipeline_arn: str,
        model_package_group_name: str,
        network: NetworkPlacement | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.network = network
        self.endpoint_name = endpoint_name
        self.report_uri = f"s3://{artifacts_bucket.bucket_name}/{REPORTS_PREFIX}{endpoint_name}"
        self.job_name_prefix = f"mlops-{environment_name}-monitor"
        self.job_role = self._job_role(environment_name, artifacts_bucket, key, code, stack.region)

        launcher_settings = {
            "environment": environment_name,
            "environment_tag_key": ENVIRONMENT_TAG_KEY,
            "endpoint_name": endpoint_name,
            "variant_name": variant_name,
            "job_name_prefix": self.job_name_prefix,
            "job_role_arn": self.job_role.role_arn,
            "image_uri": xgboost_image_uri(stack.region),
            "entrypoint": ["/bin/bash", "-c", RUN_FROM_BUNDLE, "run-ml-code"],
            "code_uri": code.s3_uri,
            "code_path": CODE_DIR,
            "output_path": OUTPUT_PATH,
            "capture_uri": f"s3://{artifacts_bucket.bucket_name}/{DATA_CAPTURE_PREFIX}{endpoint_name}",
            "labels_uri": f"s3://{artifacts_bucket.bucket_name}/{LABELS_PREFIX}{endpoint_name}/",
            "report_uri": self.report_uri,
            "kms_key_arn": key.key_arn,
            "instance_type": settings.instance_type,
            "window_hours": settings.window_hours,
            "label_window_days": settings.label_window_days,
            "metrics_namespace": METRICS_NAMESPACE,
            "alarms": {
                "feature_psi": settings.alarms.feature_psi,
                "score_psi": settings.alarms.score_psi,
                "realized_auc_drop": settings.alarms.realized_auc_drop,
                "min_rows": settings.alarms.min_rows,
                "min_labelled_rows": settings.alarms.min_labelled_rows,
            },
        }
        if network is not None:
            # Private network mode (docs/private-network.md): the job runs in the private subnets, not isolated, as
            # monitor.py itself reads S3 (the gateway endpoint) and publishes to CloudWatch (its interface endpoint).
            launcher_settings["network_config"] = {
                "VpcConfig": {"Subnets": network.subnet_ids, "SecurityGroupIds": network.workload_security_group_ids},
                "EnableInterContainerTrafficEncryption": True,
                "EnableNetworkIsolation": False,
            }
            allow_sagemaker_network_interfaces(self.job_role)
        self.launcher = PythonLambda(
            self,
            "Launcher",
            code_dir=HANDLER_DIR,
            handler="model_monitoring.launcher.handler",
            description=f"Starts the monitoring job of {endpoint_name} for the version it serves",
            environment={LAUNCHER_SETTINGS_VARIABLE: stack.to_json_string(launcher_settings)},
            key=key,
            log_group=encrypted_log_group(self, f"/mlops/{environment_name}/monitoring/launcher", key),
            network=network,
        )
        self._allow_serving_lookup(self.launcher.role, endpoint_name, model_package_group_name)
        jobs = stack.format_arn(
            service="sagemaker", resource="processing-job", resource_name=f"{self.job_name_prefix}-*"
        )
        # Unlike the pipeline's jobs (pipelines-<id>, alike in every environment), these are named after the
        # environment: the name scopes them. Tags in a Create request are also authorized as sagemaker:AddTags.
        allow_wildcard(
            self.launcher.role,
            ["sagemaker:CreateProcessingJob", "sagemaker:AddTags"],
            jobs,
            "One monitoring job per scheduled run, named mlops-<environment>-monitor-<time of the run>.",
        )
        allow(
            self.launcher.role,
            ["iam:PassRole"],
            [self.job_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
        allow_key_use(self.launcher.role, key, ["kms:Decrypt"])  # its encrypted environment
        self.schedule = events.Rule(
            self,
            "Schedule",
            rule_name=f"mlops-{environment_name}-monitoring-schedule",
            description=f"Starts the monitoring job of {endpoint_name} every {settings.schedule_hours} h",
            schedule=events.Schedule.rate(Duration.hours(settings.schedule_hours)),
            enabled=settings.schedule_enabled,
            targets=[targets.LambdaFunction(self.launcher.function, retry_attempts=2)],
        )

        allow_alarms_to_notify(
            self,
            alarm_names=monitoring_alarm_names(endpoint_name),
            topic=topic,
            key=key,
            sid=f"MonitoringAlarmsToTopic{environment_name.replace('-', '')}",
        )
        self.alarms = self._alarms(settings, topic)
        self._retraining(
            environment_name, settings, key, pipeline_name, pipeline_arn, model_package_group_name, variant_name
        )

    def _job_role(
        self, environment_name: str, artifacts_bucket: s3.IBucket, key: kms.IKey, code: MlCodeBundle, region: str
    ) -> iam.Role:
        """The monitoring job's role: read this endpoint's capture and labels and the registered baselines, write its
        reports, publish in the project's namespace; nothing else."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Runs the monitoring job of {self.endpoint_name}",
        )
        code.grant_job_read(role)
        reads = {
            f"{DATA_CAPTURE_PREFIX}{self.endpoint_name}/*": "data capture files under dated keys of this endpoint",
            f"{LABELS_PREFIX}{self.endpoint_name}/*": "label files the application uploads for this endpoint",
            "pipelines/*/monitoring_baseline.json": "the baseline of whichever version serves, in its run's folder",
        }
        allow(
            role,
            ["s3:ListBucket"],
            [artifacts_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": list(reads)}},
        )
        for pattern, reason in reads.items():
            allow_wildcard(
                role, ["s3:GetObject"], artifacts_bucket.arn_for_objects(pattern), f"The job reads {reason}."
            )
        allow_wildcard(
            role,
            ["s3:PutObject"],
            artifacts_bucket.arn_for_objects(f"{REPORTS_PREFIX}{self.endpoint_name}/*"),
            "Each monitoring job writes its report under a folder named after the job.",
        )
        # Reads of SSE-KMS objects, writes of them, the report's KmsKeyId (CreateProcessingJob: kms:Encrypt).
        allow_key_use(role, key, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"])
        allow(role, ["kms:CreateGrant"], [key.key_arn], conditions={"Bool": {"kms:GrantIsForAWSResource": True}})
        allow(
            role,
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            [xgboost_image_repository_arn(region)],
        )
        group = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/ProcessingJobs",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        allow(role, ["logs:CreateLogGroup", "logs:DescribeLogStreams"], [group])
        allow_wildcard(
            role,
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            f"{group}:log-stream:{self.job_name_prefix}-*",
            "One log stream per monitoring job, named after the job.",
        )
        allow(
            role,
            ["cloudwatch:PutMetricData"],
            ["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": [METRICS_NAMESPACE, "/aws/sagemaker/ProcessingJobs"]}},
        )
        allow(role, ["ecr:GetAuthorizationToken"], ["*"])
        acknowledge_wildcard_resource(
            role,
            "*",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData allow no resource; PutMetricData is limited to the"
            " project's monitoring namespace and the one SageMaker jobs publish under.",
        )
        return role

    def _allow_serving_lookup(self, role: iam.Role, endpoint_name: str, model_package_group_name: str) -> None:
        """Which package the endpoint serves: the endpoint, its configs and models (named <prefix>-v...), the packages."""
        stack = Stack.of(self)
        allow(
            role,
            ["sagemaker:DescribeEndpoint"],
            [stack.format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint_name)],
        )
        versioned = versioned_prefix(endpoint_name).lower()
        for action, kind in (("DescribeEndpointConfig", "endpoint-config"), ("DescribeModel", "model")):
            allow_wildcard(
                role,
                [f"sagemaker:{action}"],
                stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{versioned}*"),
                "The deploy workflow names each version's config and model <prefix>-v<version>-<hash>.",
            )
        allow_wildcard(
            role,
            ["sagemaker:DescribeModelPackage"],
            stack.format_arn(
                service="sagemaker", resource="model-package", resource_name=f"{model_package_group_name}/*"
            ),
            "Package versions of this environment's group are numbered as they are registered.",
        )

    def _alarms(self, settings: MonitoringConfig, topic: sns.ITopic) -> list[cloudwatch.Alarm]:
        notify = actions.SnsAction(topic)
        alarms = []
        period = Duration.hours(settings.schedule_hours)
        for (construct_id, _, metric_name, setting, what), alarm_name in zip(
            MONITORING_ALARMS, monitoring_alarm_names(self.endpoint_name), strict=True
        ):
            threshold = getattr(settings.alarms, setting)
            alarm = cloudwatch.Alarm(
                self,
                construct_id,
                alarm_name=alarm_name,
                alarm_description=(
                    f"{what} of {self.endpoint_name}'s captured traffic above {threshold:g}; the report of each run is "
                    f"under {self.report_uri}/ (docs/monitoring.md)"
                ),
                # The job publishes once per run: one datapoint per period. Under EndpointName alone, so the alarm
                # keeps watching whichever version serves (the versioned figures carry ModelVersion too).
                metric=cloudwatch.Metric(
                    namespace=METRICS_NAMESPACE,
                    metric_name=metric_name,
                    dimensions_map={"EndpointName": self.endpoint_name},
                    statistic="Maximum",
                    period=period,
                ),
                threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                # No figure (no traffic, too few labels) is no evidence either way: the alarm keeps its state.
                treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
            )
            alarm.add_alarm_action(notify)
            alarm.add_ok_action(notify)
            alarms.append(alarm)
        return alarms

    def _retraining(
        self,
        environment_name: str,
        settings: MonitoringConfig,
        key: kms.IKey,
        pipeline_name: str,
        pipeline_arn: str,
        model_package_group_name: str,
        variant_name: str,
    ) -> None:
        retraining_settings = {
            "environment": environment_name,
            "pipeline_name": pipeline_name,
            "endpoint_name": self.endpoint_name,
            "variant_name": variant_name,
            "min_interval_hours": settings.retraining.min_interval_hours,
        }
        self.retrainer = PythonLambda(
            self,
            "Retrainer",
            code_dir=HANDLER_DIR,
            handler="model_monitoring.retraining.handler",
            description=f"Starts the training pipeline when a monitoring alarm of {self.endpoint_name} fires",
            environment={RETRAINING_SETTINGS_VARIABLE: Stack.of(self).to_json_string(retraining_settings)},
            key=key,
            log_group=encrypted_log_group(
                Construct(self, "RetrainerLogs"), f"/mlops/{environment_name}/monitoring/retraining", key
            ),
            network=self.network,
        )
        role = self.retrainer.role
        allow(role, ["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"], [pipeline_arn])
        allow_wildcard(
            role,
            ["sagemaker:ListPipelineParametersForExecution"],
            f"{pipeline_arn}/execution/*",
            "Executions of this pipeline get generated ids.",
        )
        self._allow_serving_lookup(role, self.endpoint_name, model_package_group_name)
        allow_key_use(role, key, ["kms:Decrypt"])  # its encrypted environment
        self.retraining_rule = events.Rule(
            self,
            "RetrainingRule",
            rule_name=f"mlops-{environment_name}-monitoring-retraining",
            description="A monitoring alarm went to ALARM: start the training pipeline again (guarded)",
            enabled=settings.retraining.enabled,
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[alarm.alarm_arn for alarm in self.alarms],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[targets.LambdaFunction(self.retrainer.function, retry_attempts=2)],
        )
