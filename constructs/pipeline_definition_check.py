"""What SageMaker's documentation says CreatePipeline or the pipeline step types refuse, as checks on a
pipeline definition (the JSON the SageMaker SDK writes, as a dict). Plain Python, no SageMaker SDK.

The SDK builds definitions the service refuses without complaint (a condition step inside another, for one),
and botocore's shape check sees the definition as one string. `check_pipeline_definition` raises with every
violation found; `violations` lists them. Each rule, with the page it is on and the sentence it quotes, is in
pipeline_definition_limits.py; this module walks the definition and finds what breaks them.

Not checked: the public JSON schema's list of step types allowed inside IfSteps/ElseSteps (Training,
Processing, Transform, RegisterModel, Fail): the schema is stale (it lacks Std:JsonGet and PropertyFiles) and
the developer guide's own condition-step example puts a CreateModel step in if_steps. No documented limit on
the number of steps or parameters was found on AWS's pages, so none is checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from constructs.pipeline_definition_limits import (
    CYCLE,
    DEFINITION_SIZE,
    DEFINITION_VERSION,
    FAIL_STEP_DEPENDENCY,
    FAIL_STEP_REFERENCE,
    MAX_DEFINITION_LENGTH,
    MAX_PARAMETER_TEXT,
    NAME_PATTERN,
    NESTED_CONDITION,
    PARAMETER_DEFAULT_TYPES,
    PARAMETER_NAME,
    PARAMETER_TYPE,
    PROPERTY_FILE,
    REFERENCE_ACROSS_BRANCHES,
    SAME_STEP_IN_BOTH_BRANCHES,
    STEP_NAME,
    UNDEFINED_PARAMETER,
    UNIQUE_STEP,
    UNKNOWN_DEPENDENCY,
    UNKNOWN_STEP_REFERENCE,
    VERSION,
    Rule,
)

BRANCHES = ("IfSteps", "ElseSteps")

# "Steps.<name>.<property path>", "Parameters.<name>", "Execution.<variable>"
STEP_REFERENCE = re.compile(r"^Steps\.([^.\[]+)(?:\.(.*))?$")
PROPERTY_FILE_REFERENCE = re.compile(r"^Steps\.([^.\[]+)\.PropertyFiles\.(.+)$")


@dataclass(frozen=True)
class Violation:
    rule: Rule
    detail: str

    def __str__(self) -> str:
        return f"{self.detail} [{self.rule.name}: {self.rule.quote} {self.rule.page}]"


class PipelineDefinitionError(ValueError):
    """The definition breaks a limit SageMaker documents: CreatePipeline or the run would refuse it."""

    def __init__(self, found: list[Violation]) -> None:
        self.violations = found
        lines = "\n".join(f"- {violation}" for violation in found)
        super().__init__(f"the pipeline definition breaks {len(found)} documented SageMaker limit(s):\n{lines}")


@dataclass(frozen=True)
class _Placed:
    """A step and where it sits: the condition steps and branches enclosing it (outermost first)."""

    step: Mapping[str, Any]
    branches: tuple[tuple[str, str], ...]  # (condition step name, "IfSteps" or "ElseSteps")

    @property
    def name(self) -> str:
        return str(self.step.get("Name", ""))


def _placed_steps(steps: list[Mapping[str, Any]], branches: tuple[tuple[str, str], ...] = ()) -> Iterator[_Placed]:
    for step in steps:
        yield _Placed(step, branches)
        arguments = step.get("Arguments") or {}
        for branch in BRANCHES:
            yield from _placed_steps(list(arguments.get(branch) or []), (*branches, (str(step.get("Name")), branch)))


def _own_expressions(step: Mapping[str, Any]) -> Any:
    """What the step itself evaluates: everything but the steps of its branches (those are steps of their own)."""
    arguments = step.get("Arguments") or {}
    own_arguments = {key: value for key, value in arguments.items() if key not in BRANCHES}
    return {key: value for key, value in step.items() if key not in ("Arguments", "DependsOn")} | {
        "Arguments": own_arguments
    }


def _gets(value: Any) -> Iterator[str]:
    """Every {"Get": "..."} expression in a JSON value."""
    if isinstance(value, Mapping):
        if set(value) == {"Get"} and isinstance(value["Get"], str):
            yield value["Get"]
            return
        for item in value.values():
            yield from _gets(item)
    elif isinstance(value, list):
        for item in value:
            yield from _gets(item)


def violations(definition: Mapping[str, Any], definition_text: str | None = None) -> list[Violation]:
    """Every documented limit the definition breaks. `definition_text` is the JSON as CreatePipeline receives
    it (its length is limited); without it, the dict serialized as the SageMaker SDK does."""
    text = definition_text if definition_text is not None else json.dumps(definition)
    found: list[Violation] = []
    if len(text) > MAX_DEFINITION_LENGTH:
        found.append(
            Violation(DEFINITION_SIZE, f"the definition is {len(text):,} characters, over {MAX_DEFINITION_LENGTH:,}")
        )
    if definition.get("Version") != DEFINITION_VERSION:
        found.append(Violation(VERSION, f"Version is {definition.get('Version')!r}, not {DEFINITION_VERSION!r}"))

    parameters = [str(parameter.get("Name", "")) for parameter in definition.get("Parameters") or []]
    found += [
        Violation(PARAMETER_NAME, f"parameter name {name!r} is not 1-64 letters, digits, '-' or '_'")
        for name in parameters
        if not NAME_PATTERN.match(name)
    ]
    for parameter in definition.get("Parameters") or []:
        found += _parameter_violations(parameter)

    placed = list(_placed_steps(list(definition.get("Steps") or [])))
    found += _name_violations(placed)
    by_name = {step.name: step for step in placed}
    found += _nesting_violations(placed)
    found += _reference_violations(placed, by_name, set(parameters))
    found += _cycle_violations(placed, by_name)
    return found


def check_pipeline_definition(definition: Mapping[str, Any], definition_text: str | None = None) -> None:
    """Raises PipelineDefinitionError naming every documented limit the definition breaks."""
    found = violations(definition, definition_text)
    if found:
        raise PipelineDefinitionError(found)


def _parameter_violations(parameter: Mapping[str, Any]) -> list[Violation]:
    name = parameter.get("Name")
    kind = parameter.get("Type", "String")
    accepted = PARAMETER_DEFAULT_TYPES.get(kind)
    if accepted is None:
        return [
            Violation(PARAMETER_TYPE, f"parameter {name!r} has Type {kind!r}, not String, Integer, Float or Boolean")
        ]
    found = []
    if "DefaultValue" in parameter:
        default = parameter["DefaultValue"]
        # JSON's true and false are not numbers (bool is an int in Python).
        if not isinstance(default, accepted) or (isinstance(default, bool) and kind != "Boolean"):
            found.append(
                Violation(PARAMETER_TYPE, f"parameter {name!r} of Type {kind} has the DefaultValue {default!r}")
            )
        elif isinstance(default, str) and len(default) > MAX_PARAMETER_TEXT:
            found.append(
                Violation(PARAMETER_TYPE, f"parameter {name!r} has a DefaultValue over {MAX_PARAMETER_TEXT} characters")
            )
    if len(str(parameter.get("Description", ""))) > MAX_PARAMETER_TEXT:
        found.append(
            Violation(PARAMETER_TYPE, f"parameter {name!r} has a Description over {MAX_PARAMETER_TEXT} characters")
        )
    return found


def _name_violations(placed: list[_Placed]) -> list[Violation]:
    found = [
        Violation(STEP_NAME, f"step name {step.name!r} is not 1-64 letters, digits, '-' or '_'")
        for step in placed
        if not NAME_PATTERN.match(step.name)
    ]
    in_both_branches = [
        (name, step.name)
        for step in placed
        for name in sorted(set.intersection(*(_branch_names(step.step, branch) for branch in BRANCHES)))
    ]
    found += [
        Violation(SAME_STEP_IN_BOTH_BRANCHES, f"step {name!r} is in both IfSteps and ElseSteps of {condition!r}")
        for name, condition in in_both_branches
    ]
    counts: dict[str, int] = {}
    for step in placed:
        counts[step.name] = counts.get(step.name, 0) + 1
    reported_in_branches = {name for name, _ in in_both_branches}
    found += [
        Violation(UNIQUE_STEP, f"step name {name!r} appears {count} times in the definition")
        for name, count in counts.items()
        if count > 1 and name not in reported_in_branches
    ]
    return found


def _branch_names(step: Mapping[str, Any], branch: str) -> set[str]:
    return {str(member.get("Name")) for member in (step.get("Arguments") or {}).get(branch) or []}


def _nesting_violations(placed: list[_Placed]) -> list[Violation]:
    return [
        Violation(
            NESTED_CONDITION,
            f"condition step {step.name!r} is inside the {step.branches[-1][1]} of condition step "
            f"{step.branches[-1][0]!r}",
        )
        for step in placed
        if step.step.get("Type") == "Condition" and step.branches
    ]


def _reference_violations(
    placed: list[_Placed], by_name: Mapping[str, _Placed], parameters: set[str]
) -> list[Violation]:
    found: list[Violation] = []
    for step in placed:
        for dependency in step.step.get("DependsOn") or []:
            target = by_name.get(dependency)
            if target is None:
                found.append(
                    Violation(UNKNOWN_DEPENDENCY, f"step {step.name!r} depends on unknown step {dependency!r}")
                )
            elif target.step.get("Type") == "Fail":
                found.append(Violation(FAIL_STEP_DEPENDENCY, f"step {step.name!r} depends on fail step {dependency!r}"))
            else:
                found += _across_branches(step, target, "depends on")
        for path in sorted(set(_gets(_own_expressions(step.step)))):
            if path.startswith("Parameters."):
                name = path.removeprefix("Parameters.")
                if name not in parameters:
                    found.append(
                        Violation(UNDEFINED_PARAMETER, f"step {step.name!r} reads parameter {name!r}, not defined")
                    )
                continue
            match = STEP_REFERENCE.match(path)
            if match is None:
                continue
            target = by_name.get(match.group(1))
            if target is None:
                found.append(
                    Violation(UNKNOWN_STEP_REFERENCE, f"step {step.name!r} reads {path!r}: no step {match.group(1)!r}")
                )
            elif target.step.get("Type") == "Fail":
                found.append(Violation(FAIL_STEP_REFERENCE, f"step {step.name!r} reads {path!r} of a fail step"))
            else:
                found += _across_branches(step, target, f"reads {path!r} of")
                found += _property_file_violations(step, target, path)
    return found


def _across_branches(step: _Placed, target: _Placed, relation: str) -> list[Violation]:
    """A step may use only steps that run whenever it runs: every branch enclosing the target encloses it too.
    A condition step's use of a step in its own branches is a cycle, reported as one."""
    if step.branches[: len(target.branches)] == target.branches:
        return []
    if any(condition == step.name for condition, _ in target.branches):
        return []
    condition, branch = next(
        (condition, branch) for index, (condition, branch) in enumerate(target.branches)
        if step.branches[index : index + 1] != ((condition, branch),)
    )  # fmt: skip
    where = f"the {branch} of {condition!r}"
    return [
        Violation(
            REFERENCE_ACROSS_BRANCHES,
            f"step {step.name!r} {relation} step {target.name!r}, which runs only in {where}, a branch that does "
            f"not lead to {step.name!r}",
        )
    ]


def _property_file_violations(step: _Placed, target: _Placed, path: str) -> list[Violation]:
    match = PROPERTY_FILE_REFERENCE.match(path)
    if match is None:
        return []
    files = {str(file.get("PropertyFileName")): file for file in target.step.get("PropertyFiles") or []}
    file = files.get(match.group(2))
    if file is None:
        return [
            Violation(
                PROPERTY_FILE,
                f"step {step.name!r} reads property file {match.group(2)!r}, not declared on {target.name!r}",
            )
        ]
    outputs = (target.step.get("Arguments") or {}).get("ProcessingOutputConfig", {}).get("Outputs", [])
    if file.get("OutputName") not in {output.get("OutputName") for output in outputs}:
        return [
            Violation(
                PROPERTY_FILE,
                f"property file {match.group(2)!r} of {target.name!r} names output {file.get('OutputName')!r}, "
                "which the step does not have",
            )
        ]
    return []


def _cycle_violations(placed: list[_Placed], by_name: Mapping[str, _Placed]) -> list[Violation]:
    """Edges: DependsOn, property references, and a condition step to the steps of its branches."""
    waits_for: dict[str, set[str]] = {step.name: set() for step in placed}
    for step in placed:
        waits_for[step.name] |= {name for name in step.step.get("DependsOn") or [] if name in by_name}
        for path in _gets(_own_expressions(step.step)):
            match = STEP_REFERENCE.match(path)
            if match is not None and match.group(1) in by_name:
                waits_for[step.name].add(match.group(1))
        if step.branches:
            waits_for[step.name].add(step.branches[-1][0])
    state: dict[str, str] = {}
    found: list[Violation] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "visiting"
        for upstream in sorted(waits_for[name]):
            if state.get(upstream) == "visiting":
                cycle = [*trail[trail.index(upstream) :], upstream] if upstream in trail else [name, upstream]
                found.append(Violation(CYCLE, "steps wait for each other: " + " -> ".join(cycle)))
            elif upstream not in state:
                visit(upstream, [*trail, upstream])
        state[name] = "done"

    for name in sorted(waits_for):
        if name not in state:
            visit(name, [name])
    return found
