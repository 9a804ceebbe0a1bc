"""A LightGCN student with content heads for cold items, end to end on real data (Beauty's MiniLM text)."""

from __future__ import annotations

import numpy as np

from mmbench.recipe.load import load_recipe
from mmbench.results.store import load_records
from mmbench.runner.run import run_recipe

RECIPE = """\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 300}}
encoders:
  text: {name: minilm}
student: {name: lightgcn, params: {dim: 16, layers: 2, adapter: true, cold_head: [0.0, 0.1]}}
train: {epochs: 3, batch_size: 512, lr: 0.01}
eval: {ks: [5, 10, 20]}
seeds: [0]
"""


def test_the_record_says_which_serving_choice_valid_kept(tmp_path):
    path = tmp_path / "cold.yaml"
    path.write_text(RECIPE)
    run_recipe(load_recipe(path), results_dir=tmp_path / "res", log=lambda _: None)
    (rec,) = load_records(tmp_path / "res")
    (student,) = rec.models
    choices = ["no cold head", "cold head λ=0", "cold head λ=0.1"]
    curve = [h for h in student.history if "valid" in h]
    assert len(curve) == 3 and all(h["serving"] in choices for h in curve)
    kept = curve[student.best_epoch - 1]["serving"]
    assert student.served == f"folded adapter; {kept} (chosen on valid)"
    assert set(student.slices) == {"cold", "warm"}  # the small split has cold test items: the slice is reported
    assert np.isfinite(student.slices["cold"]["metrics"]["NDCG@10"])

