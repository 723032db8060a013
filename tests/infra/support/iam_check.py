"""Least privilege both ways: every need is allowed by its role's policies, every granted action is needed.

`findings(...)` returns one line per problem; test_iam_least_privilege.py asserts there are none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from policy_sentry.querying.actions import get_actions_for_service

from tests.infra.support.iam_allowances import DENIALS_ACCEPTED, ROLES_NOT_CHECKED, UNUSED_GRANTS_ACCEPTED
from tests.infra.support.iam_calls import RecordedCall, handler_modules
from tests.infra.support.iam_functions import (
    LambdaFunction,
    lambda_functions,
    name_bindings,
    recorded_settings,
    runtime_needs,
    translate,
)
from tests.infra.support.iam_jobs import (
    deploy_settings,
    model_role_needs,
    monitor_job_needs,
    monitor_settings,
    pipeline_needs,
    pipelines,
)
from tests.infra.support.iam_needs import call_needs, encryption_context
from tests.infra.support.iam_policy import Need, Statement, evaluate, glob_match, statements_of
from tests.infra.support.iam_templates import Environment


@dataclass(frozen=True)
class Role:
    arn: str
    label: str  # construct path without the environment, e.g. "Training/Trigger/Trigger/Role"
    statements: tuple[Statement, ...]


def roles(environment: Environment) -> dict[str, Role]:
    """Every role of the environment by ARN, with the statements of every policy attached to it."""
    found: dict[str, tuple[str, list[Statement]]] = {}
    names: dict[str, str] = {}
    for stack_id, logical_id, resource in environment.resources():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        arn = environment.resolve(stack_id, {"Fn::GetAtt": [logical_id, "Arn"]})
        path = resource.get("Metadata", {}).get("aws:cdk:path", f"{environment.name}/{stack_id}/{logical_id}")
        label = path.split("/", 1)[1].removesuffix("/Resource")
        statements: list[Statement] = []
        properties = resource.get("Properties", {})
        for index, inline in enumerate(properties.get("Policies", [])):
            document = environment.resolve(stack_id, inline["PolicyDocument"])
            statements += statements_of(document, f"{stack_id}/{logical_id} inline policy {index}")
        for managed in properties.get("ManagedPolicyArns", []):
            statements += _managed_policy(environment, environment.resolve(stack_id, managed), label)
        found[arn] = (label, statements)
        names[environment.resolve(stack_id, {"Ref": logical_id})] = arn
    for stack_id, logical_id, resource in environment.resources():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        properties = resource["Properties"]
        document = environment.resolve(stack_id, properties["PolicyDocument"])
        for role_name in environment.resolve(stack_id, properties.get("Roles", [])):
            found[names[role_name]][1].extend(statements_of(document, f"{stack_id}/{logical_id}"))
    return {arn: Role(arn, label, tuple(statements)) for arn, (label, statements) in found.items()}


def _managed_policy(environment: Environment, arn: str, label: str) -> list[Statement]:
    for stack_id, logical_id, resource in environment.resources():
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and environment.resolve(stack_id, {"Ref": logical_id}) == arn:
            document = environment.resolve(stack_id, resource["Properties"]["PolicyDocument"])
            return statements_of(document, f"{stack_id}/{logical_id}")
    if label in ROLES_NOT_CHECKED:
        return []
    raise ValueError(f"{label}: managed policy {arn} is not in the templates; its statements cannot be evaluated")


@dataclass
class Judgement:
    """What one environment's needs did against its roles' statements."""

    environment: str
    # (role, action, resource, denying statement) -> the first need denied there, and how many were
    _denied: dict[tuple[str, str, str, str], tuple[Need, int]] = field(default_factory=dict)
    used: set[tuple[str, str, str]] = field(default_factory=set)  # (role label, statement where, action)
    accepted_denials: set[tuple[str, str, str]] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)  # labels of the roles judged

    def judge(self, role: Role, needs: Iterable[Need]) -> None:
        self.roles.add(role.label)
        for need in needs:
            decision = evaluate(list(role.statements), need)
            for statement in decision.allowed_by:
                self.used.add((role.label, statement.where, need.action.lower()))
            if decision.allowed:
                continue
            accepted = accepted_entry(DENIALS_ACCEPTED, role.label, need.action, need.resource)
            if accepted is not None:
                self.accepted_denials.add(accepted)
                continue
            by = f" (denied by {decision.denied_by[0].where})" if decision.denied_by else ""
            key = (role.label, need.action, need.resource, by)
            first, count = self._denied.get(key, (need, 0))
            self._denied[key] = (first, count + 1)

    @property
    def denied(self) -> list[str]:
        """One line per role, action, resource: the first call that needed it, and how many more did."""
        return [
            f"DENIED  {self.environment}  {role}  {action}  {resource}{by}  <- {first.why}"
            + (f" (and {count - 1} more)" if count > 1 else "")
            for (role, action, resource, by), (first, count) in self._denied.items()
        ]


def judge_sagemaker_roles(environment: Environment, all_roles: Mapping[str, Role], judgement: Judgement) -> None:
    """The pipeline's role against its jobs' needs; the model role against the endpoint's; the monitoring job's role
    against the job the monitoring launcher starts."""
    ctx = encryption_context(environment)
    settings = deploy_settings(environment)
    monitoring = monitor_settings(environment)
    for pipeline in pipelines(environment):
        judgement.judge(all_roles[pipeline.role], pipeline_needs(pipeline, ctx))
        if settings is not None:
            judgement.judge(all_roles[settings["model_role_arn"]], model_role_needs(pipeline, settings, ctx))
        if monitoring is not None:
            judgement.judge(all_roles[monitoring["job_role_arn"]], monitor_job_needs(monitoring, pipeline, ctx))


def _environment_of(call: RecordedCall) -> str | None:
    named = (recorded_settings(call, "DEPLOY_SETTINGS") or {}).get("environment") or call.environ.get(
        "ENVIRONMENT_NAME"
    )
    return named if isinstance(named, str) else None


def judge_lambda_roles(
    environment: Environment, calls: list[RecordedCall], all_roles: Mapping[str, Role], environments: set[str]
) -> tuple[Judgement, dict[str, int]]:
    """Every recorded call of each project function, and Lambda's own needs, against the function's role."""
    judgement = Judgement(environment.name)
    ctx = encryption_context(environment)
    calls_per_function: dict[str, int] = {}
    last_test = None
    functions = project_functions(environment)
    for function in functions:  # the scalable targets the handlers registered, per test
        for call in calls:
            if call.operation == "RegisterScalableTarget" and function.runs(call):
                params = translate(call.params, name_bindings(call, function), environment.region)
                ctx.target_tags[(call.test, params["ResourceId"])] = dict(params.get("Tags") or {})
    for function in functions:
        role = all_roles[function.role]
        judgement.judge(role, runtime_needs(function, ctx))
        made = [c for c in calls if function.runs(c) and _applies_to(c, environment.name, environments)]
        calls_per_function[function.name] = len(made)
        for call in made:
            if call.test != last_test:
                ctx.config_keys.clear()  # endpoint configs are per test (each test has its own moto account)
                last_test = call.test
            params = translate(call.params, name_bindings(call, function), environment.region)
            ctx.current_test = call.test
            judgement.judge(role, call_needs(call, params, ctx))
    return judgement, calls_per_function


def _applies_to(call: RecordedCall, environment: str, environments: set[str]) -> bool:
    # A call made under a test's own environment name (e.g. "test") holds for every environment; one made with an
    # environment's own settings (e.g. prod's autoscaling) is judged against that environment only.
    named = _environment_of(call)
    return named not in environments or named == environment


def project_functions(environment: Environment) -> list[LambdaFunction]:
    modules = handler_modules()
    return [f for f in lambda_functions(environment) if f.module in modules]


def unused_grants(
    used: set[tuple[str, str, str]], environment: str, checked: Iterable[Role]
) -> tuple[list[str], set[tuple[str, str, str]]]:
    """Granted actions no need used, in `environment`'s policies. `used` is the union over all environments:
    the same construct grants the same statement everywhere, and tests exercise each path with one
    environment's settings (autoscaling with prod's, the rest mostly with dev's)."""
    findings, accepted = [], set()
    for role in checked:
        for statement in role.statements:
            if statement.effect != "Allow":
                continue
            for action in expand_actions(statement.actions):
                if (role.label, statement.where, action.lower()) in used:
                    continue
                resources = ", ".join(statement.resources or statement.not_resources)
                entry = accepted_entry(UNUSED_GRANTS_ACCEPTED, role.label, action, resources)
                if entry is not None:
                    accepted.add(entry)
                    continue
                findings.append(
                    f"UNUSED  {environment}  {role.label}  {action}  granted in {statement.where} "
                    f"on {resources}: no recorded call or documented need uses it"
                )
    return findings, accepted


def accepted_entry(
    entries: Mapping[tuple[str, str, str], str], role: str, action: str, resource: str
) -> tuple[str, str, str] | None:
    for entry in entries:
        entry_role, entry_action, entry_resource = entry
        if entry_role == role and entry_action.lower() == action.lower() and glob_match(entry_resource, resource):
            return entry
    return None


def expand_actions(patterns: Iterable[str]) -> list[str]:
    """A statement's actions; a wildcard expanded over the reference's actions of that service."""
    expanded = []
    for pattern in patterns:
        if "*" not in pattern and "?" not in pattern:
            expanded.append(pattern)
            continue
        prefix = pattern.split(":", 1)[0]
        expanded += [a for a in get_actions_for_service(prefix) if glob_match(pattern, a, ignore_case=True)]
    return expanded


def least_privilege_findings(environments: list[Environment], calls: list[RecordedCall]) -> list[str]:
    """One line per denied need, unused grant, unjudged role, untested function and stale allow-list entry."""
    names = {environment.name for environment in environments}
    judged = []
    used: set[tuple[str, str, str]] = set()
    accepted: set[tuple[str, str, str]] = set()
    calls_per_function: dict[str, int] = {}
    findings: list[str] = []
    for environment in environments:
        all_roles = roles(environment)
        judgement, counts = judge_lambda_roles(environment, calls, all_roles, names)
        judge_sagemaker_roles(environment, all_roles, judgement)
        for function, count in counts.items():
            calls_per_function[function] = calls_per_function.get(function, 0) + count
        judged.append((environment, all_roles))
        used |= judgement.used
        accepted |= judgement.accepted_denials
        findings += judgement.denied
        unjudged = {r.label for r in all_roles.values()} - set(ROLES_NOT_CHECKED) - judgement.roles
        findings += [f"UNJUDGED  {environment.name}  {label}: no needs model for this role" for label in unjudged]
    # Not vacuous: a function no test drove (deselected, or new and untested) cannot be judged.
    findings += [
        f"NO CALLS  {function}: no recorded call; run the whole tests/infra suite, or test the function"
        for function, count in calls_per_function.items()
        if count == 0
    ]
    for environment, all_roles in judged:
        unused, accepted_unused = unused_grants(
            used, environment.name, [r for r in all_roles.values() if r.label not in ROLES_NOT_CHECKED]
        )
        findings += unused
        accepted |= accepted_unused
    stale: set[Any] = (set(UNUSED_GRANTS_ACCEPTED) | set(DENIALS_ACCEPTED)) - accepted
    stale |= set(ROLES_NOT_CHECKED) - {role.label for _, all_roles in judged for role in all_roles.values()}
    findings += [f"STALE ALLOWANCE  {entry}: matched no finding; remove it from iam_allowances.py" for entry in stale]
    return sorted(set(findings))
