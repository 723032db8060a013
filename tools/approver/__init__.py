"""The approvers' command line: what waits for approval, what it scored, approve or reject it, what serves.

    make approver ARGS="pending dev"
    .venv/bin/python -m tools.approver [--json] [--profile NAME] COMMAND ENV [VERSION] [--note TEXT]

    pending ENV                         versions waiting for approval, their ROC-AUC against the serving model's
    show ENV VERSION                    metrics, comparison with the serving model, the data's origin, report link
    approve ENV VERSION --note TEXT     Approved (starts the deploy workflow); the note is the approval description
    reject ENV VERSION --note TEXT      Rejected; nothing is deployed or undeployed
    status ENV                          what serves, the endpoint's status, the last deployment, deployments running

Names and the region come from cdk.json through settings/loading.py and settings/resource_names.py; credentials
from boto3's default chain (AWS_PROFILE, `aws sso login`, environment variables, instance roles) or `--profile`.
Plain text by default, `--json` for scripts. Any failure is one line on stderr and exit code 1.

The package, one story a module: environment.py (which environment, which AWS clients), queries.py (what the
registry, S3, the endpoint and the deploy workflow hold), commands.py (each command's JSON-serialisable result),
rendering.py (those results as text), cli.py (arguments, the account check, one-line errors, the exit code).
"""
