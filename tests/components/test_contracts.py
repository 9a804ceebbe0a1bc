"""Every registered teacher and student builds with defaults and trains on a tiny graph (from the registry)."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest
import torch

from mmbench.components._items import ItemSide
from mmbench.data.types import TrainGraph
from mmbench.kinds import STUDENTS, TEACHERS
from mmbench.recipe.schema import TrainSpec
from mmbench.runner.train import is_trainable
from mmbench.search_space import declared_space

N_USERS, N_ITEMS = 12, 9


def _graph() -> TrainGraph:
    rng = np.random.default_rng(0)
    keys = rng.choice(N_USERS * N_ITEMS, size=40, replace=False)
    return TrainGraph(N_USERS, N_ITEMS, (keys // N_ITEMS).astype(np.int64), (keys % N_ITEMS).astype(np.int64))


def _items(graph: TrainGraph) -> ItemSide:
    rng = np.random.default_rng(1)
    text = rng.normal(size=(N_ITEMS, 6)).astype(np.float32)
    image = rng.normal(size=(N_ITEMS, 4)).astype(np.float32)
    has_image = rng.random(N_ITEMS) < 0.6
    return ItemSide(graph, {"text": (text, np.ones(N_ITEMS, bool)), "image": (image, has_image)})


def _build(reg, name):
    graph = _graph()
    entry = reg.entry(name)
    torch.manual_seed(0)
    if entry.meta.get("features"):
        return entry.obj(graph, _items(graph)), graph
    if entry.meta.get("train"):  # sized by the recipe's training settings (RecBole models)
        return entry.obj(graph, TrainSpec(batch_size=16)), graph
    return entry.obj(graph), graph


MODELS = [(TEACHERS, n) for n in TEACHERS.names()] + [(STUDENTS, n) for n in STUDENTS.names()]


@pytest.mark.parametrize(("reg", "name"), MODELS, ids=[f"{r.kind}:{n}" for r, n in MODELS])
def test_builds_with_defaults_trains_and_scores(reg, name):
    if name.startswith("recbole/"):
        pytest.importorskip("recbole")
    model, graph = _build(reg, name)
    users = torch.tensor([0, 3, 5, 11])
    if is_trainable(model):
        model.train()
        if callable(getattr(model, "new_epoch", None)):
            model.new_epoch()
        if callable(getattr(model, "train_batches", None)):  # its own data pipeline (RecBole models)
            batch_users, batch_items, loss = next(iter(model.train_batches(model.batch_size)))
            assert len(batch_users) and batch_users.min() >= 0 and batch_users.max() < N_USERS
            assert (batch_items >= 0).all() and (batch_items < N_ITEMS).all()
        else:
            loss = model.loss(users, torch.tensor([1, 2, 3, 4]), torch.tensor([5, 6, 7, 8]))
        assert loss.shape == () and torch.isfinite(loss)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
    model.eval()
    scores = model.score(users)
    assert scores.shape == (4, N_ITEMS) and torch.isfinite(scores).all()
    if callable(getattr(model, "embeddings", None)):
        u, i = model.embeddings()
        assert u.shape[0] == N_USERS and i.shape[0] == N_ITEMS and u.shape[1] == i.shape[1]
        torch.testing.assert_close(u[users] @ i.T, scores, atol=1e-5, rtol=1e-5)
    served = model.folded() if callable(getattr(model, "folded", None)) else model
    torch.testing.assert_close(served.score(users), scores, atol=1e-5, rtol=1e-5)


SEARCHED = [(r, n) for r, n in MODELS if not n.startswith("recbole/") and declared_space(r.get(n))]


@pytest.mark.parametrize(("reg", "name"), SEARCHED, ids=[f"{r.kind}:{n}" for r, n in SEARCHED])
def test_every_corner_of_a_declared_search_space_builds(reg, name):
    """A study must never spend its budget on settings the component refuses: every combination of the
    bounds and choices of its declared space constructs (and scores) on a tiny graph."""
    space = declared_space(reg.get(name))
    graph = _graph()
    for values in itertools.product(*(dim.corners() for dim in space.values())):
        params = dict(zip(space, values))
        torch.manual_seed(0)
        model = reg.get(name)(graph, _items(graph), **params)
        assert model.score(torch.tensor([0, 3])).shape == (2, N_ITEMS), params


DIMENSIONED = [(reg, n) for reg, n in MODELS if "dim" in inspect.signature(reg.get(n)).parameters
               and not n.startswith("recbole/")]


@pytest.mark.parametrize(("reg", "name"), DIMENSIONED, ids=[f"{r.kind}:{n}" for r, n in DIMENSIONED])
def test_a_bad_parameter_is_named_with_its_value_and_rule(reg, name):
    graph = _graph()
    args = (graph, _items(graph)) if reg.entry(name).meta.get("features") else (graph,)
    with pytest.raises(ValueError, match=rf"^{name}: bad parameters: dim=0 \(need ≥ 1\)"):
        reg.get(name)(*args, dim=0)


def test_check_params_names_every_broken_rule_once():
    from mmbench.components._base import check_params

    check_params("x", a=(1, True, "≥ 1"))  # nothing broken: no error
    with pytest.raises(ValueError) as err:
        check_params("x", a=(0, False, "≥ 1"), b=(0.5, True, "in [0, 1)"), c=("z", False, "'id' or 'fused'"))
    assert str(err.value) == "x: bad parameters: a=0 (need ≥ 1); c='z' (need 'id' or 'fused')"
