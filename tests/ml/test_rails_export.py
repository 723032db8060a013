"""A Rails-style export (ids, timestamps, an e-mail, a zip code beside the real features) drafted, trained and
served: the drafter proposes the columns a model must not use, with reasons; preprocess drops them; the endpoint
accepts and ignores them, so the application can send the rows it exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ml_helpers import SMALL_TARGET, TrainedRun, preprocess_and_train, small_frame

import draft_contract
import inference
from inference_handlers import CSV, JSON

ROWS = 800
IGNORED = ["id", "email", "zip", "created_at", "updated_at", "account_id"]


def rails_export(rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = small_frame(rows)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 600 * 86_400, rows), unit="s")
    return pd.DataFrame(
        {
            "id": np.arange(1, rows + 1),
            "email": [f"user{index}@example.com" for index in range(rows)],
            **{column: frame[column] for column in frame.columns},
            "zip": [f"{code:05d}" for code in rng.choice(99_999, rows, replace=False)],
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
            "updated_at": (created + pd.Timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "account_id": rng.integers(1, 40, rows),  # repeats: an identifier by its name only
        }
    )


@pytest.fixture(scope="module")
def drafted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    work = tmp_path_factory.mktemp("rails")
    data = work / "input" / "users.csv"
    data.parent.mkdir()
    rails_export().to_csv(data, index=False)
    output = work / "contract.json"
    with pytest.MonkeyPatch.context() as patch:
        printed: list[str] = []
        patch.setattr("builtins.print", lambda text, **kwargs: printed.append(str(text)))
        assert draft_contract.main(["--data", str(data), "--target-column", SMALL_TARGET, "--output", str(output)]) == 0
    return data, output, "\n".join(printed)


@pytest.fixture(scope="module")
def trained(drafted: tuple[Path, Path, str], tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    data, contract, _ = drafted
    work = tmp_path_factory.mktemp("rails-run")
    return preprocess_and_train(data.parent, work, ["--contract", str(contract)], ["--num-round", "30"])


def test_the_draft_proposes_every_non_feature_column_as_ignored(drafted) -> None:
    _, output, _ = drafted
    contract = json.loads(output.read_text())
    assert contract["ignored_columns"] == IGNORED
    assert list(contract["features"]) == ["tenure", "plan", "spend", "region"]


@pytest.mark.parametrize(
    "expected",
    [
        "- 'id': an identifier by its name",
        "- 'email': e-mail addresses",
        "- 'zip': high-cardinality text: 800 distinct values in 800 rows",
        "- 'created_at': a timestamp or date",
        "- 'updated_at': a timestamp or date",
        "- 'account_id': an identifier by its name",
    ],
)
def test_the_review_gives_each_ignored_column_its_reason(drafted, expected: str) -> None:
    assert expected in drafted[2]


def test_an_unnamed_column_of_distinct_integers_is_identifier_like() -> None:
    summary = draft_contract.summarise("row", [str(number) for number in range(1000, 1500)], frozenset({""}))
    assert draft_contract.ignore_reason(summary) == (
        "identifier-like: 500 distinct integers in 500 rows; a model would learn row numbers"
    )


def test_a_numeric_feature_with_repeats_is_kept() -> None:
    summary = draft_contract.summarise("visits", [str(number % 9) for number in range(500)], frozenset({""}))
    assert draft_contract.ignore_reason(summary) is None


def test_training_drops_the_ignored_columns(trained: TrainedRun) -> None:
    assert trained.manifest.feature_names == ["tenure", "plan", "spend", "region"]
    assert list(trained.manifest.ignored_columns) == IGNORED


def test_the_endpoint_accepts_the_exported_rows_and_ignores_the_extra_columns(trained: TrainedRun) -> None:
    model = inference.model_fn(str(trained.model))
    export = rails_export().head(50)
    features_only = export[trained.manifest.feature_names]

    whole = inference.transform_fn(model, export.to_csv(index=False), CSV, JSON)
    bare = inference.transform_fn(model, features_only.to_csv(index=False), CSV, JSON)
    as_json = inference.transform_fn(model, export.head(3).to_json(orient="records"), JSON, JSON)

    assert whole.status_code == bare.status_code == as_json.status_code == 200
    assert whole.get_data() == bare.get_data()
    assert json.loads(as_json.get_data())["predictions"] == json.loads(bare.get_data())["predictions"][:3]


def test_exported_rows_without_a_header_are_refused_with_the_header_named(trained: TrainedRun) -> None:
    model = inference.model_fn(str(trained.model))
    response = inference.transform_fn(model, rails_export().head(2).to_csv(index=False, header=False), CSV, JSON)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == (
        "row 1 has 11 values; expected 4 (the model's 4 features); to send other columns too, start with a header row\n"
    )
