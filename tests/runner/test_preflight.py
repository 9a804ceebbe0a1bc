"""Pre-flight checks: a recipe its split cannot serve stops before features are extracted or a model trains."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mmbench.data.types import Pairs
from mmbench.errors import DataError, RecipeError
from mmbench.recipe.load import load_recipe
from mmbench.runner.preflight import check_split
from mmbench.runner.run import prepare, run_recipe

TINY = """\
schema_version: 1
name: tiny
dataset: {name: amazon-beauty, params: {max_users: 1}}
encoders:
  text: {name: minilm}
teacher: {name: mm-gnn, params: {dim: 8}}
student: {name: lightgcn, params: {dim: 8}}
distill: [{name: rrd}]
train: {epochs: 1}
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("MMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return load_recipe(path)


def test_an_empty_part_is_refused_with_its_counts(tiny):
    _, split, _ = prepare(tiny, log=lambda _: None)
    no_valid = dataclasses.replace(split, valid=Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64)))
    with pytest.raises(DataError, match=r"leaves valid empty .*train/valid/test 3/0/1\); fix: use more data"):
        check_split(tiny, no_valid)
    check_split(tiny.model_copy(update={"distill": []}), split)  # the real split, without KD: nothing to say


def test_kd_asking_more_top_items_than_a_user_can_get_stops_before_features(tiny, tmp_path):
    logs: list[str] = []
    with pytest.raises(RecipeError, match=r"distill\.0\.params\.top_k: rrd ranks .* top 40 .* only 2; fix: set "
                                          r"distill\[0\]\.params\.top_k to at most 2"):
        run_recipe(tiny, results_dir=tmp_path / "res", log=logs.append)
    assert logs and not any("[features]" in line or "[teacher]" in line for line in logs)
    assert not (tmp_path / "res").exists()
