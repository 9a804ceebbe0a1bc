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



KD = """\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 300}}
encoders:
  text: {name: minilm}
teacher: {name: vbpr, params: {dim: 16}}
student: {name: lightgcn, params: {dim: 16, layers: 2, adapter: true HEADS}}
distill:
  - {name: rrd, weight: 1.0, params: {top_k: 5, samples: 20}}
modality_dropout: {text: 0.3}
train: {epochs: 5, batch_size: 512, lr: 0.003}
eval: {ks: [10, 20]}
seeds: [0]
"""


def test_heads_leave_the_kd_student_and_its_twin_as_they_train_alone(tmp_path):
    """Distillation reads the student's own rows, the heads take no RNG draw: where validation keeps no head,
    the KD student and its no-KD twin end exactly where the same recipe without heads ends."""
    out = {}
    for tag, heads in (("alone", ""), ("heads", ", cold_head: [0.0]")):
        path = tmp_path / f"{tag}.yaml"
        path.write_text(KD.replace(" HEADS", heads))
        run_recipe(load_recipe(path), results_dir=tmp_path / tag, log=lambda _: None, reuse=False, resume=False)
        (rec,) = load_records(tmp_path / tag)
        out[tag] = {m.role: m for m in rec.models}
    for role in ("student", "baseline"):
        alone, beside = out["alone"][role], out["heads"][role]
        assert beside.served == "folded adapter; no cold head (chosen on valid)"
        assert [h["serving"] for h in beside.history] == ["no cold head"] * 5
        assert [h["valid"] for h in beside.history] == [h["valid"] for h in alone.history]
        assert beside.metrics == alone.metrics and beside.best_epoch == alone.best_epoch
    assert out["heads"]["student"].distill is not None
