"""A stateful double of a SageMaker real-time endpoint's lifecycle, as AWS documents it, over moto's SageMaker.

moto (5.2) creates endpoints InService at once, has no UpdateEndpoint, and overwrites a model or endpoint config
created twice under one name. This double answers the endpoint calls itself and delegates everything else to
moto's client; requests are checked against botocore's service model like any real call. Simulated time moves
only through `advance(seconds)` (the Step Functions tests call it from their Wait states), so nothing sleeps.

Each rule cites the page it follows:
- [CreateEndpoint] https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html
  Status Creating, then InService; a second CreateEndpoint with the name fails ("Cannot create already existing").
- [DescribeEndpoint] https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html
  Statuses Creating / Updating / SystemUpdating / RollingBack / InService / Deleting / Failed /
  UpdateRollbackFailed; FailureReason "if the status is Failed, or the status is InService but update operation
  fails"; PendingDeploymentSummary "the summary of an in-progress deployment"; LastDeploymentConfig.
- [UpdateEndpoint] https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html
  "When SageMaker receives the request, it sets the endpoint status to Updating. After updating the endpoint,
  it sets the status to InService." An update while one runs is refused with ValidationException "Cannot
  update in-progress endpoint" (the service's message as quoted in public issues; the page does not list it).
- [DeleteEndpointConfig] https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpointConfig.html
  "You must not delete an EndpointConfig in use by an endpoint that is live or while the UpdateEndpoint or
  CreateEndpoint operations are being performed on the endpoint": the double fails the test if that happens.
- [DeleteEndpoint] https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpoint.html
  Refused while the endpoint is busy, like an update ("Cannot delete in-progress endpoint"); the caller must
  keep the execution role's policy until the endpoint is gone (it releases KMS grants).
- [DeleteModel] https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteModel.html
  Deletes only the model; a config in use whose model is gone cannot start instances: a rule for callers.
- [Canary] https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green-canary.html and
  [Linear] https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green-linear.html
  The canary is at most 50 % of the capacity; a linear step is 10-50 % of it: refused otherwise.
- [Auto-rollback] the alarms named in AutoRollbackConfiguration must exist: refused otherwise.
- [RetainAllVariantProperties] (UpdateEndpoint): DescribeEndpoint shows the variant's `CurrentInstanceCount`.
- [Rolling] https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-rolling.html
  From UpdateRollbackFailed, "to get out of it", call UpdateEndpoint again, which the double accepts.
- [Create model / config] a name taken in the account and Region is refused with ValidationException "Cannot
  create already existing model / endpoint configuration" (the service's message, as issue 8 quotes it).

How each operation then moves through its phases ([Blue/green], [Auto-rollback], the rollback and its failure) is
sagemaker_endpoint_lifecycle.py, this double's base class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

from twin.sagemaker_endpoint_lifecycle import DELETE_SECONDS, PROVISION_SECONDS, Endpoint, EndpointLifecycle, Phase

BUSY_STATUSES = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}


def client_error(operation: str, code: str, message: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class SageMakerEndpointDouble(EndpointLifecycle):
    """A sagemaker client: endpoint calls answered here, the rest by moto's client (`moto_client`)."""

    def __init__(self, moto_client: Any, cloudwatch: Any, region: str, account: str) -> None:
        super().__init__(moto_client, region, account)
        self._cloudwatch = cloudwatch
        self._model = moto_client.meta.service_model
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.accepted_updates: list[str] = []  # configs of the UpdateEndpoint calls SageMaker accepted
        self._faults: list[tuple[str, int, ClientError]] = []

    # ------------------------------------------------------------------------------------------ test controls

    def fail(self, operation: str, error: ClientError, times: int = 1) -> None:
        """The next `times` calls of `operation` fail with `error` (throttling, a transient 500, ...)."""
        self._faults.append((operation, times, error))

    def not_yet_consistent(self, operation: str, kind: str) -> ClientError:
        """The error an eventually consistent read answers right after the write ([CreateEndpoint])."""
        label = {"endpoint-config": "endpoint configuration", "model": "model"}[kind]
        return client_error(operation, "ValidationException", f'Could not find {label} "{kind}".')

    def throttle(self, operation: str, times: int) -> None:
        self.fail(operation, client_error(operation, "ThrottlingException", "Rate exceeded"), times)

    # ------------------------------------------------------------------------------------------ the API

    def _call(self, operation: str, params: dict[str, Any]) -> None:
        self.calls.append((operation, params))
        operation_model = self._model.operation_model(_pascal(operation))
        validate_parameters(params, operation_model.input_shape)  # raises ParamValidationError like botocore
        # The event a real client emits for every call: what listens to the client's calls (the IAM check's
        # recorder, tests/infra/support/iam_calls.py) sees the calls answered here too.
        self._moto.meta.events.emit(
            f"provide-client-params.sagemaker.{operation_model.name}", params=params, model=operation_model, context={}
        )
        for index, (name, times, error) in enumerate(self._faults):
            if name == operation and times > 0:
                self._faults[index] = (name, times - 1, error)
                raise error

    def create_model(self, **params: Any) -> Any:
        self._call("create_model", params)
        if self._exists(self._moto.describe_model, ModelName=params["ModelName"]):
            raise client_error(
                "CreateModel",
                "ValidationException",
                f'Cannot create already existing model "{self._arn("model", params["ModelName"])}".',
            )
        return self._moto.create_model(**params)

    def create_endpoint_config(self, **params: Any) -> Any:
        self._call("create_endpoint_config", params)
        name = params["EndpointConfigName"]
        if self._exists(self._moto.describe_endpoint_config, EndpointConfigName=name):
            raise client_error(
                "CreateEndpointConfig",
                "ValidationException",
                f'Cannot create already existing endpoint configuration "{self._arn("endpoint-config", name)}".',
            )
        return self._moto.create_endpoint_config(**params)

    def create_endpoint(self, **params: Any) -> Any:
        self._call("create_endpoint", params)
        name, config = params["EndpointName"], params["EndpointConfigName"]
        arn = self._arn("endpoint", name)
        if name in self.endpoints:
            raise client_error(
                "CreateEndpoint", "ValidationException", f'Cannot create already existing endpoint "{arn}".'
            )
        self._require_config("CreateEndpoint", config)
        self.endpoints[name] = Endpoint(
            name=name,
            arn=arn,
            config=config,
            status="Creating",
            created=self.now,
            tags={tag["Key"]: tag["Value"] for tag in params.get("Tags", [])},
            phases=[Phase("create", PROVISION_SECONDS, "Creating")],
        )
        self.endpoints[name].instance_count = self._initial_count(config)
        return {"EndpointArn": arn}

    def update_endpoint(self, **params: Any) -> Any:
        self._call("update_endpoint", params)
        endpoint = self._endpoint("UpdateEndpoint", params["EndpointName"])
        if endpoint.status not in ("InService", "UpdateRollbackFailed"):
            raise client_error(
                "UpdateEndpoint", "ValidationException", f'Cannot update in-progress endpoint "{endpoint.arn}".'
            )
        config = params["EndpointConfigName"]
        self._require_config("UpdateEndpoint", config)
        deployment = params.get("DeploymentConfig") or {}
        named = [a["AlarmName"] for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
        missing = sorted(set(named) - set(self._existing_alarms(named)))
        if missing:  # [Auto-rollback]: the alarms SageMaker monitors must exist in CloudWatch
            raise client_error(
                "UpdateEndpoint", "ValidationException", f"Could not find CloudWatch alarms: {', '.join(missing)}"
            )
        policy = deployment.get("BlueGreenUpdatePolicy") or {}
        routing = policy.get("TrafficRoutingConfiguration") or {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
        self._check_step_size("UpdateEndpoint", routing)
        bakes = _linear_steps(routing) if routing["Type"] == "LINEAR" else 1
        endpoint.status, endpoint.failure = "Updating", None
        endpoint.pending, endpoint.pending_since = config, self.now
        endpoint.alarms = [
            a["AlarmName"] for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms", [])
        ]
        endpoint.last_deployment_config = deployment or None
        endpoint.retain_count = params.get("RetainAllVariantProperties") is True
        self.accepted_updates.append(config)
        endpoint.phases = [Phase("provision", PROVISION_SECONDS, "Updating")]
        endpoint.phases += [Phase("bake", routing["WaitIntervalInSeconds"], "Updating") for _ in range(bakes)]
        endpoint.phases.append(Phase("terminate", policy.get("TerminationWaitInSeconds", 0), "Updating"))
        return {"EndpointArn": endpoint.arn}

    def describe_endpoint(self, **params: Any) -> Any:
        self._call("describe_endpoint", params)
        endpoint = self._endpoint("DescribeEndpoint", params["EndpointName"])
        answer: dict[str, Any] = {
            "EndpointName": endpoint.name,
            "EndpointArn": endpoint.arn,
            "EndpointConfigName": endpoint.config,
            "EndpointStatus": endpoint.status,
            "CreationTime": endpoint.created,
            "LastModifiedTime": self.now,
        }
        if endpoint.failure:
            answer["FailureReason"] = endpoint.failure
        if endpoint.pending:
            answer["PendingDeploymentSummary"] = {
                "EndpointConfigName": endpoint.pending,
                "StartTime": endpoint.pending_since,
            }
        if endpoint.last_deployment_config:
            answer["LastDeploymentConfig"] = endpoint.last_deployment_config
        answer["ProductionVariants"] = [
            {
                "VariantName": "AllTraffic",
                "CurrentInstanceCount": endpoint.instance_count,
                "DesiredInstanceCount": endpoint.instance_count,
            }
        ]
        return answer

    def delete_endpoint(self, **params: Any) -> Any:
        self._call("delete_endpoint", params)
        endpoint = self._endpoint("DeleteEndpoint", params["EndpointName"])
        if endpoint.status in BUSY_STATUSES:  # [DeleteEndpoint]: refused like an update while one runs
            raise client_error(
                "DeleteEndpoint", "ValidationException", f'Cannot delete in-progress endpoint "{endpoint.arn}".'
            )
        endpoint.status, endpoint.pending = "Deleting", None
        endpoint.phases = [Phase("delete", DELETE_SECONDS, "Deleting")]
        return {}

    def add_tags(self, **params: Any) -> Any:
        self._call("add_tags", params)
        endpoint = self._endpoint_by_arn(params["ResourceArn"])
        if endpoint is None:
            return self._moto.add_tags(**params)
        endpoint.tags.update({tag["Key"]: tag["Value"] for tag in params["Tags"]})
        return {"Tags": params["Tags"]}

    def list_tags(self, **params: Any) -> Any:
        self._call("list_tags", params)
        endpoint = self._endpoint_by_arn(params["ResourceArn"])
        if endpoint is None:
            return self._moto.list_tags(**params)
        return {"Tags": [{"Key": key, "Value": value} for key, value in endpoint.tags.items()]}

    def delete_endpoint_config(self, **params: Any) -> Any:
        self._call("delete_endpoint_config", params)
        live = [e for e in self.endpoints.values() if e.status != "Deleting"]
        in_use = {name for e in live for name in (e.config, e.pending) if name}
        if params["EndpointConfigName"] in in_use:  # [DeleteEndpointConfig]: a rule for callers, so a test failure
            self._violation(f"deleted endpoint config {params['EndpointConfigName']} while an endpoint uses it")
        return self._moto.delete_endpoint_config(**params)

    def delete_model(self, **params: Any) -> Any:
        self._call("delete_model", params)
        if params["ModelName"] in self._models_in_use():
            # [DeleteModel]: "Deleting a model ... does not delete ... endpoint configurations"; a config in use whose
            # model is gone cannot start new instances (autoscaling, a rollback): never delete a model in use.
            self._violation(f"deleted model {params['ModelName']} while an endpoint's config uses it")
        return self._moto.delete_model(**params)

    def _models_in_use(self) -> set[str]:
        names = {n for e in self.endpoints.values() if e.status != "Deleting" for n in (e.config, e.pending) if n}
        models = set()
        for name in names:
            try:
                config = self._moto.describe_endpoint_config(EndpointConfigName=name)
            except ClientError:
                continue
            models |= {variant["ModelName"] for variant in config["ProductionVariants"]}
        return models

    def _violation(self, what: str) -> None:
        self.violations.append(what)
        raise AssertionError(what)

    def describe_model_package(self, **params: Any) -> Any:
        self._call("describe_model_package", params)
        return self._moto.describe_model_package(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._moto, name)

    def _check_step_size(self, operation: str, routing: dict[str, Any]) -> None:
        size = routing.get("CanarySize") or routing.get("LinearStepSize")
        if not size or size["Type"] != "CAPACITY_PERCENT":
            return
        low, high = (1, 50) if routing["Type"] == "CANARY" else (10, 50)  # [Canary], [Linear]
        if not low <= size["Value"] <= high:
            raise client_error(
                operation,
                "ValidationException",
                f"{routing['Type']} step of {size['Value']} % is outside {low}-{high} % of the capacity",
            )

    # ------------------------------------------------------------------------------------------ helpers

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self._region}:{self._account}:{kind}/{name.lower()}"

    def _endpoint(self, operation: str, name: str) -> Endpoint:
        if name not in self.endpoints:
            raise client_error(
                operation, "ValidationException", f'Could not find endpoint "{self._arn("endpoint", name)}".'
            )
        return self.endpoints[name]

    def _endpoint_by_arn(self, arn: str) -> Endpoint | None:
        return next((e for e in self.endpoints.values() if e.arn == arn), None)

    def _require_config(self, operation: str, name: str) -> None:
        if not self._exists(self._moto.describe_endpoint_config, EndpointConfigName=name):
            raise client_error(
                operation,
                "ValidationException",
                f'Could not find endpoint configuration "{self._arn("endpoint-config", name)}".',
            )

    @staticmethod
    def _exists(describe: Callable[..., Any], **params: Any) -> bool:
        try:
            describe(**params)
            return True
        except ClientError:
            return False


def _linear_steps(routing: dict[str, Any]) -> int:
    step = routing["LinearStepSize"]["Value"]
    return -(-100 // step)


def _pascal(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))
