"""MovieLens-100K read from the RecBole wheel (never imported), and the error when the wheel is absent."""

from __future__ import annotations

import importlib.util
import shutil
import sys

import numpy as np
import pytest

from mmbench.data import movielens_100k  # registers "movielens-100k"
from mmbench.data.load import load_dataset
from mmbench.errors import DataError

HAS_RECBOLE = importlib.util.find_spec("recbole") is not None
needs_recbole = pytest.mark.skipif(not HAS_RECBOLE, reason="recbole wheel not installed "
                                   "(pip install --no-deps recbole==1.2.1)")


@needs_recbole
def test_counts_ratings_time_and_text_without_importing_recbole(monkeypatch):
    for mod in [m for m in sys.modules if m == "recbole" or m.startswith("recbole.")]:
        monkeypatch.delitem(sys.modules, mod)  # another test may have imported it; restored afterwards
    data = load_dataset("movielens-100k", use_cache=False)
    assert "recbole" not in sys.modules  # find_spec located the data without running recbole/__init__.py
    assert (data.card["users"], data.card["items"], data.card["interactions"]) == (943, 1682, 100000)
    inter = data.interactions
    assert sorted(np.unique(inter.rating).tolist()) == [1, 2, 3, 4, 5]
    assert data.card["time_range"] == ["1997-09-20", "1998-04-22"]
    assert inter.item_ids.dtype == np.int64 and inter.item_ids[0] == 1 and inter.item_ids[-1] == 1682
    assert data.text_fields == ("movie_title", "class")
    toy = data.items[data.items.item.astype(str) == "1"].iloc[0]
    assert (toy.movie_title, toy["class"]) == ("Toy Story", "Animation Children's Comedy")
    mods = data.card["modalities"]
    assert mods["text"]["rate"] == 1.0 and mods["image"]["rate"] == 0.0 and "no posters" in mods["image"]["note"]
    assert np.bincount(inter.user).min() >= 20  # every ML-100K user has at least 20 ratings


@needs_recbole
def test_min_rating_and_path_param_work_without_recbole(tmp_path, monkeypatch):
    src = movielens_100k.recbole_ml100k_dir()
    for suffix in (".inter", ".item"):
        shutil.copy(src / f"ml-100k{suffix}", tmp_path / f"ml-100k{suffix}")
    monkeypatch.setattr(importlib.util, "find_spec", lambda *a, **k: None)
    data = load_dataset("movielens-100k", {"path": str(tmp_path), "min_rating": 4}, use_cache=False)
    kept = data.card["raw"]["interactions"] - data.card["filters"][0]["removed_interactions"]
    assert data.card["filters"][0]["step"] == "min_rating" and kept == data.card["interactions"] == 55375
    assert data.interactions.rating.min() == 4


def test_clear_error_when_recbole_is_absent(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda *a, **k: None)
    with pytest.raises(DataError) as exc:
        load_dataset("movielens-100k", use_cache=False)
    assert str(exc.value) == (
        "movielens-100k is read from the RecBole wheel; fix: pip install --no-deps recbole==1.2.1 (the wheel is "
        "all this dataset needs) or set dataset.params.path")


def test_missing_path_names_the_file(tmp_path):
    with pytest.raises(DataError, match=r"ml-100k\.inter: file not found"):
        load_dataset("movielens-100k", {"path": str(tmp_path)}, use_cache=False)
