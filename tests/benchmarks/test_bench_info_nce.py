"""Seconds per forward + backward of the shared InfoNCE against autograd through ``cross_entropy``.

Run: ``OMP_NUM_THREADS=1 pytest tests/benchmarks/test_bench_info_nce.py --benchmark-enable``. Shapes as the
teachers use them: ``in-batch`` is MGCN's and SMORE's loss at the Beauty recipes' batch (4,096 × 4,096 logits,
64-d), ``table`` LGMRec's hypergraph contrast at TikTok's tuned batch against every TikTok user (2,048 × 9,308).
Measured, never asserted; with benchmarks disabled (the default test run) small shapes check that both sides
agree, so the benchmark times two computations of the same loss.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmbench.components._base import info_nce, table_info_nce

SHAPES = {"in-batch": (4096, 4096, 64), "table": (2048, 9308, 64)}
TAU = 0.2


def reference(kind: str, a: torch.Tensor, b: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / TAU
    return F.cross_entropy(logits, targets, reduction="mean" if kind == "in-batch" else "sum")


def fused(kind: str, a: torch.Tensor, b: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return info_nce(a, b, TAU) if kind == "in-batch" else table_info_nce(a, b, targets, TAU)


@pytest.mark.parametrize("impl", ["fused", "cross_entropy"])
@pytest.mark.parametrize("kind", list(SHAPES))
def test_bench_info_nce(benchmark, kind, impl):
    rows, table, dim = SHAPES[kind] if not benchmark.disabled else (64, 64 if kind == "in-batch" else 300, 8)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(rows, dim, generator=g, requires_grad=True)
    b = torch.randn(table, dim, generator=g, requires_grad=True)
    targets = torch.arange(rows) if kind == "in-batch" else torch.randint(table, (rows,), generator=g)
    fn = fused if impl == "fused" else reference

    def step() -> float:
        a.grad = b.grad = None
        loss = fn(kind, a, b, targets)
        loss.backward()
        return loss.item()

    value = benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    grads = (a.grad.clone(), b.grad.clone())
    a.grad = b.grad = None
    other = (reference if impl == "fused" else fused)(kind, a, b, targets)
    other.backward()
    assert value == pytest.approx(other.item(), rel=1e-5)
    for mine, theirs in zip(grads, (a.grad, b.grad)):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)
    benchmark.extra_info.update(shape=[rows, table, dim], threads=torch.get_num_threads())
