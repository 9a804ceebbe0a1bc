"""LightGCN (He et al., SIGIR 2020) on a torch sparse CSR adjacency, with an optional item adapter."""

from __future__ import annotations

import torch
from torch import nn

from mmbench.components._base import EmbeddingRecommender, bpr_loss, l2
from mmbench.components._graph import bipartite_adjacency, propagate
from mmbench.components._items import ItemSide
from mmbench.components.students._adapter import ItemAdapter
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_student
from mmbench.search_space import IntRange, LogUniform


@register_student("lightgcn", features=True)
class LightGCNStudent(EmbeddingRecommender):
    """LightGCN: ID embeddings propagated over the normalised user–item graph, mean over layers."""

    # the embedding size stays fixed: a study compares models at one size, it does not buy accuracy with width
    search_space = {"reg": LogUniform(1e-6, 1e-2), "layers": IntRange(1, 4)}

    def __init__(self, graph: TrainGraph, items: ItemSide | None = None, *, dim: int = 64, layers: int = 3,
                 reg: float = 1e-4, adapter: bool = False) -> None:
        """Args:
            dim: embedding size.
            layers: propagation layers (0 is BPR-MF with LightGCN's regulariser).
            reg: L2 weight on the batch's layer-0 embeddings (as in LightGCN).
            adapter: add an item-side modality adapter (trained with modality dropout), folded into the item
                table after training so that serving costs the same as without it.
        """
        super().__init__()
        if dim < 1 or layers < 0 or reg < 0:
            raise ValueError(f"lightgcn: need dim ≥ 1, layers ≥ 0, reg ≥ 0; got dim={dim}, layers={layers}, "
                             f"reg={reg}")
        self.graph, self.dim, self.layers, self.reg = graph, dim, layers, reg
        self.adj = bipartite_adjacency(graph)
        self.user = nn.Embedding(graph.n_users, dim)
        self.item = nn.Embedding(graph.n_items, dim)
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)
        self.adapter = ItemAdapter(items, dim, student="lightgcn") if adapter else None

    def _ego_items(self) -> torch.Tensor:
        return self.item.weight if self.adapter is None else self.item.weight + self.adapter()

    def _propagate(self, items0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = propagate(self.adj, torch.cat([self.user.weight, items0]), self.layers)
        return out[:self.graph.n_users], out[self.graph.n_users:]

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._propagate(self._ego_items())

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        items0 = self._ego_items()
        u, i = self._propagate(items0)
        return bpr_loss(u[users], i[pos], i[neg]) + self.reg * l2(self.user.weight[users], items0[pos], items0[neg])

    def folded(self) -> LightGCNStudent:
        """The model to serve: the adapter's item offsets added to the item table (itself if no adapter)."""
        if self.adapter is None:
            return self
        out = LightGCNStudent(self.graph, dim=self.dim, layers=self.layers, reg=self.reg)
        with torch.no_grad():
            out.user.weight.copy_(self.user.weight)
            out.item.weight.copy_(self.item.weight + self.adapter.offsets())
        return out.eval()
