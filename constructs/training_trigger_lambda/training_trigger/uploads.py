"""The uploaded object version an event names, and which key holds it now (S3's versions decide)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote_plus


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def version_args(self) -> dict[str, str]:
        return {"VersionId": self.version_id} if self.version_id else {}

    @property
    def where(self) -> str:
        return f"{self.uri}, version {self.version_id}" if self.version_id else f"{self.uri}, etag {self.etag}"


def parse_event(event: Mapping[str, Any]) -> Upload:
    """The uploaded object version from an EventBridge "Object Created" event, its key as the event has it.

    Which key that is gets decided against S3 (`locate`): see `key_candidates`.
    """
    try:
        detail = event["detail"]
        obj = detail["object"]
        version_id = obj.get("version-id")
        return Upload(
            bucket=detail["bucket"]["name"],
            key=obj["key"],
            size=int(obj["size"]),
            etag=obj.get("etag", ""),
            # "null" names the one unversioned object, which an overwrite replaces: not an identity.
            version_id=version_id if version_id and version_id != "null" else None,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not an S3 Object Created event (missing or invalid {error})") from error


def key_candidates(event_key: str) -> list[str]:
    """The object keys an event's `detail.object.key` may stand for, the URL-decoded reading first.

    S3's own event notifications URL-encode the key, form style: "red flower.jpg" arrives as
    "red+flower.jpg" (Amazon S3 User Guide, "Event message structure"). The page on S3's EventBridge
    events ("EventBridge event message structure") shows only plain keys and says nothing about encoding,
    while AWS Lambda Powertools for Python decodes that field the same way
    (`S3EventBridgeNotificationObject.key` returns `unquote_plus(detail.object.key)`), and encoded keys
    have been seen to reach this function (issue 9: `NoSuchVersion`). A literal "+" in a key is ambiguous
    between the two readings, so both are tried and S3 decides: the reading under which the event's
    version exists is the object.
    """
    return list(dict.fromkeys([unquote_plus(event_key), event_key]))


def is_folder_marker(upload: Upload) -> bool:
    """The zero-byte object the S3 console's "Create folder" writes, e.g. `incoming/`."""
    return upload.size == 0 and upload.key.endswith("/")


class Located(NamedTuple):
    key: str
    deleted: bool  # the key's latest version is a delete marker


def _versions_of(s3: Any, bucket: str, key: str) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every version and delete marker of exactly `key`, with whether it is a delete marker."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        entries = [(entry, False) for entry in page.get("Versions", [])]
        entries += [(entry, True) for entry in page.get("DeleteMarkers", [])]
        yield from ((entry, marker) for entry, marker in entries if entry["Key"] == key)
        # Keys come in UTF-8 binary order: the exact key's entries precede every longer key it prefixes.
        if any(entry["Key"] != key for entry, _ in entries):
            return


def locate(s3: Any, upload: Upload) -> Located | None:
    """The key that holds the event's object version and whether it has been deleted since; None if gone."""
    for key in key_candidates(upload.key):
        found, deleted = False, False
        for entry, is_delete_marker in _versions_of(s3, upload.bucket, key):
            if upload.version_id is None:
                # Unversioned: one object per key, the latest; a delete marker means it is gone.
                found = found or (entry["IsLatest"] and not is_delete_marker)
            else:
                found = found or (not is_delete_marker and entry["VersionId"] == upload.version_id)
            deleted = deleted or (entry["IsLatest"] and is_delete_marker)
        if found:
            return Located(key=key, deleted=deleted)
    return None


def derive_token(upload: Upload) -> str:
    """SageMaker ClientRequestToken (32-128 chars) and pinned-input folder: 64 hex digits, one per object version."""
    identity = f"version:{upload.version_id}" if upload.version_id else f"etag:{upload.etag}"
    return hashlib.sha256(json.dumps([upload.bucket, upload.key, identity]).encode()).hexdigest()
