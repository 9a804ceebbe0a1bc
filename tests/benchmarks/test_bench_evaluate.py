"""Seconds to evaluate every user once: mmbench's full-ranking evaluator next to the bare matmul + top-K.

Run: ``pytest tests/benchmarks/test_bench_evaluate.py --benchmark-enable``. Measured, never asserted. Each test
stores the data sizes in the benchmark's ``extra_info`` (written by ``--benchmark-json=FILE``); the second test
to run (the evaluator, in file order) also stores ``ratio_to_topk`` = its mean / the bare loop's mean. With
benchmarks disabled (the default test run) each body runs once on a 2,000-user subset, so it stays short.

The comparison: Amazon Beauty 5-core (``amazon-beauty``), ``loo-time`` split, test part, every user with a test
item (all 22,363), against all 12,101 items. The scorer is a fixed random 64-d embedding model,
``score(users) = U[users] @ I.T`` in float32, called in batches of 4,096 users (``EvalSpec``'s default).

* ``test_bench_topk_floor``: for each batch, the scores and ``torch.topk(scores, 20)``. What any full-ranking
  evaluator must at least do, and no more: no history masking, no metrics.
* ``test_bench_evaluate``: :func:`mmbench.runner.evaluate.evaluate` with hr, ndcg, recall and mrr at K = 5, 10,
  20 (the recipe defaults): scoring, the NaN check, train ∪ valid masking, the tie-aware rank counts of each
  target, the metrics and their means.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.data.types import Split
from mmbench.runner.evaluate import Scorer, evaluate

DIM, BATCH, TOPK = 64, 4096, 20
METRICS, KS = ("hr", "ndcg", "recall", "mrr"), (5, 10, 20)
ROUNDS = 5  # timed passes over all users, after one warm-up pass
SUBSET = 2000  # max_users when benchmarks are disabled
SEED = 0
_MEANS: dict[str, float] = {}  # mean seconds of each benchmark run so far in this session, for the ratio


@lru_cache(maxsize=2)
def beauty(max_users: int | None) -> Split:
    data = load_dataset("amazon-beauty", {"max_users": max_users} if max_users else None)
    return make_split("loo-time", data.interactions)


def setup(benchmark) -> tuple[Split, Scorer, np.ndarray]:
    """The split, the random embedding scorer and the users with a test item (increasing)."""
    split = beauty(SUBSET if benchmark.disabled else None)
    gen = torch.Generator().manual_seed(SEED)
    users_emb = torch.randn(split.n_users, DIM, generator=gen)
    items_emb = torch.randn(split.n_items, DIM, generator=gen)
    benchmark.group = "full-ranking evaluation"
    benchmark.extra_info.update(users=int(len(np.unique(split.test.user))), items=split.n_items,
                                history_pairs=len(split.train) + len(split.valid), dim=DIM, batch_size=BATCH,
                                threads=torch.get_num_threads())
    return split, lambda users: users_emb[users] @ items_emb.T, np.unique(split.test.user)


def record(benchmark, name: str) -> None:
    if benchmark.disabled:
        return
    _MEANS[name] = benchmark.stats.stats.mean
    if len(_MEANS) == 2:
        benchmark.extra_info["ratio_to_topk"] = _MEANS["evaluate"] / _MEANS["topk"]


def test_bench_topk_floor(benchmark):
    _, score, users = setup(benchmark)

    def topk_all() -> int:
        found = 0
        with torch.inference_mode():
            for start in range(0, len(users), BATCH):
                found += torch.topk(score(torch.as_tensor(users[start:start + BATCH])), TOPK).indices.shape[0]
        return found

    found = benchmark.pedantic(topk_all, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    assert found == len(users)
    record(benchmark, "topk")


def test_bench_evaluate(benchmark):
    split, score, _ = setup(benchmark)

    def evaluate_all() -> dict[str, float]:
        return evaluate(score, split, "test", metrics=METRICS, ks=KS, batch_size=BATCH)

    result = benchmark.pedantic(evaluate_all, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    # a random scorer ranks the one test item near the uniform expectation: HR@20 ≈ 20 / 12,000
    assert 0.0 < result["HR@20"] < 0.01 and result["NDCG@20"] <= result["HR@20"]
    benchmark.extra_info["metrics"] = result
    record(benchmark, "evaluate")
