"""Imputers: the imputer contract for every registered imputer, exact available rows, a dense reference."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

import mmbench.components  # noqa: F401  every built-in imputer, so the contract tests cover them all
from mmbench.components.imputers.learned_token import LearnedTokenImputer
from mmbench.components.imputers.mean import MeanImputer
from mmbench.components.imputers.neighbor_mean import NeighborMeanImputer
from mmbench.components.imputers.zero import ZeroImputer
from mmbench.data.types import TrainGraph
from mmbench.kinds import IMPUTERS
from mmbench.params import check_params

OURS = {"zero": ZeroImputer, "mean": MeanImputer, "learned-token": LearnedTokenImputer,
        "neighbor-mean": NeighborMeanImputer}
NAMES = IMPUTERS.names()
N_USERS, N_ITEMS, DIM = 30, 20, 16
ISOLATED, LONELY, LONELY_MATE = 19, 18, 17  # no train edge; only an unavailable neighbour; that neighbour


def make_graph(seed: int = 0) -> TrainGraph:
    """30 users × 20 items, duplicate-free pairs. Users 0–28 touch items 0–16 at random; user 29 holds items
    17 and 18 only; item 19 has no edge at all."""
    rng = np.random.default_rng(seed)
    dense = rng.random((N_USERS - 1, LONELY_MATE)) < 0.2
    dense[np.arange(LONELY_MATE), np.arange(LONELY_MATE)] = True  # every item 0–16 has a user
    user, item = np.nonzero(dense)
    user = np.concatenate([user, [N_USERS - 1, N_USERS - 1]])
    item = np.concatenate([item, [LONELY_MATE, LONELY]])
    order = rng.permutation(len(user))  # the operator must not depend on edge order
    return TrainGraph(N_USERS, N_ITEMS, user[order], item[order])


def make_inputs(seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    available = torch.rand(N_ITEMS, generator=gen) < 0.6
    available[[0, 1]] = torch.tensor([True, False])
    available[[ISOLATED, LONELY, LONELY_MATE]] = False
    return torch.randn(N_ITEMS, DIM, generator=gen, dtype=dtype), available


def with_garbage(features: torch.Tensor, available: torch.Tensor, value: float) -> torch.Tensor:
    return torch.where(available.unsqueeze(1), features, torch.full_like(features, value))


def dense_reference(graph: TrainGraph, x: np.ndarray, a: np.ndarray, fallback: str = "mean") -> np.ndarray:
    """Leave-self-out co-occurrence-weighted mean of the available rows, from the dense item×item matrix."""
    r = np.zeros((graph.n_users, graph.n_items))
    r[graph.user, graph.item] = 1.0
    c = r.T @ r
    np.fill_diagonal(c, 0.0)
    w = c * a[None, :]
    den = w.sum(1)
    out = x.copy()
    fill = x[a].mean(0) if fallback == "mean" and a.any() else np.zeros(x.shape[1])
    for i in np.flatnonzero(~a):
        out[i] = w[i] @ x / den[i] if den[i] > 0 else fill
    return out


def test_our_imputers_are_registered():
    for name, cls in OURS.items():
        entry = IMPUTERS.entry(name)
        assert entry.obj is cls and entry.summary == cls.__doc__.strip().splitlines()[0]
        assert check_params(cls, {}, name)[1] == []


@pytest.mark.parametrize("name", NAMES)
def test_contract_with_defaults(name):
    torch.manual_seed(0)
    imputer = IMPUTERS.get(name)(DIM)
    graph = make_graph()
    features, available = make_inputs()
    features.requires_grad_()
    out = imputer.impute(features, available, graph)
    assert out.shape == (N_ITEMS, DIM) and out.dtype == features.dtype and torch.isfinite(out).all()
    assert torch.equal(out[available], features[available])  # bit for bit
    out.square().sum().backward()
    assert features.grad is not None and torch.isfinite(features.grad).all()
    for pname, p in imputer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("garbage", [1e30, -3e38, float("inf"), float("nan")])
@pytest.mark.parametrize("name", NAMES)
def test_unavailable_rows_cannot_leak(name, garbage):
    torch.manual_seed(0)
    imputer = IMPUTERS.get(name)(DIM)
    graph = make_graph()
    features, available = make_inputs()
    clean = imputer.impute(features, available, graph)
    dirty = imputer.impute(with_garbage(features, available, garbage), available, graph)
    assert torch.equal(clean, dirty) and torch.isfinite(dirty).all()


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_clear_errors(name):
    imputer = IMPUTERS.get(name)(DIM)
    graph = make_graph()
    features, available = make_inputs()
    with pytest.raises(ValueError, match=rf"features must be a float \[n, {DIM}\] tensor"):
        imputer.impute(features[:, :4], available, graph)
    with pytest.raises(ValueError, match="available must be a bool tensor of shape"):
        imputer.impute(features, available.float(), graph)
    with pytest.raises(ValueError, match="available must be a bool tensor of shape"):
        imputer.impute(features, available[:5], graph)
    with pytest.raises(ValueError, match="dim must be an integer ≥ 1"):
        IMPUTERS.get(name)(0)


def test_zero_fills_zeros():
    features, available = make_inputs()
    out = ZeroImputer(DIM).impute(features, available, make_graph())
    assert torch.equal(out[~available], torch.zeros_like(out[~available]))


def test_mean_is_the_mean_of_available_rows_only():
    features, available = make_inputs(dtype=torch.float64)
    out = MeanImputer(DIM).impute(with_garbage(features, available, 1e6), available, make_graph())
    expected = features.numpy()[available.numpy()].mean(0)
    np.testing.assert_allclose(out[~available].numpy(), np.broadcast_to(expected, (int((~available).sum()), DIM)),
                               rtol=1e-12)
    nothing = torch.zeros(N_ITEMS, dtype=torch.bool)
    assert torch.equal(MeanImputer(DIM).impute(features, nothing, make_graph()), torch.zeros_like(features))


def test_learned_token_fills_the_token_and_learns():
    torch.manual_seed(3)
    imputer = LearnedTokenImputer(DIM)
    torch.manual_seed(3)
    assert torch.equal(LearnedTokenImputer(DIM).token, imputer.token)  # the global RNG fixes the init
    assert 0 < imputer.token.abs().max() < 0.2
    features, available = make_inputs()
    out = imputer.impute(features, available, make_graph())
    assert torch.equal(out[~available], imputer.token.detach().expand(int((~available).sum()), DIM))
    out.sum().backward()
    assert torch.equal(imputer.token.grad, torch.full((DIM,), float((~available).sum())))
    assert torch.equal(LearnedTokenImputer(DIM, init_std=0.0).token, torch.zeros(DIM))
    with pytest.raises(ValueError, match="init_std must be a finite number ≥ 0"):
        LearnedTokenImputer(DIM, init_std=-1.0)


@pytest.mark.parametrize("fallback", ["mean", "zero"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neighbor_mean_matches_a_dense_reference(seed, fallback):
    graph = make_graph(seed)
    features, available = make_inputs(seed, dtype=torch.float64)
    out = NeighborMeanImputer(DIM, fallback=fallback).impute(features, available, graph)
    expected = dense_reference(graph, features.numpy(), available.numpy(), fallback)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    fill = features[available].mean(0) if fallback == "mean" else torch.zeros(DIM, dtype=torch.float64)
    for item in (ISOLATED, LONELY, LONELY_MATE):  # no available neighbour: the fallback
        assert torch.allclose(out[item], fill)
    assert not torch.allclose(out[1], fill)  # item 1 has available neighbours


def test_neighbor_mean_is_weighted_by_shared_users_and_excludes_the_item():
    # Items 0 and 1 share two users, items 0 and 2 share one; item 0 is missing.
    graph = TrainGraph(3, 3, np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 0, 2]))
    features = torch.tensor([[100.0], [1.0], [4.0]], dtype=torch.float64)
    available = torch.tensor([False, True, True])
    out = NeighborMeanImputer(1).impute(features, available, graph)
    assert torch.allclose(out, torch.tensor([[(2 * 1.0 + 1 * 4.0) / 3], [1.0], [4.0]], dtype=torch.float64))


def test_neighbor_mean_counts_duplicate_pairs_once_and_caches_per_graph():
    graph = make_graph()
    doubled = TrainGraph(N_USERS, N_ITEMS, np.concatenate([graph.user, graph.user[:10]]),
                         np.concatenate([graph.item, graph.item[:10]]))
    features, available = make_inputs()
    imputer = NeighborMeanImputer(DIM)
    out = imputer.impute(features, available, graph)
    ops = imputer.operators(graph, features.dtype, features.device)
    assert all(a is b for a, b in zip(ops, imputer.operators(graph, features.dtype, features.device)))
    assert torch.allclose(imputer.impute(features, available, doubled), out, atol=1e-6)
    assert imputer.operators(doubled, features.dtype, features.device)[0] is not ops[0]  # another graph: rebuilt
    for clone in (copy.deepcopy(imputer), pickle.loads(pickle.dumps(imputer))):  # the CSR cache is not copied
        assert torch.equal(clone.impute(features, available, graph), out)


def test_neighbor_mean_gradients_follow_the_neighbours():
    graph = make_graph()
    features, available = make_inputs(dtype=torch.float64)
    features.requires_grad_()
    out = NeighborMeanImputer(DIM, fallback="zero").impute(features, available, graph)
    out[1].sum().backward()  # item 1 is unavailable: its row is a weighted mean of its available neighbours
    r = np.zeros((N_USERS, N_ITEMS))
    r[graph.user, graph.item] = 1.0
    w = (r.T @ r)[1] * available.numpy()
    w[1] = 0.0
    np.testing.assert_allclose(features.grad[:, 0].numpy(), w / w.sum(), rtol=1e-12)


def test_neighbor_mean_rejects_bad_params_and_mismatched_graphs():
    with pytest.raises(ValueError, match=r"fallback must be one of \['mean', 'zero'\], got 'median'"):
        NeighborMeanImputer(DIM, fallback="median")
    features, available = make_inputs()
    small = TrainGraph(N_USERS, 10, np.array([0]), np.array([0]))
    with pytest.raises(ValueError, match="features have 20 rows but the graph has 10 items"):
        NeighborMeanImputer(DIM).impute(features, available, small)
    broken = TrainGraph(2, N_ITEMS, np.array([0, 5]), np.array([0, 1]))
    with pytest.raises(ValueError, match="graph edges out of range"):
        NeighborMeanImputer(DIM).impute(features, available, broken)
