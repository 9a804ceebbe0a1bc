"""The embedded Amazon Beauty 5-core and its loo-time split."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from mmbench.data import amazon_beauty
from mmbench.data.amazon_beauty import AmazonBeautyDataset, read_interactions
from mmbench.data.splits import loo_time, make_split
from mmbench.data.types import Interactions
from mmbench.errors import DataError


@pytest.fixture(scope="module")
def beauty() -> Interactions:
    return AmazonBeautyDataset().load()


def test_counts_match_provenance(beauty):
    assert (beauty.n_users, beauty.n_items, len(beauty)) == (22363, 12101, 198502)
    assert beauty.user.min() == 0 and beauty.user.max() == 22362
    assert (amazon_beauty.embedded_dir() / "PROVENANCE.md").is_file()


def test_loo_time_split(beauty):
    split = loo_time(beauty)
    assert (len(split.train), len(split.valid), len(split.test)) == (198502 - 2 * 22363, 22363, 22363)
    assert split.card["users_train_only"] == 0 and split.card["duplicate_pairs_dropped"] == 0
    assert 0.3 < split.card["share_users_tied_last_timestamp"] < 0.6
    ts = {(u, i): t for u, i, t in zip(beauty.user.tolist(), beauty.item.tolist(), beauty.timestamp.tolist())}
    # the test item is never older than any train item of the same user
    last_train = pd.DataFrame({"u": split.train.user, "t": [ts[k] for k in zip(split.train.user.tolist(), split.train.item.tolist())]}).groupby("u").t.max()
    test_t = pd.Series([ts[k] for k in zip(split.test.user.tolist(), split.test.item.tolist())], index=split.test.user)
    assert (test_t.sort_index().to_numpy() >= last_train.sort_index().to_numpy()).all()


def test_split_is_deterministic(beauty):
    a, b = loo_time(beauty), loo_time(beauty)
    assert np.array_equal(a.test.item, b.test.item) and np.array_equal(a.valid.item, b.valid.item)


def test_ties_broken_by_row_order():
    inter = Interactions("toy", np.array([0, 0, 0, 0]), np.array([3, 1, 2, 0]), np.array([5, 9, 9, 9]),
                         np.arange(1), np.arange(4))
    split = loo_time(inter)
    assert split.test.item.tolist() == [0] and split.valid.item.tolist() == [2]
    assert split.train.item.tolist() == [3, 1]


def test_short_histories_follow_the_documented_rule():
    inter = Interactions("toy", np.array([0, 1, 1, 2, 2, 2]), np.array([0, 0, 1, 0, 1, 2]),
                         np.array([1, 1, 2, 1, 2, 3]), np.arange(3), np.arange(3))
    split = loo_time(inter)
    assert split.card["users_train_only"] == 1 and split.card["users_without_valid"] == 1
    assert sorted(zip(split.test.user.tolist(), split.test.item.tolist())) == [(1, 1), (2, 2)]
    assert list(zip(split.valid.user.tolist(), split.valid.item.tolist())) == [(2, 1)]
    assert len(split.train) + len(split.valid) + len(split.test) == len(inter)


def test_max_users_subsamples(beauty):
    small = AmazonBeautyDataset(max_users=100).load()
    assert small.n_users == 100 and small.n_items < beauty.n_items
    assert small.item.max() == small.n_items - 1


def test_loo_time_needs_timestamps():
    inter = Interactions("nots", np.array([0]), np.array([0]), None, np.arange(1), np.arange(1))
    with pytest.raises(DataError, match="no timestamps"):
        make_split("loo-time", inter)
    with pytest.raises(DataError, match="unknown split"):
        make_split("loo-tim", inter)


def test_bad_interaction_files_give_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_interactions(tmp_path / "missing.csv.gz")
    bad_cols = tmp_path / "cols.csv"
    bad_cols.write_text("user,item_id,timestamp\n1,2,3\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['user_id'\]; found \['user', 'item_id', 'timestamp'\]"):
        read_interactions(bad_cols)
    bad_ts = tmp_path / "ts.csv"
    bad_ts.write_text("user_id,item_id,timestamp\n1,2,yesterday\n")
    with pytest.raises(DataError, match="'timestamp' must hold integers"):
        read_interactions(bad_ts)
    corrupt = tmp_path / "c.csv.gz"
    corrupt.write_bytes(gzip.compress(b"user_id,item_id,timestamp\n1,2,3\n")[:20])
    with pytest.raises(DataError, match="unreadable"):
        read_interactions(corrupt)


def test_invalid_max_users():
    with pytest.raises(DataError, match="max_users must be"):
        AmazonBeautyDataset(max_users=0)
