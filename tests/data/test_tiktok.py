"""The embedded TikTok (MMSSL/DiffMM) dataset: counts, shipped bytes, feature alignment, the given split."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from mmbench.data import tiktok  # registers "tiktok"
from mmbench.data.amazon_beauty import embedded_dir
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.errors import DataError

from _provenance import assert_ships_exactly

FOLDER = embedded_dir("tiktok")
SHIPPED = {"PROVENANCE.md", "image_feat.npy", "audio_feat.npy", "interactions.csv.gz"}


@pytest.fixture(scope="module")
def data():
    return load_dataset("tiktok")


def test_counts_and_given_split_match_provenance(data):
    assert (data.card["users"], data.card["items"], data.card["interactions"]) == (9308, 6710, 68722)
    split = make_split("given", data.interactions)
    assert (len(split.train), len(split.valid), len(split.test)) == (59541, 3051, 6130)
    assert data.interactions.timestamp is None and data.card["columns"]["split"]
    raw = pd.read_csv(FOLDER / "interactions.csv.gz")
    # the given part of each row is the shipped one, row by row
    parts = np.array(["train", "valid", "test"])[data.interactions.given_split]
    assert (parts == raw.split.to_numpy()).all()


def test_shipped_files_are_exactly_the_listed_ones_with_provenance_blob_shas():
    assert_ships_exactly(FOLDER, SHIPPED)


def test_feature_rows_follow_raw_item_ids_after_k_core():
    data = load_dataset("tiktok", {"k_core": 5})
    ids = data.interactions.item_ids
    assert 0 < len(ids) < 6710  # the k-core drops items, so dense id != raw id and alignment is exercised
    assert data.card["filters"][-1]["step"] == "k_core" and data.card["filters"][-1]["removed_items"] > 0
    for name, file in (("visual", "image_feat.npy"), ("acoustic", "audio_feat.npy")):
        raw = np.load(FOLDER / file)
        got = data.features[name].values
        for i in (0, 1, len(ids) // 2, len(ids) - 1):
            assert np.array_equal(got[i], raw[ids[i]].astype(np.float32))
        assert np.array_equal(got, raw[ids].astype(np.float32))
    counts = np.bincount(data.interactions.item)
    assert counts.min() >= 5


def test_modality_availability_and_notes(data):
    mods = data.card["modalities"]
    assert mods["text"]["rate"] == 0.0 and "no text" in mods["text"]["note"]
    assert mods["image"]["rate"] == 1.0 and "precomputed visual" in mods["image"]["note"]
    assert mods["audio"]["rate"] == 1.0
    assert (mods["feature:visual"]["modality"], mods["feature:visual"]["dim"]) == ("image", 128)
    assert (mods["feature:acoustic"]["modality"], mods["feature:acoustic"]["dim"]) == ("audio", 128)
    assert data.features["visual"].available.all() and data.features["acoustic"].available.all()


def test_truncated_feature_file_is_a_one_line_error(tmp_path, monkeypatch):
    for name in ("interactions.csv.gz", "audio_feat.npy"):
        shutil.copy(FOLDER / name, tmp_path / name)
    np.save(tmp_path / "image_feat.npy", np.load(FOLDER / "image_feat.npy")[:-1])
    monkeypatch.setattr(tiktok, "embedded_dir", lambda folder: tmp_path)
    with pytest.raises(DataError) as exc:
        load_dataset("tiktok", use_cache=False)
    msg = str(exc.value)
    assert "image_feat.npy: 6709 feature rows but 6710 items" in msg and "fix:" in msg and "\n" not in msg
