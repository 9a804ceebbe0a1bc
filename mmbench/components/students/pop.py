"""Most-popular baseline: scores every item by its train interaction count."""

from __future__ import annotations

import torch
from torch import nn

from mmbench.data.types import TrainGraph
from mmbench.kinds import register_student


@register_student("pop")
class PopStudent(nn.Module):
    """Popularity: the same ranking for every user, by train interaction count (no training)."""

    tunes_training = False  # fitted by counting: no learning rate or epochs to search

    def __init__(self, graph: TrainGraph) -> None:
        super().__init__()
        self.register_buffer("counts", torch.as_tensor(graph.item_counts(), dtype=torch.float32))

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("pop has no trainable parameters; the trainer skips it")

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.counts.expand(len(users), -1)
