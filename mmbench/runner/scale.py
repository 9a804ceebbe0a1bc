"""Time and peak memory of LightGCN training and full-ranking evaluation against data size.

Each measurement runs in a fresh Python process (:func:`measure_in_subprocess`), so its peak resident memory
(``ru_maxrss``) is its own: loading and preparing the data, building the model, a number of BPR steps, then
full-ranking evaluation of a number of test users. Seconds per step are measured after warm-up steps and times
the steps of an epoch give the epoch; evaluation is timed on a fixed number of users and scaled to all of them.
Both are stated as estimates in the report, with the counts they came from.

LightGCN propagates the whole graph at every step, so a step costs O(interactions + users + items) and an
epoch at a fixed batch size O(interactions²); at a batch size that grows with the data (a fixed number of steps
per epoch) an epoch is linear. The report gives both.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(dataset: str, params: dict[str, Any], split: str, *, batch_size: int = 8192, steps: int = 20,
            warmup: int = 3, eval_users: int = 4096, dim: int = 64, layers: int = 3, seed: int = 0) -> dict[str, Any]:
    """Prepare ``dataset``, train LightGCN for ``warmup + steps`` BPR steps, evaluate ``eval_users`` test users;
    seconds and peak RSS of each phase, in this process."""
    import torch

    import mmbench.components  # noqa: F401  registers the datasets
    from mmbench.components.students.lightgcn import LightGCNStudent
    from mmbench.data.load import load_dataset
    from mmbench.data.splits import make_split
    from mmbench.data.types import Pairs, Split
    from mmbench.runner.evaluate import evaluate
    from mmbench.runner.sampling import BPRSampler
    from mmbench.runner.train import seed_everything

    out: dict[str, Any] = {"dataset": dataset, "params": params, "split": split, "batch_size": batch_size,
                           "dim": dim, "layers": layers, "threads": torch.get_num_threads(),
                           "rss_start_mib": _rss_mib()}
    t = time.perf_counter()
    data = load_dataset(dataset, params)
    sp = make_split(split, data.interactions, seed)
    out.update(prepare_s=time.perf_counter() - t, users=sp.n_users, items=sp.n_items,
               interactions=len(data.interactions), train=len(sp.train), test=len(sp.test),
               rss_data_mib=_rss_mib())
    del data
    seed_everything(seed)
    t = time.perf_counter()
    model = LightGCNStudent(sp.graph, dim=dim, layers=layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sampler = BPRSampler(sp.graph, torch.Generator().manual_seed(seed))
    out["build_s"] = time.perf_counter() - t
    batches = sampler.epoch(batch_size)
    times = []
    for i in range(warmup + steps):
        try:
            users, pos, neg = next(batches)
        except StopIteration:
            batches = sampler.epoch(batch_size)
            users, pos, neg = next(batches)
        t = time.perf_counter()
        loss = model.loss(users, pos, neg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    steps_per_epoch = -(-len(sp.train) // batch_size)
    step_s = float(np.median(times))
    out.update(step_s=step_s, step_s_min=float(np.min(times)), steps_timed=steps,
               steps_per_epoch=steps_per_epoch, epoch_s_estimate=step_s * steps_per_epoch,
               rss_train_mib=_rss_mib())
    model.eval()
    test_users = np.unique(sp.test.user)
    pick = np.random.default_rng(seed).choice(test_users, min(eval_users, len(test_users)), replace=False)
    keep = np.isin(sp.test.user, pick)
    sub = Split(sp.name, sp.dataset, sp.n_users, sp.n_items, sp.train, sp.valid,
                Pairs(sp.test.user[keep], sp.test.item[keep]), sp.card)
    t = time.perf_counter()
    evaluate(model.score, sub, "test", metrics=["recall", "ndcg"], ks=[20])
    eval_s = time.perf_counter() - t
    out.update(eval_users=len(pick), eval_s=eval_s, test_users=len(test_users),
               eval_s_estimate=eval_s * len(test_users) / len(pick), rss_peak_mib=_rss_mib())
    return out


def measure_in_subprocess(dataset: str, params: dict[str, Any], split: str, threads: int,
                          **kwargs: Any) -> dict[str, Any]:
    """:func:`measure` in a fresh interpreter with ``threads`` torch threads (its peak RSS is its own)."""
    spec = json.dumps({"dataset": dataset, "params": params, "split": split, "kwargs": kwargs})
    code = ("import json, sys, torch; from mmbench.allocator import keep_freed_memory; keep_freed_memory(); "
            f"torch.set_num_threads({int(threads)}); from mmbench.runner.scale import measure; "
            "s = json.loads(sys.argv[1]); "
            "print(json.dumps(measure(s['dataset'], s['params'], s['split'], **s['kwargs'])))")
    proc = subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"scale measurement of {dataset} {params} failed: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def synthetic_sizes(sizes: Sequence[int], items_per_interaction: float = 0.1,
                    users_per_interaction: float = 0.05) -> list[dict[str, int]]:
    """Params of the ``synthetic`` dataset for each size: items and users grow with the interactions."""
    return [{"interactions": int(n), "items": max(1, int(n * items_per_interaction)),
             "users": max(1, int(n * users_per_interaction))} for n in sizes]


def render_markdown(report: dict[str, Any]) -> str:
    """The report's rows as a markdown table, with each row's ratios to the first row: data size, step time
    (= epoch time when the batch grows with the data), epoch time at the fixed batch size, peak memory."""
    rows = report["rows"]
    lines = ["| dataset | interactions | users | items | step (ms) | epoch ≈ (s) | eval ≈ (s) | peak RSS (MiB) | "
             "data × | step × | epoch × | RSS × |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    b = rows[0] if rows else None
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['interactions']:,} | {r['users']:,} | {r['items']:,} | "
                     f"{r['step_s'] * 1000:.0f} | {r['epoch_s_estimate']:.0f} | {r['eval_s_estimate']:.0f} | "
                     f"{r['rss_peak_mib']:,.0f} | {r['interactions'] / b['interactions']:.1f} | "
                     f"{r['step_s'] / b['step_s']:.1f} | {r['epoch_s_estimate'] / b['epoch_s_estimate']:.1f} | "
                     f"{r['rss_peak_mib'] / b['rss_peak_mib']:.1f} |")
    return "\n".join(lines)
