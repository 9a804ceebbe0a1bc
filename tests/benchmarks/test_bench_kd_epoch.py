"""Seconds per training epoch of a KD student next to the same student without KD (the quickstart's pair).

Run: ``pytest tests/benchmarks/test_bench_kd_epoch.py --benchmark-enable``. Measured, never asserted; the second
test (KD, in file order) stores ``ratio_to_plain`` = its mean epoch / the plain epoch's mean.

The setting is the quickstart's student on Amazon Beauty 5-core (``loo-time``): LightGCN 64-d, 3 layers, reg 1e-3,
batches of 4,096, Adam at lr 1e-2; KD with ``rrd`` (40 teacher top items, 40 sampled) on at most 256 users per
batch (``train.distill_users`` of the Beauty recipes). One epoch is what :func:`mmbench.runner.train.fit` does per
epoch without validation: for KD, ``loss_and_embeddings`` (one propagation for both terms), the distiller's
candidates and losses, one backward, one Adam step. The teacher's tables and top lists are computed once before
(as in ``fit``); the teacher is a 2-layer LightGCN trained for one epoch (its per-step cost is only gathers of its
precomputed tables, whatever model it is). With benchmarks disabled each body runs one epoch of a 2,000-user subset.
"""

from __future__ import annotations

import math

import pytest
import torch

from mmbench.components.students.lightgcn import LightGCNStudent
from mmbench.recipe.schema import DistillSpec
from mmbench.runner.distill import Distiller
from mmbench.runner.sampling import BPRSampler
from mmbench.runner.train import seed_everything
from test_bench_lightgcn_epoch import dataset, mmbench_epoch, scope

BATCH, LR, SEED, ROUNDS, DISTILL_USERS = 4096, 1e-2, 0, 5, 256
_MEANS: dict[str, float] = {}


def kd_epoch(model: LightGCNStudent, opt: torch.optim.Optimizer, sampler: BPRSampler, distiller: Distiller) -> float:
    model.train()
    total, steps = 0.0, 0
    for users, pos, neg in sampler.epoch(BATCH):
        loss, tables = model.loss_and_embeddings(users, pos, neg)
        loss = loss + sum(distiller(model, users, pos, max_users=DISTILL_USERS, tables=tables).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total, steps = total + loss.item(), steps + 1
    return total / steps


@pytest.mark.parametrize("mode", ["plain", "kd"])
def test_bench_kd_epoch(benchmark, mode):
    split, _ = dataset("beauty", scope(benchmark))
    benchmark.group = "kd epoch beauty"
    seed_everything(SEED)
    teacher = LightGCNStudent(split.graph, dim=64, layers=2)
    mmbench_epoch(teacher, torch.optim.Adam(teacher.parameters(), lr=LR),
                  BPRSampler(split.graph, torch.Generator().manual_seed(SEED + 1)))
    teacher.eval()
    seed_everything(SEED)
    model = LightGCNStudent(split.graph, dim=64, layers=3, reg=1e-3)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sampler = BPRSampler(split.graph, torch.Generator().manual_seed(SEED))
    if mode == "kd":
        distiller = Distiller(teacher, "lightgcn", model, "lightgcn", split.graph, [DistillSpec(name="rrd")])
        run, args = kd_epoch, (model, opt, sampler, distiller)
    else:
        run, args = mmbench_epoch, (model, opt, sampler)
    first = run(*args)
    assert math.isfinite(first)
    rounds = 1 if benchmark.disabled else ROUNDS
    last = benchmark.pedantic(run, args=args, rounds=rounds, iterations=1)
    assert math.isfinite(last)
    benchmark.extra_info.update(train=len(split.train), batches=math.ceil(len(split.train) / BATCH),
                                threads=torch.get_num_threads(), distill_users=DISTILL_USERS)
    if not benchmark.disabled:
        _MEANS[mode] = benchmark.stats.stats.mean
        if len(_MEANS) == 2:
            benchmark.extra_info["ratio_to_plain"] = _MEANS["kd"] / _MEANS["plain"]
