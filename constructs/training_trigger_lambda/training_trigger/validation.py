"""What makes an upload bad input, from the event and the file's first bytes: suffix, size, gzip framing, the
header against the data contract, data rows (the CSV sniffing)."""

from __future__ import annotations

import csv
import zlib
from typing import Any

from .constants import CSV_SUFFIX, GZIP_SUFFIX
from .uploads import Upload

HEADER_RANGE_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"  # RFC 1952: every gzip member starts with these two bytes
# A delimiter other than the comma that an export may have used, as a notice names it.
OTHER_DELIMITERS = {";": "semicolon (;)", "\t": "tab"}
MAX_NAMES_IN_MESSAGE = 3
MAX_NAME_CHARS = 40
FIX_AND_UPLOAD_AGAIN = "Fix the file and upload it again."


class Rejected(Exception):
    """The upload is bad input (or deleted): reported and tagged, never retried."""

    def __init__(self, reason: str, advice: str = FIX_AND_UPLOAD_AGAIN) -> None:
        super().__init__(reason)
        self.reason = reason
        self.advice = advice


def is_gzip(key: str) -> bool:
    return key.lower().endswith(GZIP_SUFFIX)


def check_object(upload: Upload, max_upload_bytes: int) -> None:
    """What the event alone tells: suffix and size (of the upload as stored, compressed or not)."""
    if not upload.key.lower().endswith((CSV_SUFFIX, GZIP_SUFFIX)):
        raise Rejected(f"wrong suffix: only {CSV_SUFFIX} and {GZIP_SUFFIX} files are accepted")
    if upload.size == 0:
        raise Rejected("empty file: 0 bytes")
    if upload.size > max_upload_bytes:
        raise Rejected(f"too large: {upload.size} bytes, the maximum is {max_upload_bytes} bytes")


def decompress_head(data: bytes, whole_object: bool) -> tuple[bytes, bool]:
    """The first (up to) 64 KiB of a gzip file's content, and whether that is all of it."""
    if not data.startswith(GZIP_MAGIC):
        raise Rejected(f"not gzip-compressed: a {GZIP_SUFFIX} file must start with the gzip header (bytes 1f 8b)")
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16 +: expect a gzip header and trailer
    try:
        content = decompressor.decompress(data, HEADER_RANGE_BYTES)
    except zlib.error as error:
        raise Rejected(f"corrupt gzip data ({error})") from None
    if whole_object and not decompressor.eof and not decompressor.unconsumed_tail:
        raise Rejected("corrupt gzip data: the compressed stream ends early (was the upload cut short?)")
    complete = whole_object and decompressor.eof and not decompressor.unused_data
    return content, complete


def parse_header(data: bytes, whole_object: bool) -> list[str]:
    """Column names (stripped, as preprocess reads them) from the first bytes of the file."""
    line_end = data.find(b"\n")
    carriage_return = data.find(b"\r", 0, line_end if line_end >= 0 else len(data))
    if carriage_return >= 0 and line_end < 0:
        raise Rejected("CR-only line endings (classic Mac style): save the file with LF or CRLF line endings")
    if 0 <= carriage_return < line_end - 1:
        raise Rejected(
            f"a bare carriage return (CR) in the header line at byte {carriage_return}:"
            " remove it, or save the file with LF or CRLF line endings"
        )
    if line_end < 0:
        if not whole_object:
            raise Rejected(f"unreadable header: no line break in the first {HEADER_RANGE_BYTES // 1024} KiB")
        line_end = len(data)
    line = data[:line_end].removesuffix(b"\r")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Rejected(f"unreadable header: not UTF-8 (invalid byte at offset {error.start})") from None
    names = [name.strip() for name in next(csv.reader([text]), [])]
    if not any(names):
        raise Rejected("unreadable header: the first line is empty")
    check_delimiter(names)
    return names


def check_delimiter(names: list[str]) -> None:
    """A header with no comma but another delimiter: the export used the wrong separator."""
    if len(names) != 1:
        return
    counts = {delimiter: names[0].count(delimiter) for delimiter in OTHER_DELIMITERS}
    delimiter = max(counts, key=lambda found: counts[found])
    if counts[delimiter]:
        raise Rejected(
            f"{OTHER_DELIMITERS[delimiter]}-separated: the header has {counts[delimiter] + 1} fields separated by"
            f" {OTHER_DELIMITERS[delimiter]} and no comma; export the file comma-separated"
        )


def check_data_rows(data: bytes, whole_object: bool) -> None:
    """At least one non-blank line after the header, when the whole file has been read."""
    line_end = data.find(b"\n")
    if whole_object and (line_end < 0 or not data[line_end + 1 :].strip()):
        raise Rejected("no data rows: the file has a header and nothing else")


def _quoted(names: list[str]) -> str:
    shown = [f"'{name[:MAX_NAME_CHARS]}'" for name in names[:MAX_NAMES_IN_MESSAGE]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def check_columns(
    names: list[str], target: str, allowed: frozenset[str] | None, ignored: frozenset[str] = frozenset()
) -> None:
    """The header against the contract (ignored columns may come or not); every problem in one reason."""
    if not ({target} | (allowed or set())).intersection(names):
        # Without a single known name the first line may be a data row: never echo its values.
        raise Rejected(
            f"missing target column '{target}': the first line has {len(names)} fields and no known column name"
            " (is the header row missing?)"
        )
    problems = []
    empty = [str(position) for position, name in enumerate(names, start=1) if not name]
    if empty:
        problems.append(f"empty column name at position {', '.join(empty)}")
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    if duplicates:
        problems.append(f"duplicate column names {_quoted(duplicates)}")
    if target not in names:
        problems.append(f"missing target column '{target}'")
    if allowed is not None:
        unknown = list(dict.fromkeys(name for name in names if name and name not in allowed | ignored))
        if unknown:
            problems.append(
                f"unknown columns {_quoted(unknown)} (not in the data contract's features or ignored_columns)"
            )
        # Preprocess needs every contract column: reject here, before a paid run fails on it.
        absent = [name for name in sorted(allowed) if name != target and name not in names]
        if absent:
            problems.append(f"missing columns {_quoted(absent)} (required by the data contract)")
    if problems:
        raise Rejected("; ".join(problems))


def read_head(s3: Any, upload: Upload) -> tuple[bytes, bool]:
    """The file's first bytes (decompressed for .csv.gz) and whether they are all of it."""
    response = s3.get_object(
        Bucket=upload.bucket, Key=upload.key, Range=f"bytes=0-{HEADER_RANGE_BYTES - 1}", **upload.version_args
    )
    data = response["Body"].read()
    whole_object = len(data) >= upload.size
    return decompress_head(data, whole_object) if is_gzip(upload.key) else (data, whole_object)
