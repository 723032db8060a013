"""The project's Lambda functions as an environment's template declares them, and what a recorded call's test names
are in that environment; what Lambda itself does with each function's role (runtime_needs)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.infra.support.iam_calls import RecordedCall
from tests.infra.support.iam_needs import Context, kms_needs
from tests.infra.support.iam_network import network_needs
from tests.infra.support.iam_policy import Need
from tests.infra.support.iam_reference import check_against_reference
from tests.infra.support.iam_templates import ACCOUNT, Environment

TEST_REGION = "eu-west-1"  # the region every handler test's clients use


@dataclass(frozen=True)
class LambdaFunction:
    """A project function of one environment as the template declares it."""

    stack_id: str
    logical_id: str
    module: str  # "model_deployment.prepare" of Handler "model_deployment.prepare.handler"
    entry: str  # "handler"
    role: str  # the role's ARN
    variables: Mapping[str, str]  # environment variables, resolved
    log_group: str | None
    kms_key: str | None
    dead_letter_queue: str | None
    vpc_config: Mapping[str, Any] | None
    event_patterns: tuple[Mapping[str, Any], ...]  # resolved patterns of the rules that target it

    @property
    def name(self) -> str:
        return f"{self.stack_id}/{self.logical_id}"

    def runs(self, call: RecordedCall) -> bool:
        """Tests call either the handler (`deploy.prepare.handler`) or the function it wraps (`deploy.prepare.run`)."""
        return any(module == self.module and function in (self.entry, "run") for module, function in call.frames)


def lambda_functions(environment: Environment) -> list[LambdaFunction]:
    functions = []
    for stack_id, logical_id, resource in environment.resources():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties = environment.resolve(stack_id, resource["Properties"])
        module, _, entry = properties["Handler"].rpartition(".")
        arn = environment.resolve(stack_id, {"Fn::GetAtt": [logical_id, "Arn"]})
        patterns = tuple(
            environment.resolve(rule_stack, rule["Properties"]["EventPattern"])
            for rule_stack, _, rule in environment.resources()
            if rule["Type"] == "AWS::Events::Rule"
            and "EventPattern" in rule["Properties"]  # a scheduled rule has none
            and any(environment.resolve(rule_stack, t["Arn"]) == arn for t in rule["Properties"].get("Targets", []))
        )
        functions.append(
            LambdaFunction(
                stack_id=stack_id,
                logical_id=logical_id,
                module=module,
                entry=entry,
                role=properties["Role"],
                variables=properties.get("Environment", {}).get("Variables", {}),
                log_group=properties.get("LoggingConfig", {}).get("LogGroup"),
                kms_key=properties.get("KmsKeyArn"),
                dead_letter_queue=properties.get("DeadLetterConfig", {}).get("TargetArn"),
                vpc_config=properties.get("VpcConfig"),
                event_patterns=patterns,
            )
        )
    return functions


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def _looks_like_a_name(value: Any) -> bool:
    # Short words ("test", "dev") also occur inside unrelated strings; only identifiers are translated.
    return isinstance(value, str) and len(value) >= 6 and any(c in value for c in "-:/")


def _resource_name(arn: str) -> str:
    return re.split(r"[:/]", arn)[-1]


def name_bindings(call: RecordedCall, function: LambdaFunction) -> dict[str, str]:
    """Test name -> environment name, from what the test configured against what the template configures.

    The handler reads its names from its environment variables (or, in the deploy steps, the settings they
    parse from one) and from its event; the template says what those are in the environment.
    """
    pairs: list[tuple[Any, Any]] = []
    for key, value in function.variables.items():
        parsed = _json_object(value)
        if parsed is not None:
            recorded = dict(_leaves(recorded_settings(call, key) or {}))
            pairs += [(recorded.get(path), leaf) for path, leaf in _leaves(parsed)]
        else:
            pairs.append((call.environ.get(key), value))
    for pattern in function.event_patterns:
        event = dict(_leaves(call.event or {}))
        for path, values in _pattern_leaves(pattern):
            if len(values) == 1 and isinstance(values[0], str):
                pairs.append((event.get(path), values[0]))
    bindings = {
        recorded: configured
        for recorded, configured in pairs
        if _looks_like_a_name(recorded) and isinstance(configured, str) and recorded != configured
    }
    # An ARN's bare name also appears in other ARNs (a state machine's in its executions' ARNs), unless the test
    # configured that name for something else too (an endpoint named like the topic).
    configured_names = {recorded for recorded, _ in pairs}
    for recorded, configured in list(bindings.items()):
        name = _resource_name(recorded)
        if recorded.startswith("arn:") and configured.startswith("arn:") and name not in configured_names:
            bindings.setdefault(name, _resource_name(configured))
    return {test: real for test, real in bindings.items() if _looks_like_a_name(test)}


def recorded_settings(call: RecordedCall, variable: str) -> Mapping[str, Any] | None:
    """The settings a deploy step ran with: the argument the test passed, else the JSON variable it set."""
    return call.settings if call.settings is not None else _json_object(call.environ.get(variable))


def _pattern_leaves(pattern: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, list[Any]]]:
    for key, value in pattern.items():
        if isinstance(value, Mapping):
            yield from _pattern_leaves(value, f"{path}.{key}")
        else:
            yield f"{path}.{key}", value


def _json_object(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def translate(value: Any, bindings: Mapping[str, str], region: str) -> Any:
    """`value` with every test name replaced by the environment's (longest first) and the test region by its."""
    if isinstance(value, Mapping):
        return {key: translate(item, bindings, region) for key, item in value.items()}
    if isinstance(value, list):
        return [translate(item, bindings, region) for item in value]
    if not isinstance(value, str):
        return value
    if bindings:
        alternatives = "|".join(re.escape(name) for name in sorted(bindings, key=len, reverse=True))
        value = re.sub(alternatives, lambda match: bindings[match.group(0)], value)
    return value.replace(f":{TEST_REGION}:{ACCOUNT}:", f":{region}:{ACCOUNT}:")


def runtime_needs(function: LambdaFunction, ctx: Context) -> list[Need]:
    """What Lambda itself does with the function's execution role (AWS Lambda Developer Guide)."""
    why = f"Lambda runtime of {function.name}"
    needs = []
    if function.log_group:
        # "Sending Lambda function logs to CloudWatch Logs": the execution role needs logs:CreateLogStream and
        # logs:PutLogEvents on the function's log group (CreateLogGroup only where the group does not exist).
        stream = ctx.arn("logs", f"log-group:{function.log_group}:log-stream:2026/01/01/[$LATEST]0123456789abcdef")
        needs += [Need(a, stream, why=why + " (logs)") for a in ("logs:CreateLogStream", "logs:PutLogEvents")]
    # Invoke API errors, KMSAccessDeniedException: "Lambda couldn't decrypt the environment variables because KMS
    # access was denied. Check the Lambda function's KMS permissions" - it decrypts them as the execution role.
    needs += kms_needs(function.kms_key, ["kms:Decrypt"], why + " (encrypted environment variables)")
    if function.dead_letter_queue:
        # "Adding a dead-letter queue" (Lambda asynchronous invocation): the execution role needs sqs:SendMessage;
        # SQS "Key management": a producer to an SSE-KMS queue needs kms:GenerateDataKey and kms:Decrypt.
        queue = function.dead_letter_queue
        needs.append(Need("sqs:SendMessage", queue, why=why + " (dead-letter queue)"))
        needs += kms_needs(ctx.queue_keys.get(queue), ["kms:GenerateDataKey", "kms:Decrypt"], why + " (encrypted DLQ)")
    if function.vpc_config:
        vpc = function.vpc_config
        needs += network_needs(ctx, "lambda", vpc["SubnetIds"], vpc["SecurityGroupIds"], why + " (VPC)")
    for need in needs:
        check_against_reference(need.action, [need], why)
    return needs
