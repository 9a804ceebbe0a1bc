"""Students: LightGCN against a dense reference, the item adapter and its folding, MF."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmbench.components._items import ItemSide
from mmbench.components.students.lightgcn import LightGCNStudent
from mmbench.components.students.mf import MFStudent
from mmbench.data.types import TrainGraph
from mmbench.errors import MMBenchError


def _graph(n_users=9, n_items=7, n_pairs=30, seed=0) -> TrainGraph:
    rng = np.random.default_rng(seed)
    keys = rng.choice(n_users * n_items, size=n_pairs, replace=False)
    user, item = keys // n_items, keys % n_items
    return TrainGraph(n_users, n_items, user.astype(np.int64), item.astype(np.int64))


def _dense_lightgcn(graph: TrainGraph, e_u: np.ndarray, e_i: np.ndarray, layers: int):
    n = graph.n_users + graph.n_items
    a = np.zeros((n, n))
    a[graph.user, graph.n_users + graph.item] = 1
    a[graph.n_users + graph.item, graph.user] = 1
    d = a.sum(1)
    inv = np.where(d > 0, d, 1) ** -0.5 * (d > 0)
    norm = inv[:, None] * a * inv[None, :]
    e = np.concatenate([e_u, e_i])
    out, h = e.copy(), e.copy()
    for _ in range(layers):
        h = norm @ h
        out += h
    out /= layers + 1
    return out[:graph.n_users], out[graph.n_users:]


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_lightgcn_matches_dense_reference(layers):
    graph = _graph()
    torch.manual_seed(0)
    model = LightGCNStudent(graph, dim=5, layers=layers).eval()
    ref_u, ref_i = _dense_lightgcn(graph, model.user.weight.detach().double().numpy(),
                                   model.item.weight.detach().double().numpy(), layers)
    u, i = model.embeddings()
    np.testing.assert_allclose(u.detach().numpy(), ref_u, atol=1e-6)
    np.testing.assert_allclose(i.detach().numpy(), ref_i, atol=1e-6)
    users = torch.arange(graph.n_users)
    np.testing.assert_allclose(model.score(users).numpy(), ref_u @ ref_i.T, atol=1e-5)


def test_lightgcn_gradient_matches_dense_autograd():
    graph = _graph(seed=1)
    torch.manual_seed(0)
    model = LightGCNStudent(graph, dim=4, layers=2, reg=0.0)
    users, pos, neg = torch.tensor([0, 1, 2]), torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])
    model.loss(users, pos, neg).backward()
    # the same loss through a dense torch adjacency
    n = graph.n_users + graph.n_items
    a = torch.zeros(n, n, dtype=torch.float64)
    a[graph.user, graph.n_users + graph.item] = 1
    a[graph.n_users + graph.item, graph.user] = 1
    d = a.sum(1)
    inv = torch.where(d > 0, d.clamp(min=1) ** -0.5, torch.zeros_like(d))
    norm = inv[:, None] * a * inv[None, :]
    e = torch.cat([model.user.weight, model.item.weight]).detach().double().requires_grad_(True)
    out, h = e, e
    for _ in range(2):
        h = norm @ h
        out = out + h
    out = out / 3
    u, i = out[:graph.n_users], out[graph.n_users:]
    loss = -torch.nn.functional.logsigmoid((u[users] * i[pos]).sum(-1) - (u[users] * i[neg]).sum(-1)).mean()
    loss.backward()
    grad = torch.cat([model.user.weight.grad, model.item.weight.grad]).double()
    torch.testing.assert_close(grad, e.grad, atol=1e-6, rtol=1e-5)


def _items(graph: TrainGraph, **kw) -> ItemSide:
    rng = np.random.default_rng(3)
    text = rng.normal(size=(graph.n_items, 6)).astype(np.float32)
    avail = np.ones(graph.n_items, dtype=bool)
    avail[[1, 4]] = False
    image = np.zeros((graph.n_items, 3), np.float32)
    return ItemSide(graph, {"text": (text, avail), "image": (image, np.zeros(graph.n_items, bool))}, **kw)


@pytest.mark.parametrize("cls", [LightGCNStudent, MFStudent])
def test_adapter_trains_and_folds_into_the_item_table(cls):
    graph = _graph()
    torch.manual_seed(0)
    model = cls(graph, _items(graph, dropout={"text": 0.5}), dim=4, adapter=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    users, pos, neg = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 2, 3, 5]), torch.tensor([6, 4, 1, 0])
    for _ in range(5):
        opt.zero_grad()
        model.loss(users, pos, neg).backward()
        opt.step()
    assert model.adapter.proj["text"].weight.abs().sum() > 0, "the adapter must learn"
    assert "image" not in model.adapter.proj  # absent for every item: not used
    model.eval()
    served = model.folded()
    assert served is not model and served.adapter is None
    all_users = torch.arange(graph.n_users)
    torch.testing.assert_close(served.score(all_users), model.score(all_users), atol=1e-5, rtol=1e-5)
    plain = cls(graph, dim=4)
    assert sum(p.numel() for p in served.parameters()) == sum(p.numel() for p in plain.parameters())


def test_adapter_without_features_is_a_clear_error():
    graph = _graph()
    with pytest.raises(MMBenchError, match="adapter: true needs item features"):
        LightGCNStudent(graph, None, adapter=True)


def test_without_adapter_folded_is_the_model_itself():
    graph = _graph()
    model = LightGCNStudent(graph, dim=4)
    assert model.folded() is model


def test_bad_params():
    with pytest.raises(ValueError, match="layers"):
        LightGCNStudent(_graph(), layers=-1)


def _cold_graph() -> TrainGraph:
    """9 users × 7 items, items 5 and 6 never interacted with (cold)."""
    g = _graph(n_users=9, n_items=5, n_pairs=25)
    return TrainGraph(9, 7, g.user, g.item)


def _train(model, steps=6):
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.05)
    users, pos, neg = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 2, 3, 4]), torch.tensor([6, 5, 1, 0])
    for _ in range(steps):
        opt.zero_grad()
        model.loss(users, pos, neg).backward()
        opt.step()
    return model


def test_cold_heads_leave_the_student_exactly_as_it_trains_alone():
    graph = _cold_graph()
    models = []
    for heads in (None, [0.0, 0.1]):
        torch.manual_seed(0)  # the adapter's modality dropout draws from the global RNG: the heads must not
        models.append(_train(LightGCNStudent(graph, _items(graph, dropout={"text": 0.5}), dim=4, adapter=True,
                                             cold_head=heads)))
    alone, beside = models
    for name, p in alone.named_parameters():
        assert torch.equal(p, dict(beside.named_parameters())[name]), name
    head0 = beside.heads[0].proj["text"].weight
    assert not torch.equal(head0, beside.heads[1].proj["text"].weight)  # trained apart, with different λ
    assert beside.serving_choices() == ["no cold head", "cold head λ=0", "cold head λ=0.1"]


def test_a_served_cold_head_replaces_only_the_cold_rows_and_folds_into_a_plain_lightgcn():
    graph = _cold_graph()
    torch.manual_seed(0)
    model = _train(LightGCNStudent(graph, _items(graph), dim=4, layers=2, cold_head=[0.0])).eval()
    all_users = torch.arange(graph.n_users)
    assert model.served_choice() == "no cold head" and model.folded() is model
    u0, i0 = model.tables()
    model.serve_choice(1)
    u1, i1 = model.tables()  # the cached tables were dropped by the choice
    torch.testing.assert_close(u1, u0)
    torch.testing.assert_close(i1[:5], i0[:5])  # warm rows unchanged
    with torch.no_grad():
        content = model.heads[0](torch.tensor([5, 6]))
    torch.testing.assert_close(i1[5:], content)
    assert not torch.allclose(i1[5:], i0[5:])
    served = model.folded()
    assert served is not model and served.heads is None and served.adapter is None
    torch.testing.assert_close(served.score(all_users), model.score(all_users), atol=1e-6, rtol=1e-5)
    assert model.served_choice() == "cold head λ=0"
    with pytest.raises(ValueError, match="out of range"):
        model.serve_choice(2)


def test_cold_heads_choose_nothing_without_cold_items_and_need_features():
    graph = _graph(n_users=9, n_items=5, n_pairs=40)  # every item has a train interaction
    assert len(set(graph.item.tolist())) == 5
    assert LightGCNStudent(graph, _items(graph), dim=4, cold_head=[0.0]).serving_choices() == []
    with pytest.raises(MMBenchError, match="cold_head needs item features"):
        LightGCNStudent(graph, None, cold_head=[0.0])
    with pytest.raises(ValueError, match="cold_head L2 weights"):
        LightGCNStudent(graph, _items(graph), cold_head=[-1.0])
