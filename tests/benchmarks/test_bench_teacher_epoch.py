"""Seconds per training epoch of every teacher on Amazon Beauty, next to LightGCN's, same data and settings.

Run: ``pytest tests/benchmarks/test_bench_teacher_epoch.py --benchmark-enable`` (and ``OMP_NUM_THREADS`` as
you want it reported; the thread count is stored). Measured, never asserted: the ratio to LightGCN is read off
the benchmark table (``extra_info`` also holds the epoch losses, the data sizes and the thread count).

The comparison: Amazon Beauty 5-core, ``loo-time`` split, the item text encoded by MiniLM exactly as the Beauty
teacher recipes do (``recipes/beauty/teacher-freedom.yaml``'s encoder, from the feature cache). One epoch = what
:func:`mmbench.runner.train.fit` does per epoch without validation: ``new_epoch()`` (a model's per-epoch
resampling), then one pass over the train interactions in batches of the Beauty recipes' 4,096 (one uniform
negative each), ``model.loss``, an Adam step at lr 1e-3. Every model with its registered defaults (64-d).
With benchmarks disabled (the default test run) each model trains a 300-user subset for two epochs with random
stand-in features of MiniLM's size, to check that the benchmark runs and every model learns, without encoding.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest
import torch

from mmbench.components._items import ItemSide
from mmbench.components.students.lightgcn import LightGCNStudent
from mmbench.data.types import Split
from mmbench.kinds import TEACHERS
from mmbench.recipe.load import load_recipe
from mmbench.runner.run import prepare
from mmbench.runner.features import extract_all
from mmbench.runner.sampling import BPRSampler
from mmbench.runner.train import seed_everything
from test_bench_lightgcn_epoch import mmbench_epoch as epoch  # the same epoch as the LightGCN benchmark

BATCH, LR, SEED, ROUNDS = 4096, 1e-3, 0, 3
SUBSET = 300  # max_users when benchmarks are disabled
RECIPE = "recipes/beauty/teacher-freedom.yaml"
MODELS = ["lightgcn", "bm3", "freedom", "lgmrec", "mgcn", "mm-gnn", "smore", "vbpr"]


@lru_cache(maxsize=2)
def beauty(subset: bool) -> tuple[Split, dict[str, tuple[np.ndarray, np.ndarray]]]:
    overrides = [f"dataset.params.max_users={SUBSET}"] if subset else []
    recipe = load_recipe(RECIPE, overrides)
    data, split, _ = prepare(recipe, log=lambda _: None)
    if subset:
        rng = np.random.default_rng(SEED)
        features = {"text": (rng.normal(size=(split.n_items, 384)).astype(np.float32), np.ones(split.n_items, bool))}
    else:
        features = {m: (f.values, f.available) for m, f in extract_all(recipe.encoders, data, log=lambda _: None).items()}
    return split, features


def build(name: str, split: Split, features: dict[str, tuple[np.ndarray, np.ndarray]]) -> torch.nn.Module:
    seed_everything(SEED)
    if name == "lightgcn":
        return LightGCNStudent(split.graph)
    return TEACHERS.get(name)(split.graph, ItemSide(split.graph, features))


@pytest.mark.parametrize("name", MODELS)
def test_bench_epoch(benchmark, name):
    split, features = beauty(benchmark.disabled)
    model = build(name, split, features)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    sampler = BPRSampler(split.graph, torch.Generator().manual_seed(SEED))
    losses = [epoch(model, opt, sampler) for _ in range(2)]
    assert all(math.isfinite(x) for x in losses), losses
    assert losses[1] < losses[0], losses  # it learns: the benchmark times real training steps
    last = benchmark.pedantic(epoch, args=(model, opt, sampler), rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(losses=[*losses, last], train=len(split.train), users=split.n_users,
                                items=split.n_items, batches=math.ceil(len(split.train) / BATCH),
                                threads=torch.get_num_threads())
