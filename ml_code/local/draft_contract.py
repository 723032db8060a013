"""Draft a data contract from a sample of a team's own export, for the team to review and commit.

    python ml_code/local/draft_contract.py --data FILE --target-column NAME [--positive-label VALUE]
        [--output data_contract.draft.json] [--max-rows 100000]

Reads the header and up to --max-rows rows (plain CSV or .csv.gz) and writes a contract in the shape of
ml_code/data_contract.json: the target and its positive label, every other column as a numeric or
categorical feature, the missing-value markers found, and a missing-fraction limit. It prints a review of
what it decided and why (types, missing shares, categories, guesses), because a sample can mislead: a
column of codes ("02134") is text, "NA" may be a real category, a level absent from the sample still
exists. Never overwrites a file: the shipped contract changes only when the team copies the draft over
it and commits.
"""

from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import gzip
import json
import math
import re
import sys
from pathlib import Path
from typing import IO

# The container modules are this folder's parent, imported as flat siblings as in the containers. The tools live
# apart so that the code bundle carries only what SageMaker runs (ml_code/bundle_contents.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract import CATEGORICAL, NUMERIC, ContractError, validated

# Cell values that commonly mean "missing" in exports; only those found in the sample are written.
KNOWN_MISSING_MARKERS = ("", "?", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "none", "-", "#N/A")
# Markers that are also plausible real values (NA: North America, None: "no garage"): the review flags them.
AMBIGUOUS_MARKERS = frozenset({"NA", "None", "none", "-"})
# Target values read as the positive class when the team does not name one.
POSITIVE_WORDS = ("1", "yes", "y", "true", "t", "positive", "churned", "fraud", "default")
DEFAULT_MAX_MISSING_FRACTION = 0.5
# A plain decimal number as preprocess reads one; "inf", "1_000" or "0x1f" are not.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# Digits with a leading zero ("007", "02134") are codes: as numbers they would lose the zero.
_ZERO_PADDED = re.compile(r"[+-]?0\d")
_LEVELS_SHOWN = 8
# Proposed as ignored columns (never features): what a model can not generalise from. A column is an
# identifier by its name (`id`, `*_id`, `*Id`, `uuid`), or when nearly every row holds another integer (at least
# this share of the present values distinct); a timestamp, date or e-mail when nearly all present values look
# like one; high-cardinality text when a text column has more distinct values than this share of its values
# and more than _HIGH_CARDINALITY_MIN of them (a free-text note, a zip code with thousands of levels).
_DISTINCT_SHARE = 0.95
_LOOKS_LIKE_SHARE = 0.9
_HIGH_CARDINALITY_SHARE = 0.5
_HIGH_CARDINALITY_MIN = 100
_IDENTIFIER_NAME = re.compile(r"(?i)(id|uuid|guid)|.*[_\- ](id|uuid|guid)|.*[a-z](Id|ID|Uuid|UUID)")
_INTEGER = re.compile(r"[+-]?\d+")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?( ?(Z|UTC|[+-]\d{2}:?\d{2}))?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Levels seen fewer times than this suggest clients may send levels training never saw.
_RARE_LEVEL_COUNT = 5


class DraftError(Exception):
    """The sample can not yield a contract; the message says why."""


@dataclasses.dataclass
class ColumnSummary:
    name: str
    kind: str
    missing: int
    counts: collections.Counter[str]
    zero_padded: bool = False
    non_numbers: tuple[str, ...] = ()  # of a mostly numeric column kept as text
    ignore_reason: str | None = None  # why the draft lists it in ignored_columns instead of features

    def missing_share(self, rows: int) -> float:
        return self.missing / rows


@dataclasses.dataclass
class Draft:
    contract: dict
    rows: int
    columns: list[ColumnSummary]
    markers: dict[str, list[str]]  # marker -> columns where it occurs
    positive_reason: str
    notes: list[str]
    ignored: list[ColumnSummary] = dataclasses.field(default_factory=list)


def _open(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def read_sample(path: Path, max_rows: int) -> tuple[list[str], list[list[str]]]:
    """The header (trimmed names) and up to max_rows non-blank rows, each cell trimmed."""
    if not path.is_file():
        raise DraftError(f"{path} is not a file")
    try:
        with _open(path) as text:
            reader = csv.reader(text)
            header = [name.strip() for name in next(reader, [])]
            if not any(header):
                raise DraftError(f"{path.name} is empty: expected a header row and data rows")
            if "" in header:
                raise DraftError(f"{path.name}: the header has an empty column name (column {header.index('') + 1})")
            duplicated = sorted({name for name in header if header.count(name) > 1})
            if duplicated:
                raise DraftError(f"{path.name}: column '{duplicated[0]}' appears more than once in the header")
            rows = []
            for fields in reader:
                if not fields:
                    continue
                if len(fields) != len(header):
                    raise DraftError(
                        f"{path.name}, line {reader.line_num}: {len(fields)} fields where the header has {len(header)}"
                    )
                rows.append([field.strip() for field in fields])
                if len(rows) == max_rows:
                    break
    except UnicodeDecodeError:
        raise DraftError(f"{path.name} is not UTF-8 text") from None
    except (csv.Error, OSError) as error:
        raise DraftError(f"{path.name} could not be read as CSV: {error}") from None
    if not rows:
        raise DraftError(f"{path.name} has a header but no data rows")
    return header, rows


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def summarise(name: str, values: list[str], markers: frozenset[str]) -> ColumnSummary:
    present = [value for value in values if value not in markers]
    counts = collections.Counter(present)
    numbers = [value for value in counts if _is_number(value)]
    zero_padded = any(_ZERO_PADDED.match(value) for value in numbers)
    missing = len(values) - len(present)
    # A column with no value at all is numeric, as preprocess reads it.
    if len(numbers) == len(counts) and not zero_padded:
        return ColumnSummary(name, NUMERIC, missing, counts)
    non_numbers = tuple(sorted(value for value in counts if not _is_number(value)))
    mostly_numbers = counts and sum(counts[value] for value in numbers) >= 0.9 * len(present)
    return ColumnSummary(
        name, CATEGORICAL, missing, counts, zero_padded, non_numbers[:_LEVELS_SHOWN] if mostly_numbers else ()
    )


def _share(values: collections.Counter[str], pattern: re.Pattern[str]) -> float:
    """The share of the present values (counted with repetition) that the pattern matches whole."""
    total = sum(values.values())
    return sum(count for value, count in values.items() if pattern.fullmatch(value)) / total if total else 0.0


def ignore_reason(summary: ColumnSummary) -> str | None:
    """Why a column should be left out of the model (listed in ignored_columns), or None to keep it."""
    counts, present = summary.counts, sum(summary.counts.values())
    if not present:
        return None
    distinct = len(counts)
    if _IDENTIFIER_NAME.fullmatch(summary.name):
        return "an identifier by its name: a model learns nothing from it that holds for new rows"
    if summary.kind == NUMERIC and _share(counts, _INTEGER) == 1 and distinct >= _DISTINCT_SHARE * present > 1:
        return f"identifier-like: {distinct} distinct integers in {present} rows; a model would learn row numbers"
    if _share(counts, _TIMESTAMP) >= _LOOKS_LIKE_SHARE:
        return (
            "a timestamp or date: new rows come from times training never saw; derive features (age, weekday) instead"
        )
    if _share(counts, _EMAIL) >= _LOOKS_LIKE_SHARE:
        return "e-mail addresses: personal data, and nearly one per customer"
    if summary.kind == CATEGORICAL and distinct > max(_HIGH_CARDINALITY_MIN, _HIGH_CARDINALITY_SHARE * present):
        return (
            f"high-cardinality text: {distinct} distinct values in {present} rows; most values clients send would be"
            " new to the model"
        )
    return None


def positive_label(classes: collections.Counter[str], chosen: str | None, target: str) -> tuple[str, str]:
    """(positive label, why it was chosen) for a binary target."""
    if len(classes) != 2:
        shown = ", ".join(repr(value) for value, _ in classes.most_common(_LEVELS_SHOWN))
        raise DraftError(
            f"target column '{target}' has {len(classes)} distinct values ({shown}); a binary target has 2"
        )
    if chosen is not None:
        if chosen not in classes:
            raise DraftError(f"the positive label '{chosen}' never occurs in target column '{target}'")
        return chosen, "as given"
    for value in classes:
        if value.casefold() in POSITIVE_WORDS:
            return value, f"'{value}' reads as the positive answer; pass POSITIVE_LABEL=... if it is not"
    rarer = min(classes, key=lambda value: (classes[value], value))
    return rarer, "the rarer class (what a model usually has to find); pass POSITIVE_LABEL=... if it is not"


def draft(path: Path, target: str, chosen_label: str | None, max_rows: int) -> Draft:
    header, rows = read_sample(path, max_rows)
    if target not in header:
        raise DraftError(f"{path.name} has no column '{target}'; its columns are {header}")
    columns = {name: [row[position] for row in rows] for position, name in enumerate(header)}
    markers = {
        marker: [name for name, values in columns.items() if marker in values]
        for marker in KNOWN_MISSING_MARKERS
        if any(marker in values for values in columns.values())
    }
    marker_set = frozenset(["", *markers])
    classes = collections.Counter(value for value in columns[target] if value not in marker_set)
    label, reason = positive_label(classes, chosen_label, target)
    every = [summarise(name, columns[name], marker_set) for name in header if name != target]
    for summary in every:
        summary.ignore_reason = ignore_reason(summary)
    ignored = [summary for summary in every if summary.ignore_reason]
    summaries = [summary for summary in every if not summary.ignore_reason]
    if not summaries:
        raise DraftError(
            f"{path.name} has no column a model could use: only the target and {len(ignored)} ignored column(s)"
        )
    notes = []
    shares = {summary.name: summary.missing_share(len(rows)) for summary in summaries}
    over = {name: share for name, share in shares.items() if DEFAULT_MAX_MISSING_FRACTION < share < 1}
    limit = DEFAULT_MAX_MISSING_FRACTION
    if over:
        # The draft must accept its own sample; the note makes the team decide whether these columns earn it.
        limit = math.ceil(max(over.values()) * 10) / 10
        listed = ", ".join(f"'{name}' {share:.0%}" for name, share in over.items())
        notes.append(f"max_missing_fraction raised to {limit} for {listed}; lower it if those columns should be full")
    for name, share in shares.items():
        if share == 1:
            notes.append(
                f"'{name}' has no value in the sample: preprocess stops on it; fill it or drop it from the export"
            )
    contract = {
        "target_column": target,
        "positive_label": label,
        "missing_values": sorted(marker_set),
        "max_missing_fraction": limit,
        "unseen_categories_as_missing": [],
        "ignored_columns": [summary.name for summary in ignored],
        "features": {summary.name: summary.kind for summary in summaries},
    }
    validated(contract, source="draft")  # what the pipeline will load
    return Draft(contract, len(rows), summaries, markers, reason, notes, ignored)


def _levels_text(summary: ColumnSummary) -> str:
    if summary.kind == NUMERIC:
        numbers = [float(value) for value in summary.counts]
        return f"{min(numbers):g} .. {max(numbers):g}" if numbers else ""
    shown = [repr(value) for value, _ in summary.counts.most_common(_LEVELS_SHOWN)]
    return ", ".join(shown) + (", ..." if len(summary.counts) > _LEVELS_SHOWN else "")


def review(result: Draft, output: Path) -> str:
    """What the draft decided and what to check, for the person who reviews it."""
    contract = result.contract
    lines = [
        f"drafted {output} from {result.rows} rows",
        f"target '{contract['target_column']}', positive label '{contract['positive_label']}': {result.positive_reason}",
        "missing markers found: "
        + (", ".join(f"{marker!r} (in {len(names)} columns)" for marker, names in result.markers.items()) or "none"),
        "",
        f"{'feature':<24} {'type':<12} {'missing':>8} {'distinct':>9}  values",
    ]
    for summary in result.columns:
        share = summary.missing_share(result.rows)
        lines.append(
            f"{summary.name:<24} {summary.kind:<12} {share:>8.1%} {len(summary.counts):>9}  {_levels_text(summary)}"
        )
    if result.ignored:
        lines += ["", "ignored_columns (accepted in uploads and requests, not used by the model):"]
        lines += [f"- '{summary.name}': {summary.ignore_reason}" for summary in result.ignored]
        lines.append("  move a column to features if the model should use it after all")
    checks = list(result.notes)
    for marker in sorted(AMBIGUOUS_MARKERS & set(result.markers)):
        checks.append(f"{marker!r} is read as missing everywhere; if it is a real value in {result.markers[marker]}, "
                      "remove it from missing_values")  # fmt: skip
    for summary in result.columns:
        if summary.zero_padded:
            checks.append(f"'{summary.name}' holds numbers with leading zeros: kept as categorical codes")
        if summary.non_numbers:
            checks.append(f"'{summary.name}' is mostly numbers but also holds {list(summary.non_numbers)}: "
                          "categorical; if those mean missing, add them to missing_values and make it numeric")  # fmt: skip
        if summary.kind == CATEGORICAL and len(summary.counts) > 1:
            rare = sum(1 for count in summary.counts.values() if count < _RARE_LEVEL_COUNT)
            if len(summary.counts) == result.rows - summary.missing:
                checks.append(f"'{summary.name}' has a different value in every row (an identifier?): "
                              "a model can not learn from it; drop it from the export")  # fmt: skip
            elif rare:
                checks.append(f"'{summary.name}' has {rare} level(s) seen fewer than {_RARE_LEVEL_COUNT} times: clients "
                              "may send levels training never saw; the endpoint refuses those unless the column "
                              "is listed in unseen_categories_as_missing")  # fmt: skip
        if len(summary.counts) == 1:
            checks.append(f"'{summary.name}' has one value in the whole sample: it can not help the model")
    if checks:
        lines += ["", "check:", *(f"- {check}" for check in checks)]
    lines += [
        "",
        "next: review the file, then try it: make local-run DATA=<export> CONTRACT=" + str(output),
        "      when it is right: copy it to ml_code/data_contract.json, commit, deploy, upload the export",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draft a data contract from a sample CSV, for review.")
    parser.add_argument("--data", type=Path, required=True, help="a sample of the export (.csv or .csv.gz)")
    parser.add_argument("--target-column", required=True, help="the column the model predicts")
    parser.add_argument("--positive-label", default="", help="the target value to predict (default: guessed)")
    parser.add_argument("--output", type=Path, default=Path("data_contract.draft.json"))
    parser.add_argument("--max-rows", type=int, default=100_000, help="rows of the sample to read")
    args = parser.parse_args(argv)
    if args.output.exists():
        print(f"error: {args.output} exists; remove it or choose another OUT=", file=sys.stderr)
        return 1
    try:
        result = draft(args.data, args.target_column, args.positive_label or None, args.max_rows)
    except (DraftError, ContractError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    args.output.write_text(json.dumps(result.contract, indent=2) + "\n", encoding="utf-8")
    print(review(result, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
