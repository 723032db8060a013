"""A request's rows as the model's features: columns by name (a CSV header, JSON keys) or in the model's order,
checked against the manifest and encoded as training encoded them; and BadRequest, with which every 400 starts.

Messages name the row and column, and quote only column names and category values (shortened and escaped by
`_shown`), never a number the client sent. inference_handlers.py parses the body first and predicts after.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import math
from collections import Counter

import numpy as np

import arrow_csv
from arrow_csv import Column
from artifacts import Feature, Manifest
from contract import CATEGORICAL

# Client text quoted in an error message is cut to this many characters.
_SHOWN_CHARACTERS = 40


_KNOWN_VALUES_SHOWN = 5


# CSV bodies of fewer lines (a header and blank lines count) are read cell by cell: pyarrow's fixed cost per
# read is about that of checking this many rows' values one by one.
_ARROW_MIN_LINES = 40


# Delimiters an export may have used instead of the comma, as a message names them (the upload trigger names the
# same ones for a training file).
OTHER_DELIMITERS = {";": "semicolon (;)", "\t": "tab", "|": "pipe (|)"}


class BadRequest(ValueError):
    """The request cannot be scored; the message says what to fix. It quotes no number the client sent,
    only column names and category values, shortened and escaped by `_shown`."""

    status = 400


@dataclasses.dataclass(frozen=True)
class ParsedBody:
    """A request body: CSV text, stripped (maybe with a header; split into cells by request_columns, which knows
    the features and so can read a clean body whole), or JSON records."""

    csv_text: str | None = None
    records: list[dict] | None = None


def _shown(text: str) -> str:
    """Client text for an error message: quoted, shortened, with unprintable characters (control
    characters, unpaired surrogates that could not even be encoded into the response) escaped."""
    return repr(text if len(text) <= _SHOWN_CHARACTERS else text[:_SHOWN_CHARACTERS] + "...")


def _known_columns(manifest: Manifest) -> set[str]:
    # The target may come along (e.g. rows copied from the training file): it is ignored, as are the data
    # contract's ignored columns (ids, timestamps), so a client can send the rows it exports.
    return {*manifest.feature_names, manifest.target_column, *manifest.ignored_columns}


def _names_problem(names: list[str], manifest: Manifest) -> str | None:
    """What is wrong with a request's column names, if anything."""
    known = _known_columns(manifest)
    unknown = [name for name in names if name not in known]
    if unknown:
        return f"unknown column {_shown(unknown[0])}; the model expects {manifest.feature_names}"
    duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicated:
        return f"column {_shown(duplicated[0])} appears more than once"
    present = set(names)
    missing = [name for name in manifest.feature_names if name not in present]
    if missing:
        return f"missing column(s) {missing}"
    return None


def _check_names(names: list[str], manifest: Manifest, where: str) -> None:
    problem = _names_problem(names, manifest)
    if problem is not None:
        raise BadRequest(f"{where}: {problem}")


def _header(first_row: list[str], manifest: Manifest) -> list[str] | None:
    """The column names when the first row is a header, that is when any of its fields is a known column name."""
    names = [field.strip() for field in first_row]
    known = _known_columns(manifest)
    return names if any(name in known for name in names) else None


def _csv_rows(text: str) -> list[list[str]]:
    try:
        return [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as error:
        # csv's messages ("field larger than field limit (131072)") name the problem, not the data.
        raise BadRequest(f"the CSV body could not be parsed: {error}") from None


def _fast_csv_columns(text: str, manifest: Manifest) -> dict[str, Column] | None:
    """arrow_csv's columns, when the header (if any) is right: a wrong one is for _csv_columns to refuse."""
    # Split as csv.reader splits it: arrow_csv reads no body that has quotes or carriage returns.
    end = text.find("\n")
    header = _header((text if end == -1 else text[:end]).split(","), manifest)
    if header is not None and _names_problem(header, manifest) is not None:
        return None
    return arrow_csv.request_columns(text, header or manifest.feature_names, header is not None, manifest)


def _csv_columns(rows: list[list[str]], manifest: Manifest) -> dict[str, Column]:
    """Columns by name, read cell by cell."""
    header = _header(rows[0], manifest)
    has_header = header is not None
    names = header or manifest.feature_names
    if has_header:
        _check_names(names, manifest, "CSV header")
    data = rows[1:] if has_header else rows
    if not data:
        raise BadRequest("the CSV body has a header but no rows")
    if not has_header and len(manifest.feature_names) > 1 and len(rows[0]) == 1:
        _check_delimiter(rows[0][0])
    for number, row in enumerate(data, start=1):
        if len(row) != len(names):
            expected = "the header's" if has_header else f"the model's {len(names)} features"
            # Ignored columns can only be told apart by name.
            hint = (
                "; to send other columns too, start with a header row"
                if not has_header and manifest.ignored_columns
                else ""
            )
            raise BadRequest(f"row {number} has {len(row)} values; expected {len(names)} ({expected}){hint}")
    return {name: [row[position] for row in data] for position, name in enumerate(names)}


def _check_delimiter(first_line: str) -> None:
    """A first line with no comma but another delimiter: the body was written with the wrong separator."""
    counts = {delimiter: first_line.count(delimiter) for delimiter in OTHER_DELIMITERS}
    delimiter = max(counts, key=lambda found: counts[found])
    if counts[delimiter]:
        raise BadRequest(
            f"the CSV body seems to be {OTHER_DELIMITERS[delimiter]}-separated: its first line has "
            f"{counts[delimiter] + 1} fields separated by {OTHER_DELIMITERS[delimiter]} and no comma; separate "
            "values with commas"
        )


def _record_columns(records: list[dict], manifest: Manifest) -> dict[str, Column]:
    for number, record in enumerate(records, start=1):
        _check_names(list(record), manifest, f"record {number}")
    return {name: [record[name] for record in records] for name in manifest.feature_names}


def _number(value: object, feature: Feature, row: int, missing: tuple[str, ...]) -> float:
    """A finite float, or NaN for missing (null, a missing marker, NaN); anything else is a BadRequest."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        if text in missing:
            return math.nan
        try:
            number = float(text)
        except ValueError:
            raise BadRequest(f"row {row}, column '{feature.name}': expected a number") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float's range
            number = math.inf
    else:
        raise BadRequest(f"row {row}, column '{feature.name}': expected a number")
    if math.isnan(number):
        return math.nan
    if math.isinf(number):
        # Training refuses inf too ("inf", "1e400", JSON Infinity): the model has never seen one.
        raise BadRequest(f"row {row}, column '{feature.name}': expected a finite number; send null or leave it empty "
                         "for missing")  # fmt: skip
    return number


def _category_code(value: object, feature: Feature, row: int, missing: tuple[str, ...]) -> float:
    """The code of a level seen in training, or NaN for missing; an unseen level is refused unless the data
    contract lets this feature score it as missing."""
    if value is None:
        return math.nan
    if not isinstance(value, str):
        # A number would be a guess at the text ("7" or "007"? "1.0" or "1"?): the client must say.
        raise BadRequest(f"row {row}, column '{feature.name}': expected a category as text (a JSON string)")
    text = value.strip()
    code = feature.level_codes.get(text)
    if code is not None:
        return code
    if text in missing or feature.unseen_as_missing:
        return math.nan
    raise BadRequest(_unknown_category(text, feature, row))


def _unknown_category(text: str, feature: Feature, row: int) -> str:
    levels = feature.levels or ()
    same_but_case = [level for level in levels if level.casefold() == text.casefold()]
    close = same_but_case or difflib.get_close_matches(text, levels, n=3, cutoff=0.75)
    hint = f" (did you mean {' or '.join(_shown(level) for level in close)}?)" if close else ""
    examples = ", ".join(_shown(level) for level in levels[:_KNOWN_VALUES_SHOWN])
    more = f", ... ({len(levels)} in all)" if len(levels) > _KNOWN_VALUES_SHOWN else ""
    return f"row {row}, column '{feature.name}': unknown category {_shown(text)}{hint}; known values: {examples}{more}"


def encoded_request(columns: dict[str, Column], manifest: Manifest) -> np.ndarray:
    """The request's rows as XGBoost reads them, encoded as artifacts.encode_features encodes a split (float32,
    features in manifest order, categories as their level's code, NaN for missing). A column arrow_csv has
    encoded is taken as it is; any other is checked value by value, in manifest order, so the first bad value
    the client hears about does not depend on which columns were encoded where.

    Straight from the parsed values into one array: a round trip through a table would cost more than the
    prediction for a one-row request.
    """
    rows = len(columns[manifest.feature_names[0]])
    encoded = np.empty((rows, len(manifest.features)), dtype=np.float32)
    for position, feature in enumerate(manifest.features):
        values = columns[feature.name]
        if isinstance(values, np.ndarray):
            encoded[:, position] = values
            continue
        parse = _category_code if feature.kind == CATEGORICAL else _number
        encoded[:, position] = [
            parse(value, feature, row, manifest.missing_values) for row, value in enumerate(values, start=1)
        ]
    return encoded


def _has_lines(text: str, count: int) -> bool:
    """Whether the text has at least `count` lines (a header and blank ones included), without counting them all."""
    end = -1
    for _ in range(count - 1):
        end = text.find("\n", end + 1)
        if end == -1:
            return False
    return True


def request_columns(data: ParsedBody, manifest: Manifest) -> dict[str, Column]:
    """The request's features by name: read whole by arrow_csv where it can, else cell by cell."""
    if data.csv_text is None:
        return _record_columns(data.records or [], manifest)
    if _has_lines(data.csv_text, _ARROW_MIN_LINES):
        columns = _fast_csv_columns(data.csv_text, manifest)
        if columns is not None:
            return columns
    return _csv_columns(_csv_rows(data.csv_text), manifest)
