"""The multimodal GNN teacher: fused item tokens over the user–item graph and a modality k-NN item graph."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from mmbench.components._base import EmbeddingRecommender, check_params, bpr_loss, l2
from mmbench.components._graph import SparseOp, propagate
from mmbench.components._graph_cache import ModalityKNN, UserItemGraph
from mmbench.components._items import ItemSide
from mmbench.data.types import TrainGraph
from mmbench.errors import MMBenchError
from mmbench.kinds import FUSIONS, register_teacher
from mmbench.search_space import Choice, IntRange, LogUniform, Uniform


@register_teacher("mm-gnn", features=True)
class MMGNNTeacher(EmbeddingRecommender):
    """Multimodal GNN: fused ID + modality item tokens over the user–item graph and a modality k-NN item graph.

    The k-NN item graph is frozen and built from modality similarity, as in FREEDOM.

    Item representation ``x_i = fusion(id_i, W_m f_{i,m} ...)`` (the recipe's ``teacher.fusion``, default
    ``cross-attention``; missing modalities are masked or imputed by the item side). Users and items are
    propagated ``layers`` times over the train graph; ``x`` is also propagated ``item_layers`` times over
    the k-NN graph built from each modality's features (cosine, top ``knn_k``, modalities averaged), and
    the item embedding is the sum of both. Trained with BPR.
    """

    # item_layers ≥ 1: with graph_input "id" the features enter only through the item graph (0 is refused)
    search_space = {"layers": IntRange(1, 3), "item_layers": IntRange(1, 2), "knn_k": IntRange(5, 40, log=True),
                    "reg": LogUniform(1e-6, 1e-2), "edge_dropout": Uniform(0.0, 0.9),
                    "graph_input": Choice("id", "fused")}

    def __init__(self, graph: TrainGraph, items: ItemSide | None, *, dim: int = 64, layers: int = 2,
                 item_layers: int = 1, knn_k: int = 10, reg: float = 1e-4,
                 graph_input: Literal["id", "fused"] = "id", edge_dropout: float = 0.8) -> None:
        """Args:
            dim: embedding and token size.
            layers: user–item propagation layers.
            item_layers: propagation layers over the item–item k-NN graph (0 disables it).
            knn_k: neighbours per item in the k-NN graph.
            reg: L2 weight on the batch's layer-0 embeddings.
            graph_input: what the user–item graph propagates for items: the ID embeddings (``id``; the fused
                tokens then enter through the k-NN item graph, as FREEDOM's modalities do) or the fused tokens.
            edge_dropout: share of train edges removed each epoch by FREEDOM's degree-sensitive pruning
                (training only; 0 keeps the whole graph).
        """
        super().__init__()
        check_params("mm-gnn", dim=(dim, dim >= 1, "≥ 1"), layers=(layers, layers >= 0, "≥ 0"),
                     item_layers=(item_layers, item_layers >= 0, "≥ 0"), knn_k=(knn_k, knn_k >= 1, "≥ 1"),
                     reg=(reg, reg >= 0, "≥ 0"), edge_dropout=(edge_dropout, 0 <= edge_dropout < 1, "in [0, 1)"),
                     graph_input=(graph_input, graph_input in ("id", "fused"), "'id' or 'fused'"))
        if items is None:
            raise MMBenchError("mm-gnn is a multimodal teacher but the recipe has no `encoders:`; fix: add "
                               "e.g. `encoders: {text: {name: minilm}}`")
        if graph_input == "id" and item_layers == 0:
            raise ValueError("mm-gnn: with graph_input 'id' the fused tokens enter only through the k-NN item "
                             "graph, so item_layers 0 would leave the features unused; set item_layers ≥ 1 or "
                             "graph_input 'fused'")
        self.graph, self.items, self.graph_input = graph, items, graph_input
        self.layers, self.item_layers, self.knn_k, self.reg = layers, item_layers, knn_k, reg
        self.ui = UserItemGraph(graph, edge_dropout)
        self.knn = ModalityKNN(items, knn_k, {m: 1.0 / len(items.names) for m in items.names}) \
            if item_layers else None
        self.user = nn.Embedding(graph.n_users, dim)
        self.item = nn.Embedding(graph.n_items, dim)
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)
        self.proj = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in items.dims.items()})
        make = items.fusion_factory or (lambda names, d: FUSIONS.get("cross-attention")(names, d))
        self.fusion = make(list(items.names), dim)
        # the modality part of the fused token enters through a zero-initialised map, measured in units of the
        # ID embeddings' RMS: training starts from the ID-only model, and the fusion module's output (which is
        # normalised, on another scale than ID embeddings) cannot swamp the ID signal after a few Adam steps
        self.modal = nn.Linear(dim, dim)
        nn.init.zeros_(self.modal.weight)
        nn.init.zeros_(self.modal.bias)

    def new_epoch(self) -> None:
        """Resample the pruned training graph (when ``edge_dropout`` > 0)."""
        self.ui.resample()

    def item_graph(self) -> SparseOp | None:
        """The k-NN item graph of the current condition (rebuilt when a robustness mask changes it)."""
        return self.knn.get() if self.knn is not None else None

    def _items0(self) -> torch.Tensor:
        values, avail = self.items()
        tokens = {"id": self.item.weight, **{m: self.proj[m](values[m]) for m in self.items.names}}
        e = self.item.weight
        scale = e.detach().square().mean().sqrt()
        return e + scale * self.modal(self.fusion(tokens, avail) - e)

    def _ego(self, x: torch.Tensor) -> torch.Tensor:
        """The items' layer-0 input to the user–item graph: the fused tokens or the ID embeddings."""
        return x if self.graph_input == "fused" else self.item.weight

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        items0 = self._ego(x)
        out = propagate(self.ui.get(self.training), torch.cat([self.user.weight, items0]), self.layers)
        u, i = out[:self.graph.n_users], out[self.graph.n_users:]
        knn = self.item_graph()
        if knn is not None:
            h = x
            for _ in range(self.item_layers):
                h = knn @ h
            i = i + h
        return u, i

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._forward(self._items0())

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        x = self._items0()
        u, i = self._forward(x)
        items0 = self._ego(x)
        return bpr_loss(u[users], i[pos], i[neg]) + self.reg * l2(self.user.weight[users], items0[pos], items0[neg])
