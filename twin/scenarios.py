"""What a user does to the system, end to end, in the twin; each scenario says what it expects and fails loudly
when the system does something else.

- happy_path: upload -> pipeline -> registered -> approved -> deployed -> the endpoint answers.
- bad_upload: a file the trigger refuses; its notice arrives, no pipeline runs.
- below_threshold: data whose labels carry no signal; the run fails at the quality gate with its message.
- second_approval: a second model approved while the first serves: blue/green to the new version.
- alarm_rollback: as second_approval, with a rollback alarm in ALARM during the bake: rolled back, reported.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.job_runner import REPO_ROOT
from twin.system import Twin

SHIPPED_SAMPLE = REPO_ROOT / "ml_code" / "data" / "adult.csv.gz"
CONTRACT = REPO_ROOT / "ml_code" / "data_contract.json"


class ScenarioFailed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioFailed(message)


def _read_rows(data: Path) -> list[list[str]]:
    opener: Callable[..., Any] = gzip.open if data.suffix == ".gz" else open
    with opener(data, "rt", encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def _write_rows(rows: list[list[str]], path: Path) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def sample(data: Path, rows: int | None, folder: Path, name: str = "sample.csv") -> Path:
    """The data as is, or its header and first `rows` rows as a CSV."""
    if rows is None:
        return data
    return _write_rows(_read_rows(data)[: rows + 1], folder / name)


def without_signal(data: Path, folder: Path) -> Path:
    """The same rows with the target column shuffled: no model can beat chance on it."""
    rows = _read_rows(data)
    target = json.loads(CONTRACT.read_text(encoding="utf-8"))["target_column"]
    column = rows[0].index(target)
    labels = [row[column] for row in rows[1:]]
    random.Random(21).shuffle(labels)
    for row, label in zip(rows[1:], labels, strict=True):
        row[column] = label
    return _write_rows(rows, folder / "no-signal.csv")


@dataclass(frozen=True)
class Registered:
    arn: str
    version: int


def registered_packages(twin: Twin) -> list[dict[str, Any]]:
    groups = twin.sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    packages = []
    for group in groups:
        summaries = twin.sagemaker.list_model_packages(ModelPackageGroupName=group["ModelPackageGroupName"])
        packages += summaries["ModelPackageSummaryList"]
    return sorted(packages, key=lambda package: package["ModelPackageVersion"])


def endpoint_name(twin: Twin) -> str:
    for stack in twin.assembly.stacks:
        if "EndpointName" in stack.template.get("Outputs", {}):
            return str(stack.output("EndpointName"))
    raise LookupError("no stack outputs an EndpointName")


def train_and_register(twin: Twin, data: Path, name: str) -> Registered:
    before = len(twin.record.pipeline_runs)
    twin.upload(
        data, f"{name.removesuffix('.csv')}{''.join(data.suffixes) or '.csv'}"
    )  # .csv or .csv.gz, as the data is
    twin.settle()
    runs = twin.record.pipeline_runs[before:]
    expect(
        len(runs) == 1, f"the upload started {len(runs)} pipeline executions, not 1: {twin.record.handler_results[-1:]}"
    )
    _, status, reason = runs[0]
    expect(status == "Succeeded", f"the pipeline execution {status}: {reason}")
    package = registered_packages(twin)[-1]
    expect(package["ModelApprovalStatus"] == "PendingManualApproval", f"registered as {package['ModelApprovalStatus']}")
    twin.say("registered", f"{package['ModelPackageArn']} awaits approval")
    return Registered(package["ModelPackageArn"], int(package["ModelPackageVersion"]))


def register_again(twin: Twin) -> Registered:
    """The model a pipeline registered last, registered once more exactly as its RegisterModel step did: a new
    version, awaiting approval, without another pipeline run (for a scenario about the deployment alone)."""
    expect(twin.pipelines.registrations != [], "no pipeline has registered a model yet")
    twin.sagemaker.create_model_package(**twin.pipelines.registrations[-1])
    twin.settle()
    package = registered_packages(twin)[-1]
    expect(package["ModelApprovalStatus"] == "PendingManualApproval", f"registered as {package['ModelApprovalStatus']}")
    twin.say("registered", f"{package['ModelPackageArn']} awaits approval (the last model, registered again)")
    return Registered(package["ModelPackageArn"], int(package["ModelPackageVersion"]))


def approve_and_deploy(twin: Twin, registered: Registered) -> dict[str, Any]:
    before = len(twin.record.deployments)
    twin.approve(registered.version)
    twin.settle()
    deployments = twin.record.deployments[before:]
    expect(len(deployments) >= 1, "the approval started no deploy workflow execution")
    return deployments[-1]


def ask(twin: Twin, data: Path, rows: int = 3) -> str:
    """InvokeEndpoint with the first rows of the data, as a client would send them (features, no target)."""
    table = _read_rows(data)
    target = json.loads(CONTRACT.read_text(encoding="utf-8"))["target_column"]
    column = table[0].index(target)
    request = [[value for index, value in enumerate(row) if index != column] for row in table[: rows + 1]]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(request)
    name = endpoint_name(twin)
    content_type, answer = twin.invoke(name, buffer.getvalue().encode("utf-8"))
    twin.say("invoke", f"InvokeEndpoint {name} ({rows} rows, text/csv) answered {content_type}: {answer.strip()}")
    return answer


def _serving_version(twin: Twin) -> int | None:
    served = twin.endpoints.served.get(endpoint_name(twin))
    if served is None:
        return None
    return int(served.config.rsplit("-v", 1)[1].split("-")[0])


# ------------------------------------------------------------------------------------------ scenarios


def happy_path(twin: Twin, data: Path) -> str:
    registered = train_and_register(twin, data, "happy.csv")
    deployment = approve_and_deploy(twin, registered)
    output = json.loads(deployment.get("output") or "{}")
    expect(deployment["status"] == "SUCCEEDED" and output.get("outcome") == "deployed", f"deploy ended {deployment}")
    expect(_serving_version(twin) == registered.version, f"the endpoint does not serve version {registered.version}")
    return ask(twin, data)


def bad_upload(twin: Twin, data: Path, folder: Path) -> dict[str, str]:
    rows = _read_rows(data)[:21]
    bad = _write_rows([[*rows[0], "unexpected-column"], *[[*row, "x"] for row in rows[1:]]], folder / "bad.csv")
    before_runs, before_notices = len(twin.record.pipeline_runs), len(twin.record.notices)
    twin.upload(bad, "bad.csv")
    twin.settle()
    expect(len(twin.record.pipeline_runs) == before_runs, "a refused upload started a pipeline execution")
    notices = twin.record.notices[before_notices:]
    expect(len(notices) == 1 and "rejected" in notices[0]["subject"].lower(), f"no rejection notice: {notices}")
    return notices[0]


def below_threshold(twin: Twin, data: Path, folder: Path) -> str:
    before_runs, before_notices = len(twin.record.pipeline_runs), len(twin.record.notices)
    twin.upload(without_signal(data, folder), "no-signal.csv")
    twin.settle()
    runs = twin.record.pipeline_runs[before_runs:]
    expect(len(runs) == 1, f"{len(runs)} pipeline executions instead of 1")
    _, status, reason = runs[0]
    expect(
        status == "Failed" and reason is not None and "Quality gate failed" in reason,
        f"the run ended {status}: {reason}",
    )
    notices = twin.record.notices[before_notices:]
    expect(any("failed" in notice["subject"].lower() for notice in notices), f"no failure notice: {notices}")
    return reason or ""


def roll_out_new_version(twin: Twin, data: Path, name: str) -> int:
    """While a version serves: a new one trained, registered, approved; blue/green to it."""
    serving = _serving_version(twin)
    expect(serving is not None, "no version serves yet")
    registered = train_and_register(twin, data, name)
    deployment = approve_and_deploy(twin, registered)
    output = json.loads(deployment.get("output") or "{}")
    expect(output.get("outcome") == "deployed", f"the rollout ended {deployment['status']}: {output}")
    expect(_serving_version(twin) == registered.version, f"the endpoint does not serve version {registered.version}")
    return registered.version


def roll_out_under_alarm(twin: Twin, registered: Registered) -> dict[str, Any]:
    """A new version approved while one serves; a rollback alarm goes to ALARM during the bake: SageMaker rolls
    the endpoint back, the workflow reports it."""
    serving = _serving_version(twin)
    cloudwatch = twin.aws.client("cloudwatch")
    raised: list[str] = []

    def alarm_during_bake(endpoint: Any) -> None:
        for alarm in endpoint.alarms[:1]:
            if alarm not in raised:
                cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="twin: errors in the bake")
                raised.append(alarm)
                twin.say("alarm", f"{alarm} in ALARM during the bake")

    twin.deploy.endpoints.on_bake = alarm_during_bake
    before = len(twin.record.notices)
    try:
        deployment = approve_and_deploy(twin, registered)
    finally:
        twin.deploy.endpoints.on_bake = None
    expect(raised != [], "the rollout never baked under a rollback alarm")
    expect(
        deployment.get("error") == "RolledBack",
        f"an alarmed rollout ended {deployment['status']} {deployment.get('error')}",
    )
    expect(_serving_version(twin) == serving, f"the endpoint does not serve version {serving} after the rollback")
    notices = twin.record.notices[before:]
    expect(any("rolled_back" in notice["subject"] for notice in notices), f"no rollback notice: {notices}")
    twin.say("rollback", f"version {registered.version} rolled back; the endpoint serves version {serving}")
    return deployment


def second_approval(twin: Twin, data: Path) -> tuple[int, int]:
    first = train_and_register(twin, data, "first.csv")
    approve_and_deploy(twin, first)
    second = roll_out_new_version(twin, data, "second.csv")
    ask(twin, data)
    return first.version, second


def alarm_rollback(twin: Twin, data: Path) -> dict[str, Any]:
    first = train_and_register(twin, data, "first.csv")
    approve_and_deploy(twin, first)
    return roll_out_under_alarm(twin, train_and_register(twin, data, "second.csv"))


def _attempt(run: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"ok": True, "value": run()}
    except Exception as error:  # every scenario runs; the report says how each one ended
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}


def run_all(twin: Twin, data: Path, folder: Path) -> dict[str, Any]:
    """Every scenario once in one twin, in an order where each builds on the last: the happy path (version 1
    serves), a bad upload, a run below the threshold, a second approval (blue/green to version 2), a third under
    a rollback alarm (version 2's model registered again as version 3, back to version 2). What happened, as JSON for a report."""
    outcomes = {
        "happy": _attempt(lambda: happy_path(twin, data)),
        "bad-upload": _attempt(lambda: bad_upload(twin, data, folder)),
        "below-threshold": _attempt(lambda: below_threshold(twin, data, folder)),
        "second-approval": _attempt(lambda: roll_out_new_version(twin, data, "second.csv")),
        # The rollback is the deploy workflow's story: version 3 is version 2's model registered again, one
        # pipeline run (a quarter of the twin's CPU) fewer; the three runs above cover the pipeline.
        "alarm-rollback": _attempt(lambda: roll_out_under_alarm(twin, register_again(twin))),
    }
    packages = {
        str(summary["ModelPackageVersion"]): twin.sagemaker.describe_model_package(
            ModelPackageName=summary["ModelPackageArn"]
        )
        for summary in registered_packages(twin)
    }
    report = {
        "outcomes": outcomes,
        "notices": twin.record.notices,
        "deliveries": [{"rule": d.rule, "target": d.target_arn, "event": d.event} for d in twin.record.deliveries],
        "pipeline_runs": [{"arn": arn, "status": status, "reason": reason} for arn, status, reason in twin.record.pipeline_runs],
        "packages": packages,
        "serving_version": _serving_version(twin),
    }  # fmt: skip
    return json.loads(json.dumps(report, default=str))


SCENARIOS = ("happy", "bad-upload", "below-threshold", "second-approval", "alarm-rollback", "all")
