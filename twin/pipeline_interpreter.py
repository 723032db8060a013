"""SageMaker Pipelines, as the twin stands it in: a pipeline definition (the JSON CreatePipeline received) run step
by step, its expressions evaluated as SageMaker documents them.

- Steps run in dependency order (a step after every step it reads with `Get: Steps.<name>...` or names in
  DependsOn); a condition step runs the steps of the branch its conditions choose.
- Expressions: `{"Get": "Parameters.<name>"}` (the execution's value, else the default; a parameter without a
  default must be given), `{"Get": "Execution.<variable>"}` (PipelineExecutionId, PipelineExecutionArn,
  PipelineName, StartDateTime, CurrentDateTime), `{"Get": "Steps.<name>.<property path>"}` on the step's
  Describe* answer (lists of named things indexed by name, e.g. Outputs['train']), `Std:Join`, `Std:JsonGet` on a
  property file of a processing step ("Pass Data Between Steps", Property files and JsonGet).
- Conditions: Equals, GreaterThan, GreaterThanOrEqualTo, LessThan, LessThanOrEqualTo, In, Not, Or ("Condition
  step"). A Fail step ends the execution Failed with its ErrorMessage as the FailureReason.
- Processing and Training steps run through twin/job_runner.py; a RegisterModel step calls CreateModelPackage
  with its arguments (botocore checks them against the API's shapes).
- Parameters given to StartPipelineExecution that the definition does not declare fail the execution.

Not SageMaker: no step caching, no retries, no parallelism limit, steps run one at a time.
Pages: https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-steps-types.html,
https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-propertyfile.html,
https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-parameters.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from twin.job_runner import JobRunner, split_s3_uri

_PATH_PART = re.compile(r"\.?([A-Za-z0-9_]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


class StepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


class ExecutionFailed(Exception):
    """A Fail step or a failed step: the execution's FailureReason."""


@dataclass
class Execution:
    pipeline_name: str
    arn: str
    definition: Mapping[str, Any]
    parameters: Mapping[str, Any]  # name -> value given at start
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> its Describe* answer
    property_files: dict[tuple[str, str], Any] = field(default_factory=dict)  # (step, file name) -> JSON
    steps: list[dict[str, Any]] = field(default_factory=list)  # as ListPipelineExecutionSteps shows them

    @property
    def execution_id(self) -> str:
        return self.arn.rsplit("/", 1)[1]


def _typed(kind: str, value: Any) -> Any:
    if kind == "Integer":
        return int(value)
    if kind == "Float":
        return float(value)
    if kind == "Boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    return str(value)


def _join_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def property_path(root: Any, path: str, where: str) -> Any:
    value = root
    for match in _PATH_PART.finditer(path):
        attribute, index, *names = match.groups()
        name = next((n for n in names if n is not None), None)
        try:
            if attribute is not None:
                value = value[attribute]
            elif index is not None:
                value = value[int(index)]
            else:  # a list of named things, indexed by its name (OutputName, ChannelName, ...)
                value = next(item for item in value if name in item.values())
        except (KeyError, IndexError, TypeError, StopIteration):
            raise ExecutionFailed(f"{where}: no property {path!r}") from None
    return value


class PipelineInterpreter:
    def __init__(self, jobs: JobRunner, s3: Any, sagemaker: Any, say: Callable[[str], None]) -> None:
        self._jobs = jobs
        self._s3 = s3
        self._sagemaker = sagemaker
        self._say = say
        self.registrations: list[dict[str, Any]] = []  # each RegisterModel step's CreateModelPackage arguments

    # ------------------------------------------------------------------------------------------ expressions

    def evaluate(self, value: Any, execution: Execution) -> Any:
        if isinstance(value, list):
            return [self.evaluate(item, execution) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self._get(value["Get"], execution)
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return join["On"].join(_join_text(self.evaluate(item, execution)) for item in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            json_get = value["Std:JsonGet"]
            reference = json_get["PropertyFile"]["Get"]  # Steps.<step>.PropertyFiles.<name>
            _, step, _, name = reference.split(".", 3)
            if (step, name) not in execution.property_files:
                raise ExecutionFailed(f"property file {name} of step {step} is not available")
            return property_path(execution.property_files[(step, name)], json_get["Path"], f"JsonGet {name}")
        return {key: self.evaluate(item, execution) for key, item in value.items()}

    def _get(self, reference: str, execution: Execution) -> Any:
        kind, _, rest = reference.partition(".")
        if kind == "Parameters":
            declared = {p["Name"]: p for p in execution.definition.get("Parameters", [])}
            parameter = declared[rest]
            if rest in execution.parameters:
                return _typed(parameter.get("Type", "String"), execution.parameters[rest])
            if "DefaultValue" not in parameter:
                raise ExecutionFailed(f"parameter {rest} has no default and was not given to StartPipelineExecution")
            return parameter["DefaultValue"]
        if kind == "Execution":
            variables = {
                "PipelineExecutionId": execution.execution_id,
                "PipelineExecutionArn": execution.arn,
                "PipelineName": execution.pipeline_name,
                "StartDateTime": execution.started.isoformat(),
                "CurrentDateTime": datetime.now(timezone.utc).isoformat(),
            }
            return variables[rest]
        if kind == "Steps":
            step, _, path = rest.partition(".")
            if step not in execution.properties:
                raise ExecutionFailed(f"step {step} has not run: its properties are not available")
            return property_path(execution.properties[step], path, f"step {step}")
        raise ExecutionFailed(f"unknown reference {reference!r}")

    # ------------------------------------------------------------------------------------------ order

    @staticmethod
    def _references(step: Mapping[str, Any]) -> set[str]:
        text = json.dumps({k: v for k, v in step.get("Arguments", {}).items() if k not in ("IfSteps", "ElseSteps")})
        found = set(re.findall(r'"Steps\.([A-Za-z0-9_-]+)', text)) | set(step.get("DependsOn", []))
        return found - {step["Name"]}

    def ordered(self, steps: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        names = {step["Name"] for step in steps}
        done: set[str] = set()
        pending = list(steps)
        while pending:
            ready = [s for s in pending if self._references(s) & names <= done]
            if not ready:
                raise ExecutionFailed(f"steps {[s['Name'] for s in pending]} wait on each other")
            step = ready[0]
            pending.remove(step)
            done.add(step["Name"])
            yield step

    # ------------------------------------------------------------------------------------------ running

    def run(self, execution: Execution) -> tuple[str, str | None]:
        """Run the execution; its status (Succeeded / Failed) and FailureReason."""
        declared = {p["Name"] for p in execution.definition.get("Parameters", [])}
        unknown = sorted(set(execution.parameters) - declared)
        try:
            if unknown:
                raise ExecutionFailed(f"parameters not declared by the pipeline: {', '.join(unknown)}")
            self._run_steps(list(execution.definition.get("Steps", [])), execution)
        except ExecutionFailed as error:
            return "Failed", str(error)
        except Exception as error:  # the twin itself failed (a job timed out, a call was refused): said as such
            return "Failed", f"the twin could not run the execution: {type(error).__name__}: {error}"
        return "Succeeded", None

    def _run_steps(self, steps: list[Mapping[str, Any]], execution: Execution) -> None:
        for step in self.ordered(steps):
            self._run_step(step, execution)

    def _run_step(self, step: Mapping[str, Any], execution: Execution) -> None:
        name, kind = step["Name"], step["Type"]
        record: dict[str, Any] = {"StepName": name, "StepStatus": "Executing", "StartTime": datetime.now(timezone.utc)}
        execution.steps.append(record)
        try:
            outcome = self._step_outcome(step, execution)
        except StepFailed as failure:
            record.update(StepStatus="Failed", FailureReason=failure.reason, EndTime=datetime.now(timezone.utc))
            self._say(f"{name} ({kind}) failed: {failure.reason}")
            if kind == "Fail":  # "the ErrorMessage ... is shown as the pipeline execution failure reason" (Fail step)
                raise ExecutionFailed(failure.reason) from None
            raise ExecutionFailed(f"Step failure: One or multiple steps failed. {name}: {failure.reason}") from None
        except ExecutionFailed as failure:
            record.update(StepStatus="Failed", FailureReason=str(failure), EndTime=datetime.now(timezone.utc))
            raise
        record.update(StepStatus="Succeeded", EndTime=datetime.now(timezone.utc), Metadata=outcome.get("metadata", {}))
        if outcome.get("said"):
            self._say(f"{name} ({kind}): {outcome['said']}")
        branch = outcome.get("branch")
        if branch is not None:
            self._run_steps(list(step["Arguments"].get(branch) or []), execution)

    def _step_outcome(self, step: Mapping[str, Any], execution: Execution) -> dict[str, Any]:
        name, kind = step["Name"], step["Type"]
        if kind == "Condition":
            outcome = all(self._condition(c, execution) for c in step["Arguments"]["Conditions"])
            execution.properties[name] = {"Outcome": outcome}
            return {"branch": "IfSteps" if outcome else "ElseSteps", "said": f"conditions {'met' if outcome else 'not met'}",
                    "metadata": {"Condition": {"Outcome": str(outcome).lower()}}}  # fmt: skip
        if kind == "Fail":
            message = _join_text(self.evaluate(step["Arguments"].get("ErrorMessage", ""), execution))
            raise StepFailed(name, message)
        arguments = self.evaluate(step["Arguments"], execution)
        job_name = f"pipelines-{execution.execution_id}-{name}"
        if kind == "Processing":
            result = self._jobs.processing(job_name, arguments)
            if not result.succeeded:
                raise StepFailed(name, f"ProcessingJob {job_name} failed: {result.failure}")
            execution.properties[name] = {
                **arguments,
                "ProcessingJobName": job_name,
                "ProcessingJobStatus": "Completed",
            }
            for property_file in step.get("PropertyFiles", []):
                output = property_path(
                    arguments, f"ProcessingOutputConfig.Outputs['{property_file['OutputName']}']", name
                )
                bucket, prefix = split_s3_uri(output["S3Output"]["S3Uri"])
                body = self._s3.get_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{property_file['FilePath']}")[
                    "Body"
                ]
                execution.property_files[(name, property_file["PropertyFileName"])] = json.loads(body.read())
            return {"said": "completed", "metadata": {"ProcessingJob": {"Arn": job_name}}}
        if kind == "Training":
            result, model_uri = self._jobs.training(job_name, arguments)
            if not result.succeeded:
                raise StepFailed(name, f"TrainingJob {job_name} failed: {result.failure}")
            execution.properties[name] = {
                **arguments, "TrainingJobName": job_name, "TrainingJobStatus": "Completed",
                "ModelArtifacts": {"S3ModelArtifacts": model_uri},
            }  # fmt: skip
            return {"said": f"model {model_uri}", "metadata": {"TrainingJob": {"Arn": job_name}}}
        if kind == "RegisterModel":
            arn = self._sagemaker.create_model_package(**arguments)["ModelPackageArn"]
            self.registrations.append(dict(arguments))
            execution.properties[name] = {"ModelPackageArn": arn}
            status = arguments.get("ModelApprovalStatus", "PendingManualApproval")
            return {"said": f"{arn} ({status})", "metadata": {"RegisterModel": {"Arn": arn}}}
        raise StepFailed(name, f"the twin does not run {kind} steps")

    def _condition(self, condition: Mapping[str, Any], execution: Execution) -> bool:
        kind = condition["Type"]
        if kind == "Not":
            return not self._condition(condition["Expression"], execution)
        if kind == "Or":
            return any(self._condition(c, execution) for c in condition["Conditions"])
        left = self.evaluate(condition.get("LeftValue", condition.get("QueryValue")), execution)
        if kind == "In":
            return left in [self.evaluate(v, execution) for v in condition["RightValue"]]
        right = self.evaluate(condition["RightValue"], execution)
        comparisons = {
            "Equals": lambda a, b: a == b,
            "GreaterThan": lambda a, b: a > b,
            "GreaterThanOrEqualTo": lambda a, b: a >= b,
            "LessThan": lambda a, b: a < b,
            "LessThanOrEqualTo": lambda a, b: a <= b,
        }
        if kind not in comparisons:
            raise ExecutionFailed(f"the twin does not evaluate {kind} conditions")
        return bool(comparisons[kind](left, right))
