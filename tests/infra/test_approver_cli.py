"""The approver's command line (tools/approver/cli.py): credentials and access refused in one line, the arguments
and the usage it prints."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tests.infra.support.approver_registry import (
    ACCOUNT,
    ENV,
    Registry,
    registry_in_moto,
    run,
)
from tools.approver import cli, environment, queries


@pytest.fixture
def registry() -> Iterator[Registry]:
    yield from registry_in_moto()


# --- credentials and access ------------------------------------------------------------------------------------


def test_no_credentials_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup over the network
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["pending", ENV], environment.aws_clients, out, err)
    assert (code, out.getvalue()) == (1, "")
    assert err.getvalue() == (
        "error: no AWS credentials found: set AWS_PROFILE (or pass --profile) or run `aws sso login`\n"
    )


def test_credentials_of_another_account_than_the_environments_are_refused(registry, tmp_path, monkeypatch) -> None:
    cdk_json = json.loads(environment.CDK_JSON.read_text())
    cdk_json["context"]["environments"][ENV]["account"] = "111122223333"
    (tmp_path / "cdk.json").write_text(json.dumps(cdk_json))
    monkeypatch.setattr(environment, "CDK_JSON", tmp_path / "cdk.json")
    arn = registry.register(0.931)
    code, out, err = run(registry, "approve", ENV, "1", "--note", "ok")
    assert (code, out) == (1, "")
    assert err == f"error: environment '{ENV}' lives in account 111122223333; these credentials are for {ACCOUNT}\n"
    assert registry.status_of(arn)["ModelApprovalStatus"] == queries.PENDING


def test_an_unknown_profile_is_one_line(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["--profile", "ops", "status", ENV], environment.aws_clients, out, err) == 1
    assert err.getvalue() == (
        "error: The config profile (ops) could not be found: check --profile / AWS_PROFILE against "
        "`aws configure list-profiles`\n"
    )


def test_access_denied_names_the_call(registry) -> None:
    registry.register(0.931)
    registry.stub.add_client_error(
        "list_executions",
        service_error_code="AccessDeniedException",
        service_message="not authorized to ListExecutions",
    )
    code, _, err = run(registry, "status", ENV)
    assert (code, err) == (1, "error: access denied for ListExecutions: not authorized to ListExecutions\n")


def test_a_denied_update_is_one_line_and_changes_nothing(registry) -> None:
    arn = registry.register(0.931)
    message = "User is not authorized to perform: sagemaker:UpdateModelPackage"

    def deny(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # Answered before the request is sent, as botocore's Stubber answers: IAM refuses the call outright.
        error = {
            "Error": {"Code": "AccessDeniedException", "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return AWSResponse(None, 400, {}, None), error

    registry.sagemaker.meta.events.register("before-call.sagemaker.UpdateModelPackage", deny)
    code, out, err = run(registry, "approve", ENV, "1", "--note", "ok")
    assert (code, out, err) == (1, "", f"error: access denied for UpdateModelPackage: {message}\n")
    assert registry.status_of(arn)["ModelApprovalStatus"] == queries.PENDING


def test_expired_credentials_say_to_refresh_them(registry) -> None:
    registry.stub.add_client_error("list_executions", service_error_code="ExpiredTokenException", service_message="x")
    code, _, err = run(registry, "status", ENV)
    assert code == 1 and err.startswith("error: AWS refused the credentials (ExpiredTokenException)")


def test_json_and_profile_are_accepted_after_the_command() -> None:
    args = cli.parse_args(["show", ENV, "3", "--json", "--profile", "ops"])
    assert (args.json, args.profile, args.version) == (True, "ops", 3)
    assert cli.parse_args(["--json", "pending", ENV]).json is True


def test_the_usage_line_reads_as_the_make_command_to_type(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line == 'usage: make approver ARGS="COMMAND ENV [VERSION] [--json] [--profile NAME]"'


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("show", 'usage: make approver ARGS="show ENV VERSION [--json] [--profile NAME]"'),
        ("approve", 'usage: make approver ARGS="approve ENV VERSION --note TEXT [--json] [--profile NAME]"'),
        ("pending", 'usage: make approver ARGS="pending ENV [--json] [--profile NAME]"'),
    ],
)
def test_each_commands_help_says_what_env_and_version_are(
    capsys: pytest.CaptureFixture[str], command: str, usage: str
) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args([command, "--help"])
    text = capsys.readouterr().out
    assert text.splitlines()[0] == usage
    assert re.search(r"^  ENV +an environment of cdk.json, e.g. dev$", text, re.M)
    assert ("the model package version" in text) == (command != "pending")


def test_a_missing_argument_names_the_make_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["show", "dev"])
    assert (
        capsys.readouterr().err.splitlines()[-1]
        == "make approver: error: the following arguments are required: VERSION"
    )
