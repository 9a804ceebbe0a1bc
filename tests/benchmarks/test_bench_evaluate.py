"""Seconds to evaluate every user once: mmbench's full-ranking evaluator next to the bare matmul + top-K.

Run: ``pytest tests/benchmarks/test_bench_evaluate.py --benchmark-enable``. Measured, never asserted. Each test
stores the data sizes in the benchmark's ``extra_info`` (written by ``--benchmark-json=FILE``); the second test
to run (the evaluator, in file order) also stores ``ratio_to_topk`` = its mean / the bare loop's mean. With
benchmarks disabled (the default test run) each body runs once on a 2,000-user subset, so it stays short.

The comparison, on two datasets: Amazon Beauty 5-core (``amazon-beauty``, ``loo-time`` split, one test item per
user), test part, every user with a test item (all 22,363), against all 12,101 items; and Gowalla (the LightGCN
paper's split, ``given``: 29,858 users with 7.3 test items each on average, 40,981 items). The scorer is a fixed random 64-d embedding model,
``score(users) = U[users] @ I.T`` in float32, called in batches of 4,096 users (``EvalSpec``'s default).

* ``test_bench_topk_floor``: for each batch, the scores and ``torch.topk(scores, 20)``. What any full-ranking
  evaluator must at least do, and no more: no history masking, no metrics.
* ``test_bench_evaluate``: :func:`mmbench.runner.evaluate.evaluate` with hr, ndcg, recall and mrr at K = 5, 10,
  20 (the recipe defaults): scoring, the NaN check, train ∪ valid masking, the tie-aware rank counts of each
  target, the metrics and their means.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmbench.data.types import Split
from mmbench.runner.evaluate import Scorer, evaluate
from test_bench_lightgcn_epoch import dataset

DATASETS = ["beauty", "gowalla"]

DIM, BATCH, TOPK = 64, 4096, 20
METRICS, KS = ("hr", "ndcg", "recall", "mrr"), (5, 10, 20)
ROUNDS = 5  # timed passes over all users, after one warm-up pass
SUBSET = 2000  # max_users when benchmarks are disabled
SEED = 0
_MEANS: dict[str, float] = {}  # mean seconds of each benchmark run so far in this session, for the ratio


def setup(benchmark, data: str) -> tuple[Split, Scorer, np.ndarray]:
    """The split, the random embedding scorer and the users with a test item (increasing)."""
    split = dataset(data, SUBSET if benchmark.disabled else None)[0]
    gen = torch.Generator().manual_seed(SEED)
    users_emb = torch.randn(split.n_users, DIM, generator=gen)
    items_emb = torch.randn(split.n_items, DIM, generator=gen)
    benchmark.group = f"full-ranking evaluation {data}"
    benchmark.extra_info.update(users=int(len(np.unique(split.test.user))), items=split.n_items,
                                history_pairs=len(split.train) + len(split.valid), dim=DIM, batch_size=BATCH,
                                threads=torch.get_num_threads())
    return split, lambda users: users_emb[users] @ items_emb.T, np.unique(split.test.user)


def record(benchmark, data: str, name: str) -> None:
    if benchmark.disabled:
        return
    _MEANS[data, name] = benchmark.stats.stats.mean
    if (data, "evaluate") in _MEANS and (data, "topk") in _MEANS:
        benchmark.extra_info["ratio_to_topk"] = _MEANS[data, "evaluate"] / _MEANS[data, "topk"]


@pytest.mark.parametrize("data", DATASETS)
def test_bench_topk_floor(benchmark, data):
    _, score, users = setup(benchmark, data)

    def topk_all() -> int:
        found = 0
        with torch.inference_mode():
            for start in range(0, len(users), BATCH):
                found += torch.topk(score(torch.as_tensor(users[start:start + BATCH])), TOPK).indices.shape[0]
        return found

    found = benchmark.pedantic(topk_all, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    assert found == len(users)
    record(benchmark, data, "topk")


@pytest.mark.parametrize("data", DATASETS)
def test_bench_evaluate(benchmark, data):
    split, score, _ = setup(benchmark, data)

    def evaluate_all() -> dict[str, float]:
        return evaluate(score, split, "test", metrics=METRICS, ks=KS, batch_size=BATCH)

    result = benchmark.pedantic(evaluate_all, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    # a random scorer ranks test items near the uniform expectation: Recall@20 ≈ 20 / n_items
    assert 0.0 < result["Recall@20"] < 0.01 and result["NDCG@20"] <= result["HR@20"]
    benchmark.extra_info["metrics"] = result
    record(benchmark, data, "evaluate")
