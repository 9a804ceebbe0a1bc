"""FREEDOM (Zhou & Shen, ACM MM 2023): a frozen modality k-NN item graph plus a denoised user–item graph."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mmbench.components._base import EmbeddingRecommender, check_params, bpr_loss
from mmbench.components._graph import SparseOp, propagate
from mmbench.components._graph_cache import ModalityKNN, UserItemGraph
from mmbench.components._items import ItemSide, offset_features, require_features
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_teacher
from mmbench.search_space import Choice


def modality_weights(names: Sequence[str], image_weight: float) -> dict[str, float]:
    """FREEDOM's item-graph mixing weights: ``image`` gets ``image_weight``, the other modalities share the rest.

    MMRec mixes ``w · image + (1 - w) · text``. With one modality it gets weight 1; without ``image`` the
    modalities share equally; with image and several others, each other gets ``(1 - w) / (M - 1)``.
    """
    if "image" not in names or len(names) == 1:
        return {m: 1.0 / len(names) for m in names}
    rest = (1.0 - image_weight) / (len(names) - 1)
    return {m: image_weight if m == "image" else rest for m in names}


@register_teacher("freedom", features=True)
class FreedomTeacher(EmbeddingRecommender):
    """FREEDOM: LightGCN over a degree-pruned user–item graph plus a frozen modality k-NN item graph.

    Follows MMRec's ``src/models/freedom.py``. The item–item graph is built once from the features (top
    ``knn_k`` cosine neighbours per modality, mixed with ``mm_image_weight``) and never learned. Before every
    epoch, :meth:`new_epoch` keeps a share ``1 - dropout`` of the train edges, drawn without replacement with
    probability ∝ ``1/sqrt(d_u d_i)`` (edges of popular nodes are pruned more), and renormalises them;
    training propagates over that graph, scoring over the full one. Item embedding ``= LightGCN(i) +
    A_mm^n_mm_layers · e_i``. Loss: BPR plus ``reg_weight`` times a BPR of each modality's projected
    features against the user embeddings (no L2 term, as in MMRec). Features of an item that lacks a
    modality are what the item side gives (zeros and unavailable, or imputed); the k-NN graph isolates such
    items (self-loop only).
    """

    # the official grid (edge keep ratio × reg_weight); the learning rate comes from the study's train space
    search_space = {"dropout": Choice(0.8, 0.9), "reg_weight": Choice(0.0, 1e-5, 1e-4, 1e-3)}

    def __init__(self, graph: TrainGraph, items: ItemSide | None, *, dim: int = 64, knn_k: int = 10,
                 mm_image_weight: float = 0.1, n_mm_layers: int = 1, n_ui_layers: int = 2,
                 dropout: float = 0.8, reg_weight: float = 1e-4, tune_features: bool = True) -> None:
        """Args:
            dim: embedding size; also the size the modality features are projected to (MMRec's
                ``embedding_size`` and ``feat_embed_dim``, both 64; they must agree for the auxiliary BPR).
            knn_k: neighbours per item in each modality's k-NN graph.
            mm_image_weight: weight of the image k-NN graph; the other modalities share the rest.
            n_mm_layers: propagation layers over the item–item graph (0 disables it).
            n_ui_layers: LightGCN layers over the user–item graph.
            dropout: share of train edges pruned each epoch (MMRec grid [0.8, 0.9], the first here; 0 keeps
                all).
            reg_weight: weight of the modality BPR losses (MMRec grids [0, 1e-5, 1e-4, 1e-3] with no default;
                1e-4 here, so that the modality losses are on).
            tune_features: learn an offset on the features used by the modality losses, as MMRec's
                ``nn.Embedding.from_pretrained(..., freeze=False)`` does (the k-NN graph stays frozen).
        """
        super().__init__()
        check_params("freedom", dim=(dim, dim >= 1, "≥ 1"), knn_k=(knn_k, knn_k >= 1, "≥ 1"),
                     mm_image_weight=(mm_image_weight, 0 <= mm_image_weight <= 1, "in [0, 1]"),
                     n_mm_layers=(n_mm_layers, n_mm_layers >= 0, "≥ 0"),
                     n_ui_layers=(n_ui_layers, n_ui_layers >= 0, "≥ 0"),
                     dropout=(dropout, 0 <= dropout < 1, "in [0, 1)"),
                     reg_weight=(reg_weight, reg_weight >= 0, "≥ 0"))
        items = require_features(items, "freedom", "its item–item graph is built from them, and FREEDOM without "
                                 "features is not FREEDOM", "add e.g. `encoders: {text: {name: minilm}}`, or use "
                                 "the `lightgcn` student")
        self.graph, self.items = graph, items
        self.knn_k, self.n_mm_layers, self.n_ui_layers = knn_k, n_mm_layers, n_ui_layers
        self.dropout, self.reg_weight = dropout, reg_weight
        self.weights = modality_weights(items.names, mm_image_weight)
        self.ui = UserItemGraph(graph, dropout)
        self.adj = self.ui.full
        self.knn = ModalityKNN(items, knn_k, self.weights)
        self.user = nn.Embedding(graph.n_users, dim)
        self.item = nn.Embedding(graph.n_items, dim)
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)
        # no bias: it cancels in the modality BPR difference, so MMRec's never moves
        self.proj = nn.ModuleDict({m: nn.Linear(d, dim, bias=False) for m, d in items.dims.items()})
        self.feature_offset = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(graph.n_items, d)) for m, d in items.dims.items()} if tune_features else {})

    def new_epoch(self) -> None:
        """Degree-sensitive edge pruning: resample the training graph (global torch RNG)."""
        self.ui.resample()

    def user_item_graph(self) -> SparseOp:
        """The pruned graph while training (pruned now if no epoch has started), the full one otherwise."""
        return self.ui.get(self.training)

    def item_graph(self) -> SparseOp | None:
        """The frozen k-NN item graph of the current condition (rebuilt when a robustness mask changes it)."""
        return self.knn.get() if self.n_mm_layers else None

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        out = propagate(self.user_item_graph(), torch.cat([self.user.weight, self.item.weight]), self.n_ui_layers)
        u, i = out[:self.graph.n_users], out[self.graph.n_users:]
        knn = self.item_graph()
        if knn is not None:
            h = self.item.weight
            for _ in range(self.n_mm_layers):
                h = knn @ h
            i = i + h
        return u, i

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        u, i = self.embeddings()
        loss = bpr_loss(u[users], i[pos], i[neg])
        if self.reg_weight:
            values, avail = self.items()
            rows = torch.cat([pos, neg])
            for m in self.items.names:
                x = values[m][rows]
                if m in self.feature_offset:  # offsets only on rows the item side provides
                    x = offset_features(x, avail[m][rows], self.feature_offset[m][rows])
                f_pos, f_neg = self.proj[m](x).split(len(pos))
                loss = loss + self.reg_weight * bpr_loss(u[users], f_pos, f_neg)
        return loss
