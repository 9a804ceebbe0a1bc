"""A real dataset + split exported as a RecBole benchmark folder: read back by mmbench exactly, and by RecBole."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from functools import lru_cache

import numpy as np
import pytest
import yaml

from mmbench.data.atomic import read_atomic
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.data.types import PreparedData, Split
from mmbench.errors import DataError
from mmbench.interop.recbole_data import PARTS, benchmark_config, recbole_config
from mmbench.interop.recbole_export import export_benchmark

RECBOLE_NOISE = pytest.mark.filterwarnings(
    "ignore::FutureWarning:recbole", "ignore::UserWarning:recbole", "ignore::DeprecationWarning",
    "ignore:.*weights_only.*:FutureWarning")

# amazon-beauty: timestamps, integer raw ids, brand / category / keyword text; lastfm: its own split, no time
CASES = {"amazon-beauty": ({"max_users": 300}, "loo-time"), "lastfm": ({}, "given")}


@lru_cache(maxsize=None)
def source(dataset: str) -> tuple[PreparedData, Split]:
    params, split = CASES[dataset]
    data = load_dataset(dataset, params)
    return data, make_split(split, data.interactions)


@pytest.mark.parametrize("dataset", list(CASES))
def test_round_trip_is_exact(tmp_path, dataset):
    data, split = source(dataset)
    result = export_benchmark(data, split, tmp_path, "rt")
    assert [p.name for p in result.files.values()] == [*(f"rt.{p}.inter" for p in PARTS), "rt.item", "rt.user",
                                                       "rt.yaml"]
    spec = result.import_spec
    back = load_dataset(spec["name"], spec["params"], use_cache=False)
    again = make_split(spec["split"], back.interactions)
    orig, got = data.interactions, back.interactions
    # tokens are the source's dense ids: map them back to the dataset's own ids, then compare every part in order
    user_tok, item_tok = got.user_ids.astype(np.int64), got.item_ids.astype(np.int64)
    for part in PARTS:
        want, have = getattr(split, part), getattr(again, part)
        assert len(have) == len(want) > 0
        np.testing.assert_array_equal(orig.user_ids[user_tok[have.user]], orig.user_ids[want.user])
        np.testing.assert_array_equal(orig.item_ids[item_tok[have.item]], orig.item_ids[want.item])
    if orig.timestamp is None:
        assert got.timestamp is None
    else:
        by_pair = dict(zip(zip(orig.user.tolist(), orig.item.tolist()), orig.timestamp.tolist()))
        want_ts = [by_pair[p] for p in zip(user_tok[got.user].tolist(), item_tok[got.item].tolist())]
        np.testing.assert_array_equal(got.timestamp, want_ts)
    assert back.card["filters"][0]["removed_interactions"] == 0  # only dedupe ran, and removed nothing
    # the .item table: raw ids and text, item by item; text availability is unchanged
    items = back.items.set_index(back.items.item.astype(np.int64)).loc[np.arange(orig.n_items)]
    assert items.raw_item_id.tolist() == orig.item_ids.astype(str).tolist()
    assert back.text_fields == data.text_fields
    for f in data.text_fields:
        assert items[f].fillna("").tolist() == data.items[f].fillna("").astype(str).tolist(), f
    assert back.card["modalities"]["text"] == data.card["modalities"]["text"]
    users, _ = read_atomic(result.folder / "rt.user")
    assert users["raw_user_id"].tolist() == orig.user_ids.astype(str).tolist()


def test_text_is_made_tab_and_line_safe(tmp_path):
    data, split = source("amazon-beauty")
    items = data.items.copy()
    field = data.text_fields[0]
    items[field] = items[field].astype(object)
    items.at[0, field] = "two\tcolumns\r\nand lines"
    items.at[1, field] = ["a list", None, "of words"]
    result = export_benchmark(dataclasses.replace(data, items=items), split, tmp_path)
    assert result.folder == tmp_path / "amazon-beauty" and result.cleaned_cells == 1
    table, _ = read_atomic(result.folder / "amazon-beauty.item")
    assert len(table) == data.interactions.n_items
    assert table[field].tolist()[:3] == ["two columns  and lines", "a list, of words", str(items[field][2])]


def test_refuses_a_non_empty_folder_unless_forced(tmp_path):
    data, split = source("amazon-beauty")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"folder exists and is not empty; fix: pass --force"):
        export_benchmark(data, split, tmp_path, "b")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["notes.txt"]
    export_benchmark(data, split, tmp_path, "b", force=True)
    assert (tmp_path / "b" / "notes.txt").read_text() == "mine" and (tmp_path / "b" / "b.yaml").is_file()
    with pytest.raises(DataError, match="not a plain file stem"):
        export_benchmark(data, split, tmp_path, "../b")
    with pytest.raises(DataError, match=r"notes\.txt: exists and is not a folder"):
        export_benchmark(data, split, tmp_path / "b" / "notes.txt", "b")
    other = make_split("loo-time", load_dataset("amazon-beauty", {"max_users": 100}).interactions)
    with pytest.raises(DataError, match="does not belong to dataset"):
        export_benchmark(data, other, tmp_path, "c")


@pytest.fixture
def recbole_cwd(tmp_path, monkeypatch):
    """RecBole writes log/ and saved/ under the working directory, reads sys.argv and sets CUDA_VISIBLE_DEVICES."""
    pytest.importorskip("recbole")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [sys.argv[0]])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", "0"))
    return tmp_path


@RECBOLE_NOISE
def test_recbole_reads_the_folder_with_the_written_yaml(recbole_cwd):
    data, split = source("amazon-beauty")
    result = export_benchmark(data, split, recbole_cwd / "data", "beauty")
    conf_file = result.folder / "beauty.yaml"
    assert yaml.safe_load(conf_file.read_text()) == benchmark_config(result.folder.parent, "beauty")
    config = recbole_config("LightGCN", {}, config_files=[conf_file])  # dataset and data_path from the file
    assert config["dataset"] == "beauty" and config["benchmark_filename"] == list(PARTS)
    from recbole.data import create_dataset, data_preparation

    dataset = create_dataset(config)
    assert (dataset.user_num - 1, dataset.item_num - 1) == (split.n_users, split.n_items)  # [PAD] is id 0
    loaders = data_preparation(config, dataset)
    for part, loader in zip(PARTS, loaders):
        ds = loader._dataset
        assert len(ds) == len(getattr(split, part)) == split.card[part]
        users = ds.id2token(ds.uid_field, ds.inter_feat[ds.uid_field].numpy()).astype(np.int64)
        items = ds.id2token(ds.iid_field, ds.inter_feat[ds.iid_field].numpy()).astype(np.int64)
        keys = np.sort(users * split.n_items + items)
        np.testing.assert_array_equal(keys, getattr(split, part).keys(split.n_items))


@pytest.mark.integration
@RECBOLE_NOISE
def test_run_recbole_on_the_written_yaml(recbole_cwd):
    """What the YAML's comment tells a RecBole user to run (Pop: one pass, no training cost)."""
    data, split = source("amazon-beauty")
    result = export_benchmark(data, split, recbole_cwd / "data", "beauty")
    from mmbench.interop import recbole_compat

    recbole_compat.apply()
    from recbole.quick_start import run_recbole

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with recbole_compat.recbole_checkpoints():  # RecBole reloads its own pickled checkpoint
            out = run_recbole(model="Pop", config_file_list=[str(result.folder / "beauty.yaml")],
                              config_dict={"epochs": 1, "use_gpu": False, "show_progress": False,
                                           "state": "WARNING"})
    finally:  # RecBole's init_logger configures the root logger
        root.handlers[:] = handlers
        root.setLevel(level)
    assert set(out["test_result"]) >= {"hit@10", "ndcg@10"}
    assert 0.0 < out["test_result"]["hit@10"] <= 1.0
