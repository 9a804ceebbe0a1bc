"""The shared InfoNCE (in-batch: MGCN, SMORE; against a whole table: LGMRec): the reference formula's value and
gradients, no overflow."""

import pytest
import torch
import torch.nn.functional as F

from mmbench.components._base import batch_info_nce, info_nce, table_info_nce


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


def test_gradients_match_finite_differences():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    grads = torch.autograd.grad(info_nce(a, b, 0.3), [a, b])
    eps = 1e-6
    for x, grad in zip((a, b), grads):
        for idx in [(0, 0), (2, 1), (5, 2)]:
            with torch.no_grad():
                x[idx] += eps
                up = info_nce(a, b, 0.3).item()
                x[idx] -= 2 * eps
                down = info_nce(a, b, 0.3).item()
                x[idx] += eps
            assert grad[idx].item() == pytest.approx((up - down) / (2 * eps), abs=1e-8)


def test_a_second_backward_is_refused_not_wrong():
    a = torch.randn(9, 4, requires_grad=True)
    b = torch.randn(9, 4, requires_grad=True)
    loss = info_nce(a, b, 0.2)
    torch.autograd.grad(loss, [a, b], retain_graph=True)
    with pytest.raises(RuntimeError, match="second backward .* not supported"):
        torch.autograd.grad(loss, [a, b])


def test_both_exponential_paths_agree():
    """τ ≥ 1/80 takes the exponentials directly, a smaller τ shifts each row by its maximum: same result."""
    g = torch.Generator().manual_seed(3)
    a = torch.randn(20, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(20, 5, generator=g, dtype=torch.float64, requires_grad=True)
    for tau in (1 / 80, 1 / 80.5):
        want = reference(a, b, tau)
        got = info_nce(a, b, tau)
        assert got.item() == pytest.approx(want.item(), rel=1e-12)
        for w, h in zip(torch.autograd.grad(want, [a, b]), torch.autograd.grad(got, [a, b])):
            torch.testing.assert_close(h, w, rtol=1e-9, atol=1e-12)


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


@pytest.mark.parametrize("tau", [0.2, 0.005])
def test_table_info_nce_matches_summed_cross_entropy_with_repeated_targets(tau):
    g = torch.Generator().manual_seed(7)
    table = torch.randn(30, 6, generator=g, dtype=torch.float64, requires_grad=True)
    anchor_table = torch.randn(30, 6, generator=g, dtype=torch.float64, requires_grad=True)
    rows = torch.tensor([3, 0, 29, 3, 17, 3, 8])  # a batch repeats users
    want = F.cross_entropy(F.normalize(anchor_table[rows]) @ F.normalize(table).T / tau, rows, reduction="sum")
    got = table_info_nce(anchor_table[rows], table, rows, tau)
    assert got.item() == pytest.approx(want.item(), rel=1e-12)
    for w, h in zip(torch.autograd.grad(want, [anchor_table, table]), torch.autograd.grad(got, [anchor_table, table])):
        torch.testing.assert_close(h, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("tau", [0.2, 0.005])
def test_batch_info_nce_equals_the_loss_of_the_batch_with_its_repeats(tau):
    """A batch repeats users and popular items: each distinct row computed once and weighted by its count gives
    the reference loss of the full batch, value and gradients (both exponential paths)."""
    g = torch.Generator().manual_seed(11)
    a_table = torch.randn(40, 6, generator=g, dtype=torch.float64, requires_grad=True)
    b_table = torch.randn(40, 6, generator=g, dtype=torch.float64, requires_grad=True)
    rows = torch.tensor([5, 39, 5, 0, 12, 5, 12, 7, 0, 21, 5])  # 5 four times, 12 and 0 twice, in any order
    want = reference(a_table[rows], b_table[rows], tau)
    got = batch_info_nce(a_table, b_table, rows, tau)
    assert got.item() == pytest.approx(want.item(), rel=1e-12)
    weight = torch.tensor(0.7, dtype=torch.float64)  # a loss weight reaches the gradients through `grad`
    for w, h in zip(torch.autograd.grad(want * weight, [a_table, b_table]),
                    torch.autograd.grad(got * weight, [a_table, b_table])):
        torch.testing.assert_close(h, w, rtol=1e-9, atol=1e-12)


def test_batch_info_nce_without_repeats_is_info_nce():
    g = torch.Generator().manual_seed(12)
    a_table = torch.randn(10, 4, generator=g, dtype=torch.float64)
    b_table = torch.randn(10, 4, generator=g, dtype=torch.float64)
    rows = torch.tensor([3, 9, 0, 4])
    assert batch_info_nce(a_table, b_table, rows, 0.3).item() == pytest.approx(
        info_nce(a_table[rows], b_table[rows], 0.3).item(), rel=1e-13)
