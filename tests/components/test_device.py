"""Every model moves whole with ``module.to(...)``: parameters, buffers and the sparse graphs kept as plain
attributes. Checked on the CPU through a dtype move (``double()``): a graph left behind is still float32 and the
first sparse product fails, exactly as a graph left on the CPU fails once the model is on CUDA. The CUDA runs
themselves are in tests/gpu (marker ``gpu``)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch

from mmbench.components._graph import SparseOp
from mmbench.components._items import ItemSide
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.kinds import STUDENTS, TEACHERS
from mmbench.runner.train import seed_everything

MODELS = [("teacher", n) for n in ("bm3", "freedom", "lgmrec", "mgcn", "mm-gnn", "smore", "vbpr")] + \
    [("student", "lightgcn"), ("student", "mf")]


@lru_cache(maxsize=1)
def small():
    data = load_dataset("amazon-beauty", {"max_users": 200})
    split = make_split("loo-time", data.interactions)
    rng = np.random.default_rng(0)
    avail = rng.random(split.n_items) < 0.8  # some items without the modality: masks are exercised too
    return split, {"text": (rng.normal(size=(split.n_items, 32)).astype(np.float32), avail)}


def build(kind: str, name: str) -> torch.nn.Module:
    split, features = small()
    seed_everything(0)
    if kind == "teacher":
        return TEACHERS.get(name)(split.graph, ItemSide(split.graph, features, dropout={"text": 0.3}))
    return STUDENTS.get(name)(split.graph)


def sparse_ops(model: torch.nn.Module) -> list[SparseOp]:
    found = []

    def walk(value):
        if isinstance(value, SparseOp):
            found.append(value)
        elif isinstance(value, (tuple, list)):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    for module in model.modules():
        for name, value in vars(module).items():
            if name not in ("_parameters", "_buffers", "_modules"):
                walk(value)
    return found


@pytest.mark.parametrize("kind, name", MODELS)
def test_model_moves_whole_graphs_included(kind, name):
    model = build(kind, name)
    split, _ = small()
    users = torch.as_tensor(split.train.user[:64])
    pos = torch.as_tensor(split.train.item[:64])
    neg = torch.as_tensor(split.train.item[64:128])
    model.train()
    if callable(getattr(model, "new_epoch", None)):
        model.new_epoch()
    model.loss(users, pos, neg)  # builds any lazily cached graph before the move, so the move must carry it
    model.double()
    assert all(op.matrix.dtype == torch.float64 and op.transpose.dtype == torch.float64 for op in sparse_ops(model))
    assert all(p.dtype == torch.float64 for p in model.parameters())
    if callable(getattr(model, "new_epoch", None)):
        model.new_epoch()
    loss = model.loss(users, pos, neg)
    assert loss.dtype == torch.float64 and torch.isfinite(loss)
    loss.backward()
    model.eval()
    scores = model.score(users[:8])
    assert scores.dtype == torch.float64 and scores.shape == (8, split.n_items)


def test_sparse_op_apply_keeps_a_symmetric_operator_symmetric():
    op = SparseOp.of(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.ones(2), (2, 2), symmetric=True)
    moved = op.apply(lambda t: t.double())
    assert moved.transpose is moved.matrix and moved.matrix.dtype == torch.float64
