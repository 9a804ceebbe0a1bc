"""ci/analysis/cold_items.py's content heads: trained beside the student without touching its training."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from mmbench.components._items import ItemSide
from mmbench.components.students.lightgcn import LightGCNStudent
from mmbench.data.types import TrainGraph

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("cold_items", REPO / "ci/analysis/cold_items.py")
cold_items = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cold_items)


def student(seed: int = 0) -> LightGCNStudent:
    rng = np.random.default_rng(0)
    keys = rng.choice(9 * 7, size=30, replace=False)
    graph = TrainGraph(9, 7, (keys // 7).astype(np.int64), (keys % 7).astype(np.int64))
    text = rng.normal(size=(7, 5)).astype(np.float32)
    torch.manual_seed(seed)
    return LightGCNStudent(graph, ItemSide(graph, {"text": (text, np.ones(7, bool))}), dim=4, layers=2, adapter=True)


def test_the_heads_learn_and_leave_the_students_gradients_as_they_are():
    users, pos, neg = torch.tensor([0, 1, 2, 3, 1]), torch.tensor([0, 2, 3, 5, 6]), torch.tensor([6, 4, 1, 0, 3])
    plain, with_heads = student(), student()
    heads = cold_items.with_content_heads(with_heads, [0.0, 0.1])
    plain.loss(users, pos, neg).backward()
    with_heads.loss(users, pos, neg).backward()
    mine = dict(with_heads.named_parameters())
    for name, p in plain.named_parameters():
        torch.testing.assert_close(mine[name].grad, p.grad, rtol=0, atol=0, msg=name)
    for head in heads:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    assert any(name.startswith("content_heads.") for name in with_heads.state_dict())  # restored with the best state
