"""A Python Lambda the way every function here is built: own log group, own role, nothing managed."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs

from constructs import Construct

RUNTIME = lambda_.Runtime.PYTHON_3_14
DEFAULT_TIMEOUT = Duration.seconds(60)


class PythonLambda(Construct):
    """`code_dir` is the handler's folder, beside its construct; its role gets only what callers grant.

    The role holds no AWS managed policy (AWSLambdaBasicExecutionRole grants logs on every group): it may
    write to this function's own log group only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code_dir: Path,
        handler: str,
        description: str,
        environment: dict[str, str],
        key: kms.IKey,
        timeout: Duration = DEFAULT_TIMEOUT,
        dead_letter_queue: sqs.IQueue | None = None,
        retry_attempts: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            handler=handler,
            code=lambda_.Code.from_asset(str(code_dir), exclude=["__pycache__", "*.pyc"]),
            description=description,
            environment=environment,
            environment_encryption=key,
            role=self.role,
            log_group=self.log_group,
            timeout=timeout,
            memory_size=256,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=retry_attempts,
        )
        self.log_group.grant_write(self.role)
