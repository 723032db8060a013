"""The deploy ledger: a DynamoDB table where conditional writes decide what concurrent executions cannot.

Three kinds of item, keyed by `pk`:

- `claim#<deployment key>`: which execution (`run_id`, made by its first Prepare) rolls out one approval. Put
  only if absent or already ours (a conditional write), just before the create or update: a duplicate execution of
  the same approval finds another owner and ends `noop`; a retried step of the owner finds itself and goes on.
  While `active`, its config, model and alarms are out of bounds for every other execution's clean-up.
- `report#<run_id>`: the outcome was published; a Conclude run again (Step Functions retries tasks that may
  already have done their work) returns it instead of publishing twice.
- `package#<package arn>`: the package's status events (time and status), each added once by a conditional
  write on the item's revision. In time order they say its status (the newest event's) and when it was last
  approved (`approved_at`: the first Approved after a non-Approved status), whatever order they arrived in; an
  edit of an already-approved package (same event type, still Approved) is no approval. The version that should
  serve is the Approved package with the latest `approved_at`.

Every read is strongly consistent (GetItem / Scan with ConsistentRead): the ledger is the arbiter, so it must
not answer with a stale view (DynamoDB read consistency,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from .aws_answers import error_code
from .decisions import Approval, latest_approval

CLAIM = "claim#"
REPORT = "report#"
PACKAGE = "package#"
SEEDED = "seeded"
# Items stay long enough to recognise any duplicate EventBridge may still deliver (24 h event age, retries),
# then DynamoDB's TTL removes them; package items are kept while the package exists.
PURGE_AFTER_SECONDS = 90 * 24 * 3600


@dataclass(frozen=True)
class PackageRecord:
    package_arn: str
    version: int
    status: str
    status_time: str  # ISO time of the newest event recorded
    approved_at: str | None  # ISO time of the event that last moved it into Approved


class Ledger:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._dynamodb = dynamodb
        self._table = table_name

    # ---------------------------------------------------------------------------------------------- claims

    def claim(self, key: str, run_id: str, config_name: str, expires_at: float) -> str | None:
        """Claim the rollout of approval `key`; None when it is ours, else the run_id that holds it."""
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": CLAIM + key},
                    "run_id": {"S": run_id},
                    "config_name": {"S": config_name},
                    "active": {"BOOL": True},
                    "expires_at": {"N": str(int(expires_at))},
                    "purge_at": {"N": str(int(time.time()) + PURGE_AFTER_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(pk) OR run_id = :me",
                ExpressionAttributeValues={":me": {"S": run_id}},
            )
            return None
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
        return self.claimant(key) or "an execution whose claim just ended"

    def claimant(self, key: str) -> str | None:
        item = self._get(CLAIM + key)
        return item["run_id"]["S"] if item else None

    def release(self, key: str, run_id: str) -> None:
        """The rollout of `key` ended: its config is no longer protected from clean-up (only its owner may say so)."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"pk": {"S": CLAIM + key}},
                UpdateExpression="SET active = :no",
                ConditionExpression="run_id = :me",
                ExpressionAttributeValues={":no": {"BOOL": False}, ":me": {"S": run_id}},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise

    def protected_configs(self, now: float) -> set[str]:
        """Configs of rollouts claimed and not yet ended (nor expired: a stopped execution never releases)."""
        return {
            item["config_name"]["S"]
            for item in self._scan(CLAIM)
            if item["active"]["BOOL"] and float(item["expires_at"]["N"]) > now
        }

    # ---------------------------------------------------------------------------------------------- reports

    def report(self, key: str) -> dict[str, str] | None:
        """What an earlier run of Conclude for this execution published ({"outcome", "reason"}), if it did."""
        item = self._get(REPORT + key)
        return {"outcome": item["outcome"]["S"], "reason": item["reason"]["S"]} if item else None

    def record_report(self, key: str, report: Mapping[str, str]) -> None:
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": REPORT + key},
                "outcome": {"S": report["outcome"]},
                "reason": {"S": report["reason"]},
                "purge_at": {"N": str(int(time.time()) + PURGE_AFTER_SECONDS)},
            },
        )

    # ---------------------------------------------------------------------------------------------- approvals

    def record_status(self, package_arn: str, version: int, status: str, event_time: datetime) -> PackageRecord:
        """Add a status event to the package's history (once, whatever the order events arrive in); the record.

        The history decides, in time order: the status is the newest event's, and the package was approved at
        the first Approved event after a non-Approved one. So an edit (Approved after Approved) is no approval, a
        re-approval (Approved after Rejected or PendingManualApproval) is one even when its events arrive out of
        order, and a duplicate changes nothing.
        """
        entry = f"{utc_iso(event_time)}|{status}"
        for _ in range(5):  # optimistic: re-read and try again if another execution wrote in between
            item = self._get(PACKAGE + package_arn)
            history = sorted(set(item["history"]["SS"])) if item else []
            if entry in history:
                return _package_record(item)
            history = sorted({*history, entry})
            revision = int(item["revision"]["N"]) if item else 0
            new_item = {
                "pk": {"S": PACKAGE + package_arn},
                "version": {"N": str(version)},
                "history": {"SS": history},
                "revision": {"N": str(revision + 1)},
            }
            condition = "attribute_not_exists(pk)" if item is None else "revision = :seen"
            values = {} if item is None else {"ExpressionAttributeValues": {":seen": {"N": str(revision)}}}
            try:
                self._dynamodb.put_item(TableName=self._table, Item=new_item, ConditionExpression=condition, **values)
                return _package_record(new_item)
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError(f"could not record the status of {package_arn}: too many concurrent writes")

    def package(self, package_arn: str) -> PackageRecord | None:
        item = self._get(PACKAGE + package_arn)
        return _package_record(item) if item else None

    def latest_approval(self) -> Approval | None:
        """The Approved package approved last: the version that should serve."""
        approvals = [
            Approval(record.package_arn, record.version, datetime.fromisoformat(record.approved_at))
            for record in map(_package_record, self._scan(PACKAGE))
            if record.status == "Approved" and record.approved_at
        ]
        return latest_approval(approvals)

    def is_seeded(self) -> bool:
        return self._get(SEEDED) is not None

    def seed(self, approvals: list[Approval]) -> None:
        """Before the first event: the registry's Approved packages, approved at their LastModifiedTime.

        Only once, for the packages approved before the ledger existed; afterwards only events count.
        """
        for approval in approvals:
            try:
                self._dynamodb.put_item(
                    TableName=self._table,
                    Item={
                        "pk": {"S": PACKAGE + approval.package_arn},
                        "version": {"N": str(approval.version)},
                        "history": {"SS": [f"{utc_iso(approval.approved_at)}|Approved"]},
                        "revision": {"N": "1"},
                    },
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
        self._dynamodb.put_item(TableName=self._table, Item={"pk": {"S": SEEDED}})

    # ---------------------------------------------------------------------------------------------- helpers

    def _get(self, pk: str) -> Mapping[str, Any] | None:
        return self._dynamodb.get_item(TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")

    def _scan(self, prefix: str) -> Iterator[Mapping[str, Any]]:
        pages = self._dynamodb.get_paginator("scan").paginate(
            TableName=self._table,
            ConsistentRead=True,
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": prefix}},
        )
        for page in pages:
            yield from page["Items"]


def utc_iso(moment: datetime) -> str:
    """One format for every stored time, so that stored times compare as strings in time order."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _history_order(entry: str) -> tuple[str, bool, str]:
    """Time order; within one time, the registration (PendingManualApproval) first. An event's `time` has one-second
    resolution, so a registration and an approval in the same second tie, and a package's first status is always
    its registration (the pipeline registers it as PendingManualApproval)."""
    event_time, status = entry.split("|", 1)
    return event_time, status != "PendingManualApproval", status


def _package_record(item: Mapping[str, Any]) -> PackageRecord:
    status, status_time, approved_at, previous = "", "", None, None
    for entry in sorted(item["history"]["SS"], key=_history_order):
        status_time, status = entry.split("|", 1)
        if status == "Approved" and previous != "Approved":
            approved_at = status_time
        previous = status
    return PackageRecord(
        package_arn=item["pk"]["S"].removeprefix(PACKAGE),
        version=int(item["version"]["N"]),
        status=status,
        status_time=status_time,
        approved_at=approved_at,
    )
