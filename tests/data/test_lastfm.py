"""The embedded Last.fm HetRec 2K multimodal dataset: counts, bytes, play counts, covers, feature alignment."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from mmbench.data import lastfm  # registers "lastfm"
from mmbench.data.amazon_beauty import embedded_dir
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.errors import DataError

from _provenance import assert_ships_exactly

FOLDER = embedded_dir("lastfm")
SHIPPED = {"PROVENANCE.md", "hetrec_readme.txt", "interactions.csv.gz", "items.csv.gz", "covers.tsv.gz",
           "text_all-MiniLM-L6-v2.npy", "audio_vggish.npy", "audio_whisper.npy"}
FEATURE_FILES = {"text-minilm": "text_all-MiniLM-L6-v2.npy", "audio-vggish": "audio_vggish.npy",
                 "audio-whisper": "audio_whisper.npy"}


@pytest.fixture(scope="module")
def data():
    return load_dataset("lastfm")


def test_counts_and_given_split_match_provenance(data):
    assert (data.card["users"], data.card["items"], data.card["interactions"]) == (1858, 1425, 56345)
    split = make_split("given", data.interactions)
    assert (len(split.train), len(split.valid), len(split.test)) == (44327, 4799, 7219)
    assert data.interactions.timestamp is None


def test_weight_is_the_listen_count_of_each_row(data):
    raw = pd.read_csv(FOLDER / "interactions.csv.gz")
    inter = data.interactions
    assert np.array_equal(inter.user_ids[inter.user], raw.user_id)
    assert np.array_equal(inter.item_ids[inter.item], raw.item_id)
    assert np.array_equal(inter.weight, raw.listen_count.to_numpy(np.float32))
    assert (inter.weight.min(), inter.weight.max(), np.median(inter.weight)) == (1, 352698, 297)


def test_shipped_files_are_exactly_the_listed_ones_with_provenance_blob_shas():
    # nothing else ships: the HetRec .dat files and the upstream .inter/.tsv stay out of the package
    assert_ships_exactly(FOLDER, SHIPPED)
    assert b"non-commercial" in (FOLDER / "hetrec_readme.txt").read_bytes()


def test_item_table_text_and_first_cover_link(data):
    items = pd.read_csv(FOLDER / "items.csv.gz", keep_default_na=False)
    covers = pd.read_csv(FOLDER / "covers.tsv.gz", sep="\t", keep_default_na=False)
    table = data.items
    assert data.text_fields == ("name", "tags") and data.image_field == "image_url"
    assert table.item.tolist() == items.item_id.tolist()
    assert table.name.tolist() == items.name.tolist() and table.tags.tolist() == items.tags.tolist()
    first = covers.groupby("artistID", sort=False).link_song.first()
    assert table.image_url.tolist() == first.loc[items.artist_id].tolist()
    # a hand-checked row: HetRec artist 2 (Diary of Dreams) and its first cover in file order
    row = table[table.artist_id == 2].iloc[0]
    assert row["name"] == "Diary of Dreams"
    assert row.image_url == "https://i.scdn.co/image/ab67616d0000b273c71cf317380031192960d84e"


def test_feature_rows_follow_raw_item_ids_after_k_core():
    data = load_dataset("lastfm", {"k_core": 20})
    ids = data.interactions.item_ids
    assert 0 < len(ids) < 1425 and not np.array_equal(ids, np.arange(len(ids)))
    for name, file in FEATURE_FILES.items():
        raw = np.load(FOLDER / file)
        got = data.features[name].values
        for i in (0, 1, len(ids) // 2, len(ids) - 1):
            assert np.array_equal(got[i], raw[ids[i]].astype(np.float32)), name
        assert np.array_equal(got, raw[ids].astype(np.float32)), name
    assert data.items.item.tolist() == ids.tolist()  # the item table follows the same remapping


def test_modality_availability(data):
    mods = data.card["modalities"]
    assert mods["text"]["rate"] == 1.0 and mods["text"]["fields"] == ["name", "tags"]
    assert mods["image"]["rate"] == 1.0 and mods["image"]["field"] == "image_url"
    assert "no image features" in mods["image"]["note"]
    assert mods["audio"]["rate"] == 1.0
    dims = {k: (mods[f"feature:{k}"]["modality"], mods[f"feature:{k}"]["dim"]) for k in FEATURE_FILES}
    assert dims == {"text-minilm": ("text", 384), "audio-vggish": ("audio", 128), "audio-whisper": ("audio", 512)}


def test_truncated_feature_file_is_a_one_line_error(tmp_path, monkeypatch):
    for name in SHIPPED - {"audio_whisper.npy"}:
        shutil.copy(FOLDER / name, tmp_path / name)
    np.save(tmp_path / "audio_whisper.npy", np.load(FOLDER / "audio_whisper.npy")[:1400])
    monkeypatch.setattr(lastfm, "embedded_dir", lambda folder: tmp_path)
    with pytest.raises(DataError) as exc:
        load_dataset("lastfm", use_cache=False)
    msg = str(exc.value)
    assert "audio_whisper.npy: 1400 feature rows but 1425 items" in msg and "fix:" in msg and "\n" not in msg
