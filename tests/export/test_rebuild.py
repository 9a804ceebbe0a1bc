"""Rebuilding a recorded model: each reason it cannot be is one clear error naming the fix."""

from __future__ import annotations

import json

import pytest
import torch

from mmbench.errors import ExportError
from mmbench.export import export_model, find_record
from mmbench.export.locate import read_record
from mmbench.export.rebuild import rebuild
from mmbench.runner import model_cache


def _with(record_path, tmp_path, edit):
    raw = json.loads(record_path.read_text())
    edit(raw)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(raw))
    return read_record(path)


def test_weights_missing_from_this_machines_cache(exported, tmp_path, monkeypatch):
    monkeypatch.setenv("MMBENCH_CACHE_DIR", str(tmp_path / "empty-cache"))
    record = read_record(exported[1])
    with pytest.raises(ExportError, match=r"not in the trained-model cache .*empty-cache/models.*fix: `mmbench run "
                                          r".*export-test.yaml --seed 0` here"):
        rebuild(record, 1, log=lambda _: None)


def test_a_record_without_a_cache_key(exported, tmp_path):
    def drop(raw):
        raw["models"][1]["cache_key"] = None
    with pytest.raises(ExportError, match=r"no trained-model cache key: the run used --no-reuse.*without --no-reuse"):
        rebuild(_with(exported[1], tmp_path, drop), 1, log=lambda _: None)


def test_damaged_or_foreign_weights(exported, tmp_path, monkeypatch):
    record = read_record(exported[1])
    key = record.models[1].cache_key
    monkeypatch.setenv("MMBENCH_CACHE_DIR", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / f"{key}.pt").write_bytes(b"not a torch file")
    with pytest.raises(ExportError, match="unreadable trained weights"):
        rebuild(record, 1, log=lambda _: None)
    torch.save({"user.weight": torch.zeros(3, 3)}, tmp_path / "models" / f"{key}.pt")
    with pytest.raises(ExportError, match="do not fit the model its recipe builds now"):
        rebuild(record, 1, log=lambda _: None)


def test_a_model_without_tables_and_a_changed_recipe(exported, tmp_path):
    record = read_record(exported[1])
    with pytest.raises(ExportError, match="pop scores items without user and item tables"):
        rebuild(record, 4, log=lambda _: None)

    def other_hash(raw):
        raw["recipe"]["hash"] = "0" * 16
    with pytest.raises(ExportError, match="its recipe hashes to .* the record says 0000000000000000"):
        rebuild(_with(exported[1], tmp_path, other_hash), 1, log=lambda _: None)


def test_other_data_than_the_runs(exported, tmp_path):
    def other_split(raw):
        raw["dataset"]["split_hash"] = "f" * 16
    with pytest.raises(ExportError, match="differ from the run's"):
        rebuild(_with(exported[1], tmp_path, other_split), 1, log=lambda _: None)


def test_weights_are_read_without_pickle(exported, tmp_path, monkeypatch):
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    export_model(find_record(exported[1], None, None, exported[0]), 3, tmp_path / "mf", log=lambda _: None)
    assert seen == [True]
    assert model_cache.cache_dir().is_dir()
