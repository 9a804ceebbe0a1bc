"""CUDA: every model trains, is evaluated and is timed on a GPU (marker ``gpu``; deselected by default, and
skipped without a CUDA device). Run on a GPU machine with ``pytest -m gpu tests/gpu``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mmbench.components._items import ItemSide
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.kinds import STUDENTS, TEACHERS
from mmbench.recipe.load import load_recipe
from mmbench.recipe.schema import EvalSpec, TrainSpec
from mmbench.runner.evaluate import evaluate
from mmbench.runner.run import run_recipe
from mmbench.runner.train import fit, seed_everything

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

MODELS = [("teacher", n) for n in ("bm3", "freedom", "lgmrec", "mgcn", "mm-gnn", "smore", "vbpr")] + \
    [("student", "lightgcn"), ("student", "mf"), ("student", "pop")]
EV = EvalSpec(ks=[10, 20], metrics=["hr", "ndcg", "recall"])


@pytest.fixture(scope="module")
def small():
    data = load_dataset("amazon-beauty", {"max_users": 1000})
    split = make_split("loo-time", data.interactions)
    rng = np.random.default_rng(0)
    return split, {"text": (rng.normal(size=(split.n_items, 64)).astype(np.float32),
                            rng.random(split.n_items) < 0.8)}


@pytest.mark.parametrize("kind, name", MODELS)
def test_every_model_trains_and_evaluates_on_cuda_like_on_cpu(small, kind, name):
    split, features = small
    spec = TrainSpec(epochs=3, batch_size=1024, lr=1e-2, eval_every=1, patience=5)
    metrics = {}
    for device in ("cpu", "cuda"):
        seed_everything(0)
        model = (TEACHERS.get(name)(split.graph, ItemSide(split.graph, features, dropout={"text": 0.2}))
                 if kind == "teacher" else STUDENTS.get(name)(split.graph)).to(device)
        result = fit(model, split, spec, EV, seed=0)
        assert all(p.device.type == device for p in model.parameters())
        metrics[device] = evaluate(model.score, split, "test", metrics=EV.metrics, ks=EV.ks)
        assert result.best_epoch >= 1 or name == "pop"
    # the same seed trains the same model up to float reassociation on the GPU
    for col, value in metrics["cpu"].items():
        assert metrics["cuda"][col] == pytest.approx(value, rel=0.15, abs=2e-3), col


def test_a_kd_recipe_runs_on_cuda_with_latency_and_robustness(tmp_path):
    path = tmp_path / "kd.yaml"
    path.write_text("""\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 1000}}
encoders: {text: {name: minilm}}
teacher: {name: mm-gnn, params: {dim: 32}, fusion: {name: gated}}
student: {name: lightgcn, params: {dim: 32}}
distill: [{name: rrd}]
train: {epochs: 3, batch_size: 1024, lr: 1.0e-2, eval_every: 1, patience: 5, distill_users: 128}
eval: {ks: [10], latency: {enabled: true}, robustness: {enabled: true, mask_seeds: 1}}
seeds: [0]
""")
    paths = run_recipe(load_recipe(path), results_dir=tmp_path / "res", device="cuda", log=lambda _: None)
    record = json.loads(paths[0].read_text())
    assert record["hardware"]["device"] == "cuda" and record["hardware"]["tag"].startswith("cuda:")
    roles = {m["role"]: m for m in record["models"]}
    assert set(roles) == {"teacher", "student", "baseline"}
    for m in roles.values():
        assert m["latency"]["latency_ms_p50"] > 0 and 0 <= m["metrics"]["test"]["NDCG@10"] <= 1
