"""The shared in-batch InfoNCE (MGCN, SMORE): the reference formula's value and gradients, no overflow."""

import pytest
import torch
import torch.nn.functional as F

from mmbench.components._base import info_nce


def reference(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """MMRec's ``InfoNCE``: ``-log(exp(pos / τ) / Σ_j exp(a_i·b_j / τ))`` on normalised rows, mean over rows."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    pos = torch.exp((a * b).sum(1) / tau)
    total = torch.exp(a @ b.T / tau).sum(1)
    return -torch.log(pos / total).mean()


@pytest.mark.parametrize("n,d,tau", [(1, 4, 0.2), (7, 3, 0.2), (64, 16, 0.5), (33, 8, 1.0)])
def test_value_and_gradients_match_the_formula(n, d, tau):
    g = torch.Generator().manual_seed(n)
    a = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    b.data[n // 2:] = a.data[n // 2:]  # some rows equal their positive, as a repeated item in a batch makes
    weights = torch.rand(2, generator=g, dtype=torch.float64)
    want = reference(a, b, tau)
    got = info_nce(a, b, tau)
    assert got.item() == pytest.approx(want.item(), abs=1e-12)
    want_grads = torch.autograd.grad(want * weights[0], [a, b])
    got_grads = torch.autograd.grad(got * weights[0], [a, b])
    for w, h in zip(want_grads, got_grads):
        torch.testing.assert_close(h, w, rtol=1e-10, atol=1e-12)


def test_gradcheck():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: info_nce(x, y, 0.3), (a, b))


def test_a_second_backward_gets_the_same_gradients():
    a = torch.randn(9, 4, requires_grad=True)
    b = torch.randn(9, 4, requires_grad=True)
    loss = info_nce(a, b, 0.2)
    first = torch.autograd.grad(loss, [a, b], retain_graph=True)
    second = torch.autograd.grad(loss, [a, b])
    for x, y in zip(first, second):
        assert torch.equal(x, y)


def test_no_overflow_at_a_tiny_temperature():
    """exp(1/τ) overflows float32 for τ ≤ 0.011; the log-sum-exp form stays finite and exact."""
    a = torch.randn(16, 8, requires_grad=True)
    b = a.detach() + 0.01 * torch.randn(16, 8)
    loss = info_nce(a, b, 0.005)
    assert torch.isfinite(loss)
    logits = F.normalize(a.double(), dim=1) @ F.normalize(b.double(), dim=1).T / 0.005
    assert loss.item() == pytest.approx(F.cross_entropy(logits, torch.arange(16)).item(), rel=1e-4, abs=1e-4)
    loss.backward()
    assert torch.isfinite(a.grad).all()
