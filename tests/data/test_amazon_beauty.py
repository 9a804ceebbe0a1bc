"""The embedded Amazon Beauty 5-core: counts, text fields, the absent image modality, and its loo-time split."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from mmbench.data import amazon_beauty
from mmbench.data.amazon_beauty import AmazonBeautyDataset, read_interactions
from mmbench.data.load import load_dataset
from mmbench.data.splits import loo_time
from mmbench.data.types import PreparedData
from mmbench.errors import DataError


@pytest.fixture(scope="module")
def beauty() -> PreparedData:
    return load_dataset("amazon-beauty")


def test_counts_match_provenance(beauty):
    inter = beauty.interactions
    assert (inter.n_users, inter.n_items, len(inter)) == (22363, 12101, 198502)
    assert (beauty.card["users"], beauty.card["items"], beauty.card["interactions"]) == (22363, 12101, 198502)
    assert inter.user.min() == 0 and inter.user.max() == 22362
    assert inter.item_ids[0] == 1 and inter.item_ids[-1] == 12101  # dense id = shipped id - 1
    assert (amazon_beauty.embedded_dir() / "PROVENANCE.md").is_file()


def test_item_text_is_aligned_and_images_are_absent_not_faked(beauty):
    items = beauty.items
    assert len(items) == 12101 and items.item.tolist()[:2] == [1, 2]
    assert items.loc[0, "asin"] == "B004756YJA" and items.loc[0, "brand"] == "OPI"
    assert items.loc[0, "categories"] == "Makeup, Nails, Nail Polish"
    assert beauty.modalities["text"].all()
    assert not beauty.modalities["image"].any() and beauty.features == {}
    image = beauty.card["modalities"]["image"]
    assert image["rate"] == 0.0 and "no images" in image["note"]


def test_loo_time_split(beauty):
    inter = beauty.interactions
    split = loo_time(inter)
    assert (len(split.train), len(split.valid), len(split.test)) == (198502 - 2 * 22363, 22363, 22363)
    assert split.card["users_train_only"] == 0 and split.card["cold_users_in_test"] == 0
    assert split.card["share_users_tied_last_timestamp"] == beauty.card["ties"]["share_users_tied_last_timestamp"]
    assert 0.3 < split.card["share_users_tied_last_timestamp"] < 0.6
    ts = {(u, i): t for u, i, t in zip(inter.user.tolist(), inter.item.tolist(), inter.timestamp.tolist())}
    last_train = pd.DataFrame({"u": split.train.user, "t": [ts[k] for k in zip(split.train.user.tolist(),
                                                                                   split.train.item.tolist())]})
    test_t = pd.Series([ts[k] for k in zip(split.test.user.tolist(), split.test.item.tolist())], index=split.test.user)
    # the test item is never older than any train item of the same user
    assert (test_t.sort_index().to_numpy() >= last_train.groupby("u").t.max().sort_index().to_numpy()).all()


def test_max_users_subsamples_and_k_core_reapplies():
    small = load_dataset("amazon-beauty", {"max_users": 100})
    assert small.interactions.n_users == 100 and small.interactions.item.max() == small.interactions.n_items - 1
    cored = load_dataset("amazon-beauty", {"max_users": 100, "k_core": 2})
    assert cored.interactions.n_items < small.interactions.n_items
    step = cored.card["filters"][-1]
    assert step["step"] == "k_core" and step["removed_items"] == small.interactions.n_items - cored.interactions.n_items
    counts = np.bincount(cored.interactions.item)
    assert counts.min() >= 2 and np.bincount(cored.interactions.user).min() >= 2


def test_bad_interaction_files_give_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="file not found; fix: reinstall"):
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


def test_external_ids_are_amazons_for_every_user_and_item(beauty):
    ids = AmazonBeautyDataset().external_ids()
    inter = beauty.interactions
    assert len(ids["users"]) == 22363 and len(ids["items"]) == 12101
    assert all(str(u) in ids["users"] for u in inter.user_ids) and all(str(i) in ids["items"] for i in inter.item_ids)
    assert ids["users"]["1"] == "A1YJEY40YUW4SE" and ids["items"]["1"] == "B004756YJA"  # the first rows shipped
    assert len(set(ids["users"].values())) == 22363 and len(set(ids["items"].values())) == 12101
