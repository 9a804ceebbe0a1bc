"""RecBole interop: the compatibility shims, and a split exported to RecBole's benchmark files unchanged."""

from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.data.types import Interactions, Split
from mmbench.interop import recbole_compat
from mmbench.interop.recbole_data import PARTS, benchmark_config, export_split, recbole_config

RECBOLE_NOISE = pytest.mark.filterwarnings(
    "ignore::FutureWarning:recbole", "ignore::UserWarning:recbole",
    "ignore:__array_wrap__ must accept context:DeprecationWarning")


@lru_cache(maxsize=1)
def small() -> tuple[Split, Interactions]:
    data = load_dataset("amazon-beauty", {"max_users": 300})
    return make_split("loo-time", data.interactions), data.interactions


def shim_state() -> dict[str, object]:
    state = {name: np.__dict__.get(name) for name in recbole_compat.NUMPY_ALIASES}
    state["dok._update"] = getattr(sp.dok_matrix, "_update", None)
    state["quick_start"] = sys.modules.get("recbole.quick_start")
    return state


def test_apply_is_idempotent_and_only_fills_gaps():
    before_bool, before_int_ = np.__dict__.get("bool"), np.int_
    recbole_compat.apply()
    first = shim_state()
    recbole_compat.apply()
    assert shim_state() == first
    # the shim sets the builtin; RecBole's own Config later rebinds np.float = np.float_ (float64): either is fine
    assert np.float in (float, np.float64) and np.float_ is np.float64  # type: ignore[attr-defined]
    assert np.complex_ is np.complex128  # type: ignore[attr-defined]
    assert np.__dict__.get("bool") is before_bool and np.int_ is before_int_  # names numpy defines stay its own
    assert "ray" not in sys.modules or sys.modules["ray"].__spec__ is not None  # no stand-in left behind


def test_dok_update_stores_entries_like_dict_update():
    recbole_compat.apply()
    a = sp.dok_matrix((3, 4), dtype=np.float32)
    a[0, 1] = 5
    a._update({(0, 1): 1, (2, 3): 1, (np.int32(1), np.int32(0)): 2})  # overwrite, add; numpy keys as RecBole
    np.testing.assert_array_equal(a.toarray(), [[0, 1, 0, 0], [2, 0, 0, 0], [0, 0, 0, 1]])
    assert a.nnz == 3


def test_torch_load_patch_is_scoped(tmp_path):
    original = torch.load
    path = tmp_path / "ckpt.pth"
    torch.save({"config": {"model": "LightGCN"}, "meta": pd.Timestamp(0)}, path)  # not weights-only loadable
    with pytest.raises(Exception):
        torch.load(path)
    with recbole_compat.recbole_checkpoints():
        assert torch.load is not original
        assert torch.load(path)["config"] == {"model": "LightGCN"}
    assert torch.load is original
    with pytest.raises(RuntimeError), recbole_compat.recbole_checkpoints():
        raise RuntimeError("restored on errors too")
    assert torch.load is original


@pytest.mark.parametrize("with_time", [True, False])
def test_export_holds_exactly_the_split_pairs(tmp_path, with_time):
    split, inter = small()
    paths = export_split(split, tmp_path, "beauty", inter if with_time else None)
    assert set(paths) == set(PARTS)
    for part in PARTS:
        assert paths[part] == tmp_path / "beauty" / f"beauty.{part}.inter"
        header = paths[part].read_text().split("\n", 1)[0]
        assert header == "user_id:token\titem_id:token" + ("\ttimestamp:float" if with_time else "")
        df = pd.read_csv(paths[part], sep="\t")
        pairs = getattr(split, part)
        np.testing.assert_array_equal(df["user_id:token"].to_numpy(), pairs.user)
        np.testing.assert_array_equal(df["item_id:token"].to_numpy(), pairs.item)
        if with_time:
            lookup = dict(zip(zip(inter.user.tolist(), inter.item.tolist()), inter.timestamp.tolist()))
            want = [lookup[p] for p in zip(pairs.user.tolist(), pairs.item.tolist())]
            np.testing.assert_array_equal(df["timestamp:float"].to_numpy(), want)


@RECBOLE_NOISE
def test_recbole_reads_the_export_unchanged(tmp_path, monkeypatch):
    pytest.importorskip("recbole")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [sys.argv[0], "--embedding_size=8"])  # must be ignored
    split, inter = small()
    export_split(split, tmp_path / "data", "beauty", inter)
    config = recbole_config("LightGCN", {**benchmark_config(tmp_path / "data", "beauty"),
                                         "checkpoint_dir": str(tmp_path / "saved")})
    assert config["embedding_size"] == 64 and config["device"] == torch.device("cpu")
    from recbole.data import create_dataset, data_preparation

    parts = create_dataset(config).build()
    for part, ds in zip(PARTS, parts):
        users = ds.id2token(ds.uid_field, ds.inter_feat[ds.uid_field].numpy()).astype(np.int64)
        items = ds.id2token(ds.iid_field, ds.inter_feat[ds.iid_field].numpy()).astype(np.int64)
        want = getattr(split, part)
        np.testing.assert_array_equal(users, want.user)  # same pairs, same order
        np.testing.assert_array_equal(items, want.item)
    train_data, _, _ = data_preparation(config, create_dataset(config))
    assert len(train_data._dataset) == len(split.train) == split.card["train"]
    assert train_data._dataset.item_num - 1 == split.n_items  # [PAD] is RecBole's id 0


@RECBOLE_NOISE
def test_recbole_lightgcn_trains_and_reloads_its_checkpoint(tmp_path, monkeypatch):
    pytest.importorskip("recbole")
    monkeypatch.chdir(tmp_path)
    split, inter = small()
    export_split(split, tmp_path / "data", "beauty", inter)
    config = recbole_config("LightGCN", {**benchmark_config(tmp_path / "data", "beauty"), "epochs": 1,
                                         "checkpoint_dir": str(tmp_path / "saved"), "show_progress": False})
    import recbole.quick_start  # noqa: F401  (imports without ray once the shims are applied)
    from recbole.data import create_dataset, data_preparation
    from recbole.model.general_recommender import LightGCN
    from recbole.trainer import Trainer

    train_data, valid_data, test_data = data_preparation(config, create_dataset(config))
    trainer = Trainer(config, LightGCN(config, train_data._dataset))
    trainer.fit(train_data, valid_data, saved=True, show_progress=False)  # builds the adjacency via _update
    with recbole_compat.recbole_checkpoints():
        result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    assert 0.0 <= result["ndcg@10"] <= 1.0
