"""A Python Lambda the way every function here is built: JSON logs to its own log group, a role that
holds only what it is granted, the environment encrypted with the environment's key.

The convention every function's code follows (tests/infra/test_lambda_convention.py checks it):

- Layout: the construct `constructs/<name>.py` keeps its functions' code in the asset folder
  `constructs/<name>_lambda/`, which holds one package, `<name>`, and nothing else. The folder is what Lambda
  unpacks and puts on `sys.path`; the package is the import name there. One package rather than loose modules so
  that relative imports work, no module can shadow a library (`requests`, `logging`), and every function's
  logger and Handler say which construct it belongs to.
- Entry: Handler `<name>.<entry module>.handler`. The entry module is named for the event it answers
  (`on_upload`, `on_training_event`) or the step it runs (`prepare`, `launcher`, ...) and defines
  `handler(event, context)` and `run(event, settings, aws, ...)`; no other module defines a `handler`. The handler
  reads the function's settings from its environment (once per call, in itself or a `load_settings`) and takes the
  clients, and `run` does the work with the settings and Clients it is given: tests call it with their own. The
  deploy steps share one handler, `step_handler(run)`, which also names AWS's transient errors for the state
  machine's retries; the teardown's `run(settings, aws, ...)` takes no event, the custom resource's protocol
  (RequestType, the answer to CloudFormation) being its handler's.
- Logging: the standard library only, `logger = logging.getLogger(__name__)` in a module that logs; no handlers,
  formatters or levels in code. Lambda's JSON log format (below) writes each record as one JSON object with the
  call's `extra` keys at the top level; the level is the function's ApplicationLogLevel (INFO). Powertools for
  AWS Lambda would bring its Logger, event classes and idempotency at the price of a dependency in every asset,
  bundled offline without Docker: not worth it for four small packages whose idempotency is their own (request
  tokens, the deploy ledger).
- Clients: `<name>/aws_clients.py` holds a frozen dataclass `Clients` and `clients()`, made on first use and kept
  while the function stays warm (`functools.cache`); entries call `aws_clients.clients()` and pass the result
  down, so tests replace `aws_clients.clients` (or clear its cache inside moto) the same way for every function.
- Shared constants: `<name>/constants.py` holds what the construct and its functions share (the names of the
  environment variables the construct writes, other names, limits, pure name rules) and imports nothing of the
  package; constructs import that module and no other of an asset
  (tests/infra/test_layout.py). Each asset ships only its own folder, so a limit several assets need (the SNS
  subject limit) is named once in each asset's constants and a test checks they agree: copying one shared module
  into every asset at synth would need a bundling step (kept deterministic, mirrored by the twin and the tests
  that import the folders) for one number.
- Dependencies: the standard library and the boto3 of the Lambda runtime, nothing bundled.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs

from constructs import Construct
from constructs.permissions import allow_logs_to_use_key
from constructs.private_network import NetworkPlacement, allow_lambda_network_interfaces
from constructs.scanner_reasons import skip_function_checks

RUNTIME = lambda_.Runtime.PYTHON_3_14  # the latest: cdk-nag AwsSolutions-L1
DEFAULT_TIMEOUT = Duration.seconds(60)


def encrypted_log_group(scope: Construct, name: str, key: kms.IKey) -> logs.LogGroup:
    """A named log group encrypted with `key`, whose policy then lets CloudWatch Logs use it for this group."""
    allow_logs_to_use_key(scope, key, name, sid="Logs" + "".join(char for char in name.title() if char.isalnum()))
    return logs.LogGroup(
        scope,
        "LogGroup",
        log_group_name=name,
        encryption_key=key,
        retention=logs.RetentionDays.THREE_MONTHS,
        removal_policy=RemovalPolicy.DESTROY,
    )


class PythonLambda(Construct):
    """`code_dir` is the handler's folder, beside its construct.

    Without `role`, the function gets a role of its own holding no AWS managed policy
    (AWSLambdaBasicExecutionRole grants logs on every group): it may write to its own log group only.
    Functions that are steps of one workflow may share a `role` and bring a named `log_group`.
    With `network` (private network mode) the function runs in the environment's private subnets.
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
        role: iam.IRole | None = None,
        log_group: logs.ILogGroup | None = None,
        network: NetworkPlacement | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = log_group or logs.LogGroup(
            self, "LogGroup", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = role or iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
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
            logging_format=lambda_.LoggingFormat.JSON,
            # The runtime sets the root logger to this level: the code sets none.
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            timeout=timeout,
            memory_size=256,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=retry_attempts,
            **(_in_vpc(network) if network is not None else {}),
        )
        if network is not None:
            if not isinstance(self.role, iam.Role):
                raise TypeError("a function in a VPC needs a role of this app, to which Lambda's network needs go")
            # Lambda checks the role may create network interfaces when it creates the function.
            self.function.node.add_dependency(allow_lambda_network_interfaces(self.role))
        skip_function_checks(
            self.function, has_dead_letter_queue=dead_letter_queue is not None, in_vpc=network is not None
        )
        self.log_group.grant_write(self.role)


def _in_vpc(network: NetworkPlacement) -> dict[str, object]:
    return {
        "vpc": network.vpc,
        "vpc_subnets": ec2.SubnetSelection(subnets=list(network.subnets)),
        "security_groups": list(network.function_security_groups),
    }
