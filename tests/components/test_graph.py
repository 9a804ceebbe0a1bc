"""Graph operators: LightGCN's fused propagation equals the plain loop of products, sums and a division, bit for
bit, in values and gradients."""

from __future__ import annotations

import pytest
import torch

from mmbench.components._graph import normalized_bipartite, propagate


def plain(adj, ego: torch.Tensor, layers: int) -> torch.Tensor:
    out, h = ego, ego
    for _ in range(layers):
        h = adj @ h
        out = out + h
    return out / (layers + 1)


@pytest.mark.parametrize("layers", [0, 1, 2, 3, 4])
def test_fused_propagation_equals_the_plain_loop_bit_for_bit(layers):
    g = torch.Generator().manual_seed(layers)
    n_users, n_items = 300, 500
    adj = normalized_bipartite(torch.randint(n_users, (4000,), generator=g),
                               torch.randint(n_items, (4000,), generator=g), n_users, n_items)
    weights = torch.randn(n_users + n_items, 16, generator=g)
    outs, grads = [], []
    for fn in (propagate, plain):
        ego = torch.randn(n_users + n_items, 16, generator=torch.Generator().manual_seed(7), requires_grad=True)
        out = fn(adj, ego, layers)
        (out * weights).sum().backward()
        outs.append(out.detach())
        grads.append(ego.grad)
    assert torch.equal(outs[0], outs[1]) and torch.equal(grads[0], grads[1])
    assert layers == 0 or not torch.equal(outs[0], ego.detach())  # propagation did something
    with torch.no_grad():  # and without autograd (evaluation)
        assert torch.equal(propagate(adj, ego.detach(), layers), outs[1])
