"""The processed cache: hits, invalidation by raw content and params, corrupt entries rebuilt with a warning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmbench.data import cache
from mmbench.data.cache import DataCacheWarning
from mmbench.data.load import load_dataset

INTER = "user,item,ts\nu1,a,1\nu1,b,2\nu2,a,3\nu2,c,4\nu3,b,5\n"
ITEMS = "item,title\na,Alpha\nb,Beta\nc,\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "inter.csv").write_text(INTER)
    (tmp_path / "items.csv").write_text(ITEMS)
    np.save(tmp_path / "feat.npy", np.arange(6, dtype=np.float32).reshape(3, 2))
    return tmp_path


def params(d, **extra):
    return {"path": str(d / "inter.csv"), "user_col": "user", "item_col": "item", "timestamp_col": "ts",
            "items": str(d / "items.csv"), "item_id_col": "item", "text_cols": ["title"],
            "features": {"image": str(d / "feat.npy")}, **extra}


def entries(root):
    return [e for e in cache.describe(root) if e["dataset"] == "csv"]


def test_second_load_is_a_cache_hit_with_identical_content(files, tmp_path):
    root = tmp_path / "cache"
    a = load_dataset("csv", params(files), root=root)
    assert len(entries(root)) == 1
    b = load_dataset("csv", params(files), root=root)
    assert b.cache_key == a.cache_key and b.card == a.card
    assert np.array_equal(a.interactions.user, b.interactions.user) and list(a.interactions.item_ids) == list(b.interactions.item_ids)
    assert a.items.equals(b.items) or a.items.astype(str).equals(b.items.astype(str))
    assert np.array_equal(a.features["image"].values, b.features["image"].values)
    assert all(np.array_equal(a.modalities[k], b.modalities[k]) for k in a.modalities)
    assert b.interactions.timestamp.tolist() == [1, 2, 3, 4, 5]


def test_changed_raw_file_or_param_gets_a_new_key(files, tmp_path):
    root = tmp_path / "cache"
    a = load_dataset("csv", params(files), root=root)
    b = load_dataset("csv", params(files, end="1970-01-01T00:00:04"), root=root)
    assert b.cache_key != a.cache_key and len(b.interactions) < len(a.interactions)
    (files / "inter.csv").write_text(INTER + "u3,c,6\n")
    c = load_dataset("csv", params(files), root=root)
    assert c.cache_key != a.cache_key and len(c.interactions) == len(a.interactions) + 1
    assert len(entries(root)) == 3


@pytest.mark.parametrize("damage", ["truncate", "delete", "garbage-json"])
def test_corrupt_entry_is_detected_and_rebuilt_with_a_warning(files, tmp_path, damage):
    root = tmp_path / "cache"
    a = load_dataset("csv", params(files), root=root)
    entry = cache.entry_dir(root, "csv", a.cache_key)
    target = {"truncate": entry / "interactions.npz", "delete": entry / "items.parquet",
              "garbage-json": entry / "meta.json"}[damage]
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:40])
    elif damage == "delete":
        target.unlink()
    else:
        target.write_text("{not json")
    with pytest.warns(DataCacheWarning, match="is unusable .* rebuilding it"):
        b = load_dataset("csv", params(files), root=root)
    assert np.array_equal(a.interactions.item, b.interactions.item)
    manifest = json.loads((entry / "manifest.json").read_text())
    assert set(manifest["files"]) == {"interactions.npz", "features.npz", "items.parquet", "meta.json"}


def test_cache_entries_never_hold_pickles(files, tmp_path):
    root = tmp_path / "cache"
    data = load_dataset("csv", params(files), root=root)
    entry = cache.entry_dir(root, "csv", data.cache_key)
    for name in ("interactions.npz", "features.npz"):
        with np.load(entry / name, allow_pickle=False) as z:
            assert all(z[k].dtype != object for k in z.files)


def test_use_cache_false_writes_nothing(files, tmp_path):
    root = tmp_path / "cache"
    load_dataset("csv", params(files), root=root, use_cache=False)
    assert not (root / "datasets").exists()


def test_unwritable_cache_warns_and_still_returns_data(files, tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    with pytest.warns(DataCacheWarning, match="could not write the dataset cache"):
        data = load_dataset("csv", params(files), root=blocker)
    assert len(data.interactions) == 5
