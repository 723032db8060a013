"""What an upload must be to be trained (validation.py): every documented way a file is refused, each tagged,
notified, kept and not trained; the header read from the first bytes."""

from __future__ import annotations

import gzip
import json
import random

import pytest

from constructs.training_trigger_lambda.training_trigger import (
    on_upload,
    validation,
)
from constructs.training_trigger_lambda.training_trigger import tags as trigger_tags
from tests.infra.support.trigger_world import (
    DATA_BUCKET,
    GOOD_CSV,
    MAX_UPLOAD_BYTES,
    ROW,
    TAG_VALUE,
    TARGET,
    Aws,
    executions,
    mocked_aws,  # noqa: F401  (the fixture `aws`: the tests name it)
    notifications,
    pinned_keys,
    tags_of,
    upload,
    version_id,
)

HEADER = b"age,workclass,income-per-year"


BAD_UPLOADS = {
    "wrong suffix": ("incoming/adult.txt", GOOD_CSV, "wrong suffix: only .csv and .csv.gz files are accepted"),
    "empty": ("incoming/empty.csv", b"", "empty file: 0 bytes"),
    "too large": (
        "incoming/big.csv",
        GOOD_CSV + ROW * (MAX_UPLOAD_BYTES // len(ROW)),
        f"too large: {len(GOOD_CSV) + len(ROW) * (MAX_UPLOAD_BYTES // len(ROW))} bytes, the maximum is 100000 bytes",
    ),
    "missing target column": (
        "incoming/no-target.csv",
        b"age,workclass,income\n" + ROW,
        f"missing target column '{TARGET}';"
        " unknown columns 'income' (not in the data contract's features or ignored_columns)",
    ),
    "missing feature column": (
        "incoming/no-workclass.csv",
        b"age,income-per-year\n" + ROW,
        "missing columns 'workclass' (required by the data contract)",
    ),
    "unknown columns": (
        "incoming/extra.csv",
        b"age,workclass,income-per-year,ssn,email,phone,zip\n" + ROW,
        "unknown columns 'ssn', 'email', 'phone' and 1 more (not in the data contract's features or ignored_columns)",
    ),
    "duplicate column": (
        "incoming/dup.csv",
        b"age,age,workclass,income-per-year\n" + ROW,
        "duplicate column names 'age'",
    ),
    "empty column name": (
        "incoming/blank.csv",
        b"age,,workclass,income-per-year\n" + ROW,
        "empty column name at position 2",
    ),
    "not UTF-8": (
        "incoming/latin1.csv",
        b"age,workclass,income-per-year,ann\xe9e\n" + ROW,
        "unreadable header: not UTF-8 (invalid byte at offset 33)",
    ),
    "no line break in range": (
        "incoming/one-line.csv",
        b"age," + b"x" * validation.HEADER_RANGE_BYTES + b"\n" + ROW,
        "unreadable header: no line break in the first 64 KiB",
    ),
    "header only": ("incoming/header-only.csv", HEADER + b"\n", "no data rows: the file has a header and nothing else"),
    "header and blank lines": (
        "incoming/blank-lines.csv",
        HEADER + b"\r\n\r\n\n",
        "no data rows: the file has a header and nothing else",
    ),
    "header without a line break": (
        "incoming/header-no-newline.csv",
        HEADER,
        "no data rows: the file has a header and nothing else",
    ),
    "CR-only line endings": (
        "incoming/classic-mac.csv",
        HEADER + b"\r39,SECRET-ROW-VALUE,>50K\r",
        "CR-only line endings (classic Mac style): save the file with LF or CRLF line endings",
    ),
    "bare CR in the header": (
        "incoming/bare-cr.csv",
        b"age,work\rclass,income-per-year\n" + ROW,
        "a bare carriage return (CR) in the header line at byte 8:"
        " remove it, or save the file with LF or CRLF line endings",
    ),
    "semicolon-separated": (
        "incoming/semicolons.csv",
        b"age;workclass;income-per-year\n39;SECRET-ROW-VALUE;>50K\n",
        "semicolon (;)-separated: the header has 3 fields separated by semicolon (;) and no comma;"
        " export the file comma-separated",
    ),
    "tab-separated": (
        "incoming/tabs.csv",
        b"age\tworkclass\tincome-per-year\n39\tSECRET-ROW-VALUE\t>50K\n",
        "tab-separated: the header has 3 fields separated by tab and no comma; export the file comma-separated",
    ),
    "csv.gz not compressed": (
        "incoming/plain.csv.gz",
        GOOD_CSV,
        "not gzip-compressed: a .csv.gz file must start with the gzip header (bytes 1f 8b)",
    ),
    "csv.gz cut short": (
        "incoming/cut.csv.gz",
        gzip.compress(GOOD_CSV, mtime=0)[:-8],
        "corrupt gzip data: the compressed stream ends early (was the upload cut short?)",
    ),
    "csv.gz corrupt": (
        "incoming/corrupt.csv.gz",
        gzip.compress(GOOD_CSV, mtime=0)[:10] + b"\xff" * 20,
        "corrupt gzip data (Error -3 while decompressing data: invalid block type)",
    ),
    "csv.gz header only": (
        "incoming/header-only.csv.gz",
        gzip.compress(HEADER + b"\n", mtime=0),
        "no data rows: the file has a header and nothing else",
    ),
    "csv.gz missing feature column": (
        "incoming/no-workclass.csv.gz",
        gzip.compress(b"age,income-per-year\n" + ROW, mtime=0),
        "missing columns 'workclass' (required by the data contract)",
    ),
    "header row missing": (
        "incoming/headerless.csv",
        ROW + ROW,
        f"missing target column '{TARGET}': the first line has 3 fields and no known column name"
        " (is the header row missing?)",
    ),
}


@pytest.mark.parametrize(("key", "body", "reason"), BAD_UPLOADS.values(), ids=BAD_UPLOADS.keys())
def test_bad_upload_is_tagged_notified_kept_and_not_trained(aws: Aws, key: str, body: bytes, reason: str) -> None:
    event = upload(aws, key, body)
    version = version_id(event)

    result = on_upload.handler(event, None)

    assert result == {"status": "rejected", "reason": reason}
    tags = tags_of(aws, key, version)
    assert tags == {"owner": "feature-export", "mlops:rejected": trigger_tags.sanitize_tag_value(reason)}
    assert TAG_VALUE.fullmatch(tags["mlops:rejected"])
    [notification] = notifications(aws)
    assert notification["Subject"] == f"[test] Upload rejected: {key}"
    text, details = notification["Message"].split("\n\n", 1)
    assert f"s3://{DATA_BUCKET}/{key}, version {version}" in text
    assert reason in text
    assert json.loads(details) | {"environment": "test", "outcome": "rejected"} == {
        "environment": "test",
        "outcome": "rejected",
        "reason": reason,
        "s3_uri": f"s3://{DATA_BUCKET}/{key}",
        "bucket": DATA_BUCKET,
        "key": key,
        "version_id": version,
        "etag": event["detail"]["object"]["etag"],
        "size": len(body),
    }
    assert b"SECRET-ROW-VALUE" not in notification["Message"].encode() + tags["mlops:rejected"].encode()
    # Nothing deleted, nothing copied, nothing started.
    versions = aws.s3.list_object_versions(Bucket=DATA_BUCKET, Prefix=key)
    assert [v["VersionId"] for v in versions["Versions"]] == [version]
    assert "DeleteMarkers" not in versions
    assert aws.s3.get_object(Bucket=DATA_BUCKET, Key=key, VersionId=version)["Body"].read() == body
    assert pinned_keys(aws) == []
    assert executions(aws) == []


def test_a_compressed_upload_larger_than_the_header_range_is_checked_on_its_first_bytes(aws: Aws) -> None:
    rows = random.Random(0)
    body = GOOD_CSV + b"".join(
        f"{rows.randrange(100)},{rows.getrandbits(64):x},{rows.choice(['<=50K', '>50K'])}\n".encode()
        for _ in range(6_000)
    )
    compressed = gzip.compress(body, mtime=0)
    assert validation.HEADER_RANGE_BYTES < len(compressed) < MAX_UPLOAD_BYTES < len(body)

    assert on_upload.handler(upload(aws, "incoming/large.csv.gz", compressed), None)["status"] == "started"


def test_header_parsing_strips_a_bom_and_accepts_crlf_and_a_cut_after_the_first_line() -> None:
    data = "\ufeffage, workclass ,income-per-year\r\n39,Sélect".encode()[:-1]  # the range cut a character in two
    assert validation.parse_header(data, whole_object=False) == ["age", "workclass", "income-per-year"]
    assert validation.parse_header(b"age,income-per-year", whole_object=True) == ["age", "income-per-year"]


def test_a_column_neither_a_feature_nor_ignored_is_refused_with_where_to_list_it() -> None:
    with pytest.raises(validation.Rejected, match="'id' \\(not in the data contract's features or ignored_columns\\)"):
        validation.check_columns(["id", "age", TARGET], TARGET, frozenset(["age", TARGET]), frozenset(["email"]))
