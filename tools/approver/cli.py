"""The command line: arguments, the account check, one line on stderr for any failure, the exit code."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TextIO

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from tools.approver.commands import decide, pending, show, status
from tools.approver.environment import ApproverError, Aws, aws_clients, load_environment
from tools.approver.queries import APPROVED, REJECTED
from tools.approver.rendering import render_decision, render_pending, render_show, render_status

_CREDENTIAL_ERROR_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
}

ENV_HELP = "an environment of cdk.json, e.g. dev"
VERSION_HELP = 'the model package version (make approver ARGS="pending ENV" lists them)'
OPTIONS_USAGE = "[--json] [--profile NAME]"


def _usage(arguments: str) -> str:
    return f'make approver ARGS="{arguments} {OPTIONS_USAGE}"'


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make approver",
        usage=_usage("COMMAND ENV [VERSION]"),
        description="Review, approve or reject the models of an environment.",
        epilog='e.g. make approver ARGS="pending dev", ARGS="show dev 7", ARGS="approve dev 7 --note \'...\'"',
    )
    # Accepted before or after the command (`--json pending dev`, `pending dev --json`); SUPPRESS keeps the
    # command's parser from resetting what was given before it.
    common = argparse.ArgumentParser(add_help=False)
    for options in (parser, common):
        default = {} if options is parser else {"default": argparse.SUPPRESS}
        options.add_argument("--json", action="store_true", help="print JSON for scripts instead of text", **default)
        options.add_argument(
            "--profile", metavar="NAME", help="AWS profile (default: boto3's chain, e.g. AWS_PROFILE)", **default
        )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, arguments: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, parents=[common], help=help_text, prog="make approver", usage=_usage(f"{name} {arguments}")
        )
        sub.add_argument("env", metavar="ENV", help=ENV_HELP)
        return sub

    command("pending", "versions waiting for approval", "ENV")
    command("show", "one version: metrics, comparison, data origin, report link", "ENV VERSION").add_argument(
        "version", metavar="VERSION", type=int, help=VERSION_HELP
    )
    for name in ("approve", "reject"):
        decision = command(name, f"{name} a version waiting for approval", "ENV VERSION --note TEXT")
        decision.add_argument("version", metavar="VERSION", type=int, help=VERSION_HELP)
        decision.add_argument("--note", required=True, help="why; kept as the package's approval description")
    command("status", "what serves, the last deployment, deployments running", "ENV")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, aws_factory: Callable[[str, str | None], Aws], now: datetime) -> tuple[dict, str]:
    env = load_environment(args.env)
    aws = aws_factory(env.region, args.profile)
    if env.account is not None:
        account = aws.sts.get_caller_identity()["Account"]
        if account != env.account:
            raise ApproverError(
                f"environment '{env.name}' lives in account {env.account}; these credentials are for {account}"
            )
    if args.command == "pending":
        result = pending(env, aws, now)
        return result, render_pending(result)
    if args.command == "show":
        result = show(env, aws, args.version, now)
        return result, render_show(result)
    if args.command in ("approve", "reject"):
        decision = APPROVED if args.command == "approve" else REJECTED
        result = decide(env, aws, args.version, decision, args.note, now)
        return result, render_decision(result)
    result = status(env, aws)
    return result, render_status(result)


def describe_aws_error(error: Exception) -> str:
    """One line for an error from boto3: credentials, permissions, or what AWS said."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return "no AWS credentials found: set AWS_PROFILE (or pass --profile) or run `aws sso login`"
    if isinstance(error, ProfileNotFound):
        return f"{error}: check --profile / AWS_PROFILE against `aws configure list-profiles`"
    if isinstance(
        error, CredentialRetrievalError | SSOTokenLoadError | TokenRetrievalError | UnauthorizedSSOTokenError
    ):
        return f"cannot get AWS credentials ({error}): run `aws sso login` or refresh them, then try again"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in _CREDENTIAL_ERROR_CODES:
            return f"AWS refused the credentials ({code}): refresh them (e.g. `aws sso login`) and try again"
        if "AccessDenied" in code:
            return f"access denied for {error.operation_name}: {message}"
        return f"{error.operation_name} failed: {code}: {message}"
    return f"AWS: {error}"


def main(
    argv: Sequence[str] | None = None,
    aws_factory: Callable[[str, str | None], Aws] = aws_clients,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result, text = run(args, aws_factory, datetime.now(timezone.utc))
    except ApproverError as error:
        print(f"error: {error}", file=err)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"error: {describe_aws_error(error)}", file=err)
        return 1
    print(json.dumps(result, indent=2, default=str) if args.json else text, file=out)
    return 0
