"""mmbench export end to end on a small real run: the folder holds the model's served tables, the raw ids in
row order, the seen items, a complete manifest, and it reproduces the record; an unreproducible one is never
written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mmbench import __version__
from mmbench.data.amazon_beauty import embedded_dir
from mmbench.errors import ExportError
from mmbench.export import export_model, find_record
from mmbench.export.locate import read_record
from mmbench.export.rebuild import rebuild
from mmbench.export.verify import reevaluate
from mmbench.serve import load_export
from mmbench.serve.format import FORMAT, FORMAT_VERSION, sha256_of
from mmbench.serve.recommender import Recommender


def test_tables_are_the_served_models_tables(exported):
    _, record_path, folder = exported
    built = rebuild(read_record(record_path), 1, log=lambda _: None)
    users, items = built.served.tables()
    data = load_export(folder)
    assert np.array_equal(data.users, users.numpy()) and np.array_equal(data.items, items.numpy())
    # the served model folds the adapter: its item table is not the ID-only one
    assert built.result.served == "folded adapter"
    assert not torch.equal(built.model.item.weight, built.served.item.weight)


def test_ids_are_amazon_ids_in_row_order(exported):
    _, record_path, folder = exported
    built = rebuild(read_record(record_path), 1, log=lambda _: None)
    inter = built.data.interactions
    ids = json.loads((folder / "ids.json").read_text())
    embedded = embedded_dir()
    reviewer = pd.read_csv(embedded / "users.csv", dtype=str).set_index("user_id").reviewer_id
    asin = pd.read_csv(embedded / "items.csv", dtype=str).set_index("item_id").asin
    assert ids["users"] == [reviewer[str(u)] for u in inter.user_ids]
    assert ids["items"] == [asin[str(i)] for i in inter.item_ids]
    assert ids["dataset_users"] == [str(u) for u in inter.user_ids] and len(ids["users"]) == 300
    assert ids["users"][0] == "A1YJEY40YUW4SE"  # user_id 1 in users.csv


def test_seen_items_are_train_and_valid(exported):
    _, record_path, folder = exported
    split = rebuild(read_record(record_path), 1, log=lambda _: None).split
    data = load_export(folder)
    for u in range(split.n_users):
        got = data.seen_items[data.seen_indptr[u]:data.seen_indptr[u + 1]]
        want = np.union1d(split.train.item[split.train.user == u], split.valid.item[split.valid.user == u])
        assert np.array_equal(got, want), u


def test_manifest_describes_the_model_and_the_run(exported):
    _, record_path, folder = exported
    record = read_record(record_path)
    m = json.loads((folder / "manifest.json").read_text())
    student = record.models[1]
    assert (m["format"], m["format_version"], m["mmbench_version"]) == (FORMAT, FORMAT_VERSION, __version__)
    assert m["recipe"]["resolved"] == record.recipe.resolved and m["recipe"]["hash"] == record.recipe.hash
    assert m["dataset"] == {"name": "amazon-beauty", "key": record.dataset.key, "split": "loo-time",
                            "content_hash": record.dataset.content_hash, "split_hash": record.dataset.split_hash}
    assert (m["model"]["role"], m["model"]["component"], m["model"]["params"]) == ("student", "lightgcn",
                                                                                   student.params)
    assert m["model"]["cache_key"] == student.cache_key and m["model"]["distill"]["teacher"] == "mm-gnn"
    assert (m["run"]["run_id"], m["run"]["seed"]) == (record.run_id, 0)
    assert m["metrics"]["test"] == student.metrics["test"] and m["metrics"]["valid"] == student.metrics["valid"]
    assert m["score"]["rule"] == "dot"
    assert m["counts"] == {"users": 300, "items": len(json.loads((folder / "ids.json").read_text())["items"]),
                           "dim": 16, "seen_pairs": m["counts"]["seen_pairs"]}
    assert set(m["files"]) == {"tables.safetensors", "ids.json", "seen.safetensors", "cold.safetensors", "ann.faiss"}
    for name, entry in m["files"].items():
        assert entry["sha256"] == sha256_of(folder / name), name
    assert m["cold_items"]["kind"] == "adapter" and m["cold_items"]["scale"] == pytest.approx(1 / 3)
    assert m["ann"]["items"] == m["counts"]["items"]


def test_the_export_reproduces_the_records_test_metrics(exported):
    _, record_path, folder = exported
    record = read_record(record_path)
    built = rebuild(record, 1, log=lambda _: None)
    again = reevaluate(Recommender.load(folder), built.split, built.recipe)  # from the files, independently
    assert again.keys() == record.models[1].metrics["test"].keys()
    for col, value in record.models[1].metrics["test"].items():
        assert again[col] == pytest.approx(value, abs=1e-9), col
    assert json.loads((folder / "manifest.json").read_text())["verification"]["max_abs_diff"] <= 1e-6


def test_an_export_that_does_not_reproduce_its_record_is_not_written(exported, tmp_path):
    results, record_path, _ = exported
    raw = json.loads(record_path.read_text())
    raw["models"][1]["metrics"]["test"]["NDCG@10"] += 0.01  # as if the cached weights were another model's
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(ExportError, match=r"do not reproduce its record.*NDCG@10"):
        export_model(find_record(bad, None, None, results), 1, tmp_path / "out", log=lambda _: None)
    assert list(tmp_path.iterdir()) == [bad]  # neither the folder nor its temporary copy


def test_other_roles_export_and_reproduce_too(exported, tmp_path):
    results, record_path, _ = exported
    located = find_record(record_path, None, None, results)
    for i, role in ((0, "teacher"), (2, "baseline"), (3, "baseline")):  # mm-gnn, the no-KD twin, mf
        m = export_model(located, i, tmp_path / str(i), log=lambda _: None)
        assert m["model"]["role"] == role and m["verification"]["max_abs_diff"] <= 1e-6
    assert json.loads((tmp_path / "0" / "manifest.json").read_text())["cold_items"] is None
    assert json.loads((tmp_path / "3" / "manifest.json").read_text())["cold_items"]["scale"] == 1.0


def test_an_existing_folder_is_replaced_only_with_force(exported, tmp_path):
    results, record_path, _ = exported
    located = find_record(record_path, None, None, results)
    (tmp_path / "out").mkdir()
    with pytest.raises(ExportError, match="exists; fix: choose another --out, or pass --force"):
        export_model(located, 3, tmp_path / "out", log=lambda _: None)
    export_model(located, 3, tmp_path / "out", force=True, log=lambda _: None)
    assert load_export(tmp_path / "out").manifest["model"]["component"] == "mf"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary or replaced folder left
