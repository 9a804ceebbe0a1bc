"""BPR matrix factorisation (Rendle et al., UAI 2009), with an optional item adapter."""

from __future__ import annotations

import torch
from torch import nn

from mmbench.components._base import EmbeddingRecommender, check_params, bpr_loss, l2
from mmbench.components._items import ItemSide
from mmbench.components.students._adapter import ItemAdapter
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_student
from mmbench.search_space import LogUniform


@register_student("mf", features=True)
class MFStudent(EmbeddingRecommender):
    """BPR-MF: user and item embeddings scored by dot product, trained with the BPR loss."""

    search_space = {"reg": LogUniform(1e-6, 1e-2)}

    def __init__(self, graph: TrainGraph, items: ItemSide | None = None, *, dim: int = 64, reg: float = 1e-4,
                 adapter: bool = False) -> None:
        """Args:
            dim: embedding size.
            reg: L2 weight on the batch's embeddings (per triple, as in BPR).
            adapter: add an item-side modality adapter, folded into the item table after training.
        """
        super().__init__()
        check_params("mf", dim=(dim, dim >= 1, "≥ 1"), reg=(reg, reg >= 0, "≥ 0"))
        self.graph, self.dim, self.reg = graph, dim, reg
        self.user = nn.Embedding(graph.n_users, dim)
        self.item = nn.Embedding(graph.n_items, dim)
        nn.init.xavier_normal_(self.user.weight)
        nn.init.xavier_normal_(self.item.weight)
        self.adapter = ItemAdapter(items, dim, student="mf") if adapter else None

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        items = self.item.weight if self.adapter is None else self.item.weight + self.adapter()
        return self.user.weight, items

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        if self.adapter is None:  # gather only the batch's rows: no full-table work per step
            u, p, n = self.user(users), self.item(pos), self.item(neg)
        else:
            items = self.embeddings()[1]
            u, p, n = self.user(users), items[pos], items[neg]
        return bpr_loss(u, p, n) + self.reg * l2(u, p, n)

    def folded(self) -> MFStudent:
        """The model to serve: the adapter's offsets added to the item table (itself if no adapter)."""
        if self.adapter is None:
            return self
        out = MFStudent(self.graph, dim=self.dim, reg=self.reg)
        with torch.no_grad():
            out.user.weight.copy_(self.user.weight)
            out.item.weight.copy_(self.item.weight + self.adapter.offsets())
        return out.eval()
