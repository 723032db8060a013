"""The endpoint's fast way through a CSV request: pyarrow reads and converts whole columns at once.

Only for bodies whose every cell it reads exactly as the per-value path in request_features would (that path
stays the one authority on what a request means and on every error message): `request_columns` returns None
when it is unsure of the body as a whole, and leaves a categorical column as text when one of its values is not
exactly a level. The per-value path then takes over from the same text.
"""

from __future__ import annotations

import csv
import functools
import io
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from artifacts import Feature, Manifest
from contract import CATEGORICAL

# A column as request_features.encoded_request takes it: already encoded, or cells to check one by one
# (None where the cell was exactly a missing marker, which the per-value path scores as missing too).
Column = np.ndarray | list[str | None]
# csv.reader splits lines at "\r" as well as "\n" and gives '"' its quoting meaning; pyarrow, with quoting off,
# would read such bodies differently, so they are left to csv.reader.
_CSV_READER_ONLY = ('"', "\r")
BOM = "\ufeff"  # a byte order mark


def request_columns(text: str, names: list[str], has_header: bool, manifest: Manifest) -> dict[str, Column] | None:
    """The features of a stripped CSV body by name, or None when the per-value path must read the body.

    `names` are the body's columns (the header's, checked, or the manifest's features in order)."""
    if not _read_alike(text) or not _markers_read_alike(manifest.missing_values, manifest.features):
        return None
    table = _table(text, names, has_header, manifest)
    if table is None:
        return None
    columns: dict[str, Column] = {}
    for feature in manifest.features:
        column = table.column(feature.name)
        if feature.kind == CATEGORICAL:
            codes = _codes(column, feature)
            columns[feature.name] = column.to_pylist() if codes is None else codes
        else:
            numbers = _numbers(column)
            if numbers is None:  # the text as csv.reader gives it is gone: the whole body goes the per-value way
                return None
            columns[feature.name] = numbers
    return columns


def _read_alike(text: str) -> bool:
    """Whether pyarrow, quoting off, splits this text into the same cells as csv.reader."""
    if any(character in text for character in _CSV_READER_ONLY):
        return False
    # pyarrow skips a byte order mark that starts its input; to csv.reader it is part of the first cell (input_fn
    # already dropped one, so this is a second one, or one after spaces).
    if text.startswith(BOM):
        return False
    # csv.reader refuses a field longer than its limit (the client gets that error); no line, no field.
    return not _has_line_longer_than(text, csv.field_size_limit())


def _has_line_longer_than(text: str, limit: int) -> bool:
    """Whether a line of the text is longer than `limit` characters. Strides of half the limit are looked at
    first: a line that long would hold a whole stride, so when each stride holds a line end, none is (and the
    lines need not be split out, 0.12 ms of a 1,000-row request)."""
    if len(text) <= limit:
        return False
    stride = max(limit // 2, 1)
    if all(text.find("\n", start, start + stride) != -1 for start in range(0, len(text) - stride + 1, stride)):
        return False
    return max(map(len, text.split("\n"))) > limit


@functools.cache
def _markers_read_alike(markers: tuple[str, ...], features: tuple[Feature, ...]) -> bool:
    """Whether pyarrow's reading of missing markers (exact ones become null, and so None for the per-value path)
    agrees with the per-value path's (strip, then look the text up) for this model's requests. It does not when
    a marker reads as a finite number (pyarrow trims spaces: " -999 " would be -999, not missing) or when a
    marker is a level (the per-value path finds the level first, and None is not the marker)."""
    for marker in markers:
        try:
            if math.isfinite(float(marker)):
                return False
        except ValueError:
            pass
    return not any(marker.strip() in feature.level_codes for marker in markers for feature in features)


def _table(text: str, names: list[str], has_header: bool, manifest: Manifest) -> pa.Table | None:
    """The features read by pyarrow (numbers as float64, categories as text, exact missing markers as null),
    or None when a cell is not a plain number, a row has the wrong length or there is no row."""
    types = {
        feature.name: pa.string() if feature.kind == CATEGORICAL else pa.float64() for feature in manifest.features
    }
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            # One thread: a request this size is read faster than threads are handed work.
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=int(has_header), use_threads=False),
            parse_options=pa_csv.ParseOptions(quote_char=False),
            convert_options=pa_csv.ConvertOptions(
                include_columns=manifest.feature_names,
                column_types=types,
                null_values=_markers_as_read(manifest.missing_values),
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeEncodeError):  # UnicodeEncodeError: an unpaired surrogate
        return None
    return table if table.num_rows else None


def _markers_as_read(markers: tuple[str, ...]) -> list[str]:
    """The missing markers pyarrow may turn into nulls: it matches a cell exactly, while the per-value path strips a
    cell first, so a marker with spaces around it (" ?") can never match there and must not here."""
    return [marker for marker in markers if marker == marker.strip()]


def _numbers(column: pa.ChunkedArray) -> np.ndarray | None:
    """float64 values, NaN where missing; None if any value is not finite: pyarrow also reads "inf", "1e400" and
    "nan(1)", and only the per-value path knows which of those are refused."""
    values = column.to_numpy(zero_copy_only=False)
    if np.count_nonzero(np.isfinite(values)) != len(values) - column.null_count:
        return None
    return values


def _codes(column: pa.ChunkedArray, feature: Feature) -> np.ndarray | None:
    """Level codes (float64, NaN where missing); None when a value is not exactly a level, for the per-value
    path to strip it, score it as missing or refuse it."""
    if not _stripped_levels(feature):
        return None
    codes = pc.index_in(column, value_set=feature.level_array)
    if codes.null_count != column.null_count:
        return None
    return codes.to_numpy(zero_copy_only=False)


@functools.cache
def _stripped_levels(feature: Feature) -> bool:
    """Whether no level has spaces around it: the per-value path strips a value before looking it up, so such a
    level, which an exact look-up would find, can never match there."""
    return all(level == level.strip() for level in feature.levels or ())
