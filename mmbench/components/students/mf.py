"""BPR matrix factorisation (Rendle et al., UAI 2009)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmbench.data.types import TrainGraph
from mmbench.kinds import register_student


@register_student("mf")
class MFStudent(nn.Module):
    """BPR-MF: user and item embeddings scored by dot product, trained with the BPR loss."""

    def __init__(self, graph: TrainGraph, *, dim: int = 64, reg: float = 1e-4) -> None:
        """Args:
            dim: embedding size.
            reg: L2 weight on the batch's embeddings (per triple, as in BPR).
        """
        super().__init__()
        if dim < 1 or reg < 0:
            raise ValueError(f"mf: dim must be ≥ 1 and reg ≥ 0, got dim={dim}, reg={reg}")
        self.reg = reg
        self.user = nn.Embedding(graph.n_users, dim)
        self.item = nn.Embedding(graph.n_items, dim)
        nn.init.xavier_normal_(self.user.weight)
        nn.init.xavier_normal_(self.item.weight)

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        u, p, n = self.user(users), self.item(pos), self.item(neg)
        bpr = -F.logsigmoid((u * p).sum(-1) - (u * n).sum(-1)).mean()
        l2 = (u.square().sum() + p.square().sum() + n.square().sum()) / len(users)
        return bpr + self.reg * l2

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.user(users) @ self.item.weight.T
