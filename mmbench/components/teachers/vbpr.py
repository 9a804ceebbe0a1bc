"""VBPR (He & McAuley, AAAI 2016): matrix factorisation plus a linear visual (here: any modality) factor."""

from __future__ import annotations

import torch
from torch import nn

from mmbench.components._base import EmbeddingRecommender, check_params, bpr_loss, l2
from mmbench.components._items import ItemSide, require_features
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_teacher
from mmbench.search_space import LogUniform


@register_teacher("vbpr", features=True)
class VBPRTeacher(EmbeddingRecommender):
    """VBPR: ``score(u, i) = β_i + γ_u·γ_i + θ_u·(E f_i) + β'·f_i`` with ``f_i`` the item's features.

    ``f_i`` concatenates every present modality's features in the item side's order (MMRec concatenates
    text and image); a modality an item lacks contributes zeros, or its imputed row. The global and user
    biases of the paper do not change a user's ranking and are dropped. :meth:`embeddings` returns augmented
    tables ``U = [γ_u, θ_u, 1]`` and ``I = [γ_i, E f_i, β_i + β'·f_i]``, so ``score == U @ I.T`` exactly.
    Trained with BPR plus ``reg`` times the squared L2 norm of the batch's rows of those tables (MMRec's
    ``EmbLoss`` on the user and item rows, squared as in the paper, bias column included).
    """

    search_space = {"reg": LogUniform(1e-5, 2.0)}  # MMRec's grid spans 1e-5 … 2.0

    def __init__(self, graph: TrainGraph, items: ItemSide | None, *, dim: int = 64, visual_dim: int | None = None,
                 reg: float = 1e-4) -> None:
        """Args:
            dim: size of the ID factors γ (MMRec's ``embedding_size``, 64).
            visual_dim: size of the feature factors θ and of ``E``'s output; None uses ``dim``, as MMRec does
                (its user table is ``2 × embedding_size`` wide).
            reg: L2 weight on the batch's table rows (MMRec grid [2.0, 1.0, 1e-1, …, 1e-5]).
        """
        super().__init__()
        visual_dim = dim if visual_dim is None else visual_dim
        check_params("vbpr", dim=(dim, dim >= 1, "≥ 1"), visual_dim=(visual_dim, visual_dim >= 1, "≥ 1"),
                     reg=(reg, reg >= 0, "≥ 0"))
        items = require_features(items, "vbpr", "its visual factor is built from them",
                                 "add e.g. `encoders: {image: {name: clip-image}}`, or use the `mf` student for "
                                 "plain BPR-MF")
        self.graph, self.items, self.reg = graph, items, reg
        n_features = sum(items.dims[m] for m in items.names)
        self.user = nn.Embedding(graph.n_users, dim + visual_dim)  # [γ_u, θ_u], one table as in MMRec
        self.item = nn.Embedding(graph.n_items, dim)  # γ_i
        self.item_bias = nn.Embedding(graph.n_items, 1)  # β_i
        self.visual = nn.Linear(n_features, visual_dim, bias=False)  # E (MMRec's bias cancels in BPR)
        self.visual_bias = nn.Linear(n_features, 1, bias=False)  # β'
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)
        nn.init.xavier_normal_(self.visual.weight)
        nn.init.zeros_(self.item_bias.weight)
        nn.init.zeros_(self.visual_bias.weight)

    def features(self) -> torch.Tensor:
        """``f`` [n_items, Σ d_m]: the modalities' features as the item side gives them now."""
        values, _ = self.items()
        return torch.cat([values[m] for m in self.items.names], dim=1)

    def _item_rows(self, ids: torch.Tensor | slice, f: torch.Tensor) -> torch.Tensor:
        """Rows ``ids`` of ``I = [γ_i, E f_i, β_i + β'·f_i]``, from those items' features ``f``."""
        return torch.cat([self.item.weight[ids], self.visual(f), self.item_bias.weight[ids] + self.visual_bias(f)],
                         dim=1)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.user.weight
        return torch.cat([u, u.new_ones(len(u), 1)], dim=1), self._item_rows(slice(None), self.features())

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        rows = torch.cat([pos, neg])
        i_pos, i_neg = self._item_rows(rows, self.features()[rows]).split(len(pos))
        u = self.user.weight[users]
        return bpr_loss(torch.cat([u, u.new_ones(len(u), 1)], dim=1), i_pos, i_neg) + self.reg * l2(u, i_pos, i_neg)
