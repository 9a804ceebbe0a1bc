"""Shared preprocessing: filters with counted reasons, dedupe, k-core, ids, item table and feature alignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmbench.data.prepare import preprocess
from mmbench.data.raw import FeatureTable, Preprocess, RawData, parse_timestamps
from mmbench.errors import DataError


def prep(raw: RawData):
    return preprocess("toy", raw, raw_hash="h", cache_key="k")


def frame(**cols) -> pd.DataFrame:
    return pd.DataFrame(cols)


def test_dedupe_keeps_the_earliest_row_and_counts_it():
    df = frame(user=["u1", "u1", "u1", "u2"], item=["a", "b", "a", "a"], timestamp=[5, 3, 1, 2])
    data = prep(RawData(df))
    inter = data.interactions
    assert len(inter) == 3
    kept = sorted(zip(inter.user_ids[inter.user].tolist(), inter.item_ids[inter.item].tolist(), inter.timestamp.tolist()))
    assert kept == [("u1", "a", 1), ("u1", "b", 3), ("u2", "a", 2)]
    assert inter.timestamp.tolist() == [3, 1, 2]  # survivors keep the source row order
    dedupe = data.card["filters"][0]
    assert dedupe["step"] == "dedupe" and dedupe["removed_interactions"] == 1 and dedupe["removed_users"] == 0


def test_rating_date_and_k_core_filters_are_counted_in_order():
    rows = [(u, i) for u in range(6) for i in range(6) if (u + i) % 4 != 0]
    df = frame(user=[u for u, _ in rows], item=[i for _, i in rows],
               rating=[5.0 if i != 5 else 1.0 for _, i in rows],
               timestamp=[1_500_000_000 + 86400 * u for u, _ in rows])
    raw = RawData(df, preprocess=Preprocess(min_rating=3, start="2017-07-15", end=None, k_core=3))
    data = prep(raw)
    steps = [f["step"] for f in data.card["filters"]]
    assert steps == ["min_rating", "date_range", "dedupe", "k_core"]
    by = {f["step"]: f for f in data.card["filters"]}
    assert by["min_rating"]["removed_interactions"] == int((df.item == 5).sum())
    assert by["date_range"]["removed_users"] >= 1  # 2017-07-14 is user 0's day
    inter = data.interactions
    assert np.bincount(inter.user).min() >= 3 and np.bincount(inter.item).min() >= 3
    total_removed = sum(f["removed_interactions"] for f in data.card["filters"])
    assert data.card["raw"]["interactions"] - total_removed == len(inter)


def test_empty_after_k_core_is_one_clear_error():
    df = frame(user=[1, 2, 3], item=[1, 2, 3], timestamp=[1, 2, 3])
    with pytest.raises(DataError, match=r"toy: no interactions left after k_core \(3 raw rows\); fix: lower k_core"):
        prep(RawData(df, preprocess=Preprocess(k_core=2)))


def test_filters_that_need_missing_columns_are_refused():
    df = frame(user=[1], item=[1])
    with pytest.raises(DataError, match="min_rating=4 but the dataset has no ratings"):
        prep(RawData(df, preprocess=Preprocess(min_rating=4)))
    with pytest.raises(DataError, match="date range is set but the dataset has no timestamps"):
        prep(RawData(df, preprocess=Preprocess(start="2020-01-01")))
    with pytest.raises(DataError, match="k_core must be ≥ 0"):
        Preprocess(k_core=-1)
    with pytest.raises(DataError, match="start='last year' is not an ISO date"):
        prep(RawData(frame(user=[1], item=[1], timestamp=[1]), preprocess=Preprocess(start="last year")))


def test_item_table_alignment_missing_rows_and_modality_masks():
    df = frame(user=[1, 1, 2], item=["b", "a", "c"])
    items = frame(item=["a", "b", "z"], title=["A", "  ", "Z"], image=[None, "http://x/b.jpg", "z.jpg"])
    data = prep(RawData(df, items, text_fields=("title",), image_field="image"))
    assert data.items.item.tolist() == ["a", "b", "c"]
    assert data.modalities["text"].tolist() == [True, False, False]   # blank title and absent row: no text
    assert data.modalities["image"].tolist() == [False, True, False]
    t = data.card["item_table"]
    assert t == {"rows": 3, "items_missing_metadata": 1, "rows_without_interactions": 1}
    assert data.card["modalities"]["text"]["rate"] == pytest.approx(1 / 3, abs=1e-6)


def test_duplicate_item_rows_identical_are_merged_conflicting_are_refused():
    df = frame(user=[1, 2], item=["a", "b"])
    same = frame(item=["a", "a", "b"], title=["A", "A", "B"])
    assert len(prep(RawData(df, same, text_fields=("title",))).items) == 2
    conflict = frame(item=["a", "a", "b"], title=["A", "A2", "B"], brand=["x", "x", "y"])
    with pytest.raises(DataError, match=r"duplicate rows for item 'a' with conflicting field\(s\) \['title'\]; "
                                         r"fix: keep one row per item id"):
        prep(RawData(df, conflict, text_fields=("title",)))


def test_features_follow_item_ids_and_missing_rows_are_unavailable_not_filled():
    df = frame(user=[1, 1, 2, 2], item=[10, 20, 20, 30])
    values = np.array([[1.0, 1.0], [3.0, 3.0], [np.nan, 0.0]], np.float32)
    feat = FeatureTable("image", values, np.array([30, 10, 20]), "img.npy")
    data = prep(RawData(df, features={"visual": feat}))
    f = data.features["visual"]
    assert f.values.tolist() == [[3.0, 3.0], [0.0, 0.0], [1.0, 1.0]]   # items 10, 20, 30
    assert f.available.tolist() == [True, False, True]                 # 20's row is NaN
    assert data.modalities["image"].tolist() == [True, False, True]
    assert data.modalities["feature:visual"].tolist() == [True, False, True]
    assert data.card["modalities"]["feature:visual"]["dim"] == 2
    dup = FeatureTable("image", values, np.array([30, 30, 20]), "img.npy")
    with pytest.raises(DataError, match="img.npy: feature rows map to duplicate item ids"):
        prep(RawData(df, features={"visual": dup}))


def test_given_split_codes_and_bad_split_values():
    df = frame(user=[1, 1, 2], item=[1, 2, 1], split=["train", "test", "valid"])
    assert prep(RawData(df)).interactions.given_split.tolist() == [0, 2, 1]
    with pytest.raises(DataError, match=r"split column holds \['validation'\]"):
        prep(RawData(frame(user=[1], item=[1], split=["validation"])))


def test_empty_ids_and_non_numeric_ratings_are_refused():
    with pytest.raises(DataError, match="user id is empty at data row 2"):
        prep(RawData(frame(user=["a", None], item=[1, 2])))
    with pytest.raises(DataError, match="rating column is not numeric"):
        prep(RawData(frame(user=[1], item=[1], rating=["good"])))


def test_parse_timestamps_units_and_errors():
    assert parse_timestamps(pd.Series([1_400_000_000]), "f", "t").tolist() == [1_400_000_000]
    assert parse_timestamps(pd.Series([1_400_000_000_123]), "f", "t").tolist() == [1_400_000_000]  # ms
    assert parse_timestamps(pd.Series(["2014-05-13T16:53:20Z"]), "f", "t").tolist() == [1_400_000_000]
    with pytest.raises(DataError, match=r"f: column 't' has non-numeric timestamps .* \(e.g. 'yesterday'\)"):
        parse_timestamps(pd.Series(["2014-05-13", "yesterday"]), "f", "t")
    with pytest.raises(DataError, match="column 't' is empty at data row 2"):
        parse_timestamps(pd.Series([1.0, None]), "f", "t")


def test_k_core_repeats_until_every_user_and_item_has_k():
    # a 2 x 2 core {x, y} x {p, q} with a chain hanging off it: each pass only exposes the next link's low degree,
    # so one pass (or a fixed number) leaves users or items with fewer than k interactions
    pairs = [("x", "p"), ("x", "q"), ("y", "p"), ("y", "q"),
             ("u1", "p"), ("u1", "c"), ("u2", "c"), ("u2", "d"), ("u3", "d")]
    df = frame(user=[u for u, _ in pairs], item=[i for _, i in pairs], timestamp=list(range(len(pairs))))
    data = prep(RawData(df, preprocess=Preprocess(k_core=2)))
    inter = data.interactions
    kept = sorted(zip(inter.user_ids[inter.user].tolist(), inter.item_ids[inter.item].tolist()))
    assert kept == [("x", "p"), ("x", "q"), ("y", "p"), ("y", "q")]
    (step,) = [f for f in data.card["filters"] if f["step"] == "k_core"]
    assert "(5 rounds)" in step["rule"] and step["removed_interactions"] == 5
