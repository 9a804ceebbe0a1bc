"""Milliseconds per phase of a LightGCN BPR step (sampling, forward, backward, Adam), averaged over one epoch.

Run from the repository root: ``OMP_NUM_THREADS=2 python ci/bench/step_phases.py [dataset] [split] [batch]``
(default ``gowalla given 4096``). The first epoch warms up; the second is timed, phase by phase. This is where a
step's time goes beyond its floor (``tests/benchmarks/test_bench_lightgcn_epoch.py``): the floor is the sparse
products, the gathers and Adam, each timed alone.
"""

from __future__ import annotations

import sys
import time

import torch

import mmbench.components  # noqa: F401  registers the datasets
from mmbench.allocator import keep_freed_memory
from mmbench.components.students.lightgcn import LightGCNStudent
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.runner.sampling import BPRSampler
from mmbench.runner.train import seed_everything


def phases(dataset: str, split_name: str, batch: int) -> dict[str, float]:
    data = load_dataset(dataset)
    split = make_split(split_name, data.interactions)
    seed_everything(0)
    model = LightGCNStudent(split.graph, dim=64, layers=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sampler = BPRSampler(split.graph, torch.Generator().manual_seed(0))
    totals = dict.fromkeys(("sample", "forward", "backward", "adam"), 0.0)
    steps = 0
    for epoch in range(2):
        batches = sampler.epoch(batch)
        while True:
            t0 = time.perf_counter()
            try:
                users, pos, neg = next(batches)
            except StopIteration:
                break
            t1 = time.perf_counter()
            loss = model.loss(users, pos, neg)
            t2 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t3 = time.perf_counter()
            opt.step()
            t4 = time.perf_counter()
            if epoch == 1:
                for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    totals[key] += dt
                steps += 1
    return {"threads": torch.get_num_threads(), "steps": steps,
            **{f"{k}_ms": 1000 * v / steps for k, v in totals.items()}}


if __name__ == "__main__":
    keep_freed_memory()
    args = sys.argv[1:]
    out = phases(args[0] if args else "gowalla", args[1] if len(args) > 1 else "given",
                 int(args[2]) if len(args) > 2 else 4096)
    print(" ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in out.items()))
