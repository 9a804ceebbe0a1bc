"""LightGCN (He et al., SIGIR 2020) on a torch sparse CSR adjacency, with an optional item adapter and optional
content heads for cold items."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from torch import nn

from mmbench.components._base import EmbeddingRecommender, check_params, bpr_loss, l2
from mmbench.components._graph import bipartite_adjacency, propagate
from mmbench.components._items import ItemSide
from mmbench.components.students._adapter import ContentHead, ItemAdapter
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_student
from mmbench.params import OFF_UNLESS_SET
from mmbench.search_space import IntRange, LogUniform


@register_student("lightgcn", features=True)
class LightGCNStudent(EmbeddingRecommender):
    """LightGCN: ID embeddings propagated over the normalised user–item graph, mean over layers."""

    # the embedding size stays fixed: a study compares models at one size, it does not buy accuracy with width
    search_space = {"reg": LogUniform(1e-6, 1e-2), "layers": IntRange(1, 4)}

    def __init__(self, graph: TrainGraph, items: ItemSide | None = None, *, dim: int = 64, layers: int = 3,
                 reg: float = 1e-4, adapter: bool = False,
                 cold_head: Annotated[list[float] | None, OFF_UNLESS_SET] = None) -> None:
        """Args:
            dim: embedding size.
            layers: propagation layers (0 is BPR-MF with LightGCN's regulariser).
            reg: L2 weight on the batch's layer-0 embeddings (as in LightGCN).
            adapter: add an item-side modality adapter (trained with modality dropout), folded into the item
                table after training so that serving costs the same as without it.
            cold_head: L2 weights λ, one content head each (e.g. ``[0, 0.01, 0.1]``), for the items with no
                train interaction ("cold": LightGCN cannot learn their rows, and even with an adapter it
                scores them mid-catalogue). Each head (:class:`ContentHead`) maps an item's features to a
                vector and is trained beside the student, DropoutNet-style (Volkovs et al., NeurIPS 2017), by
                two BPR terms against the student's own detached vectors: a content-only positive against a
                full negative and a full positive against a content-only negative, so that its scores are
                comparable to the warm items' scores, plus λ times the L2 norm of its batch vectors (without
                it a head can outscore every warm item). The student's own training is untouched: no gradient
                reaches it and the heads take no draw from the global RNG. At each validation every serving
                choice is evaluated (no head, then each head: its vectors replace the cold rows) and the best
                on the validation split is kept (ties keep the earlier: no head first), so the heads cost
                nothing on valid where they do not help. Folded into the item table like the adapter.
        """
        super().__init__()
        check_params("lightgcn", dim=(dim, dim >= 1, "≥ 1"), layers=(layers, layers >= 0, "≥ 0"),
                     reg=(reg, reg >= 0, "≥ 0"))
        self.graph, self.dim, self.layers, self.reg = graph, dim, layers, reg
        self.adj = bipartite_adjacency(graph)
        self.user = nn.Embedding(graph.n_users, dim)
        self.item = nn.Embedding(graph.n_items, dim)
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)
        self.adapter = ItemAdapter(items, dim, student="lightgcn") if adapter else None
        self.cold_l2 = [float(v) for v in cold_head or []]
        if any(not np.isfinite(v) or v < 0 for v in self.cold_l2):
            raise ValueError(f"lightgcn: cold_head L2 weights must be finite and ≥ 0; got {cold_head}")
        self.heads: nn.ModuleList | None = None
        if self.cold_l2:
            # a generator of their own: the student's draws (modality dropout) stay those it takes alone
            gen = torch.Generator().manual_seed((torch.initial_seed() + 1) % 2**63)
            self.heads = nn.ModuleList(ContentHead(items, dim, student="lightgcn", generator=gen)
                                       for _ in self.cold_l2)
            warm = np.bincount(np.asarray(graph.item), minlength=graph.n_items) > 0
            self.register_buffer("cold", torch.as_tensor(np.flatnonzero(~warm)), persistent=False)  # item ids
            self.register_buffer("choice", torch.tensor(0))  # 0 serves no head, k serves head k - 1

    def serving_choices(self) -> list[str]:
        """What validation chooses among (:func:`mmbench.runner.train.fit`): no head, then each content head
        (nothing to choose when the train graph has no cold item)."""
        if self.heads is None or not len(self.cold):
            return []
        return ["no cold head", *(f"cold head λ={v:g}" for v in self.cold_l2)]

    def serve_choice(self, k: int) -> None:
        """Serve choice ``k`` of :meth:`serving_choices` in eval mode from now on."""
        if not 0 <= k < max(len(self.serving_choices()), 1):
            raise ValueError(f"lightgcn: serving choice {k} out of range {self.serving_choices()}")
        if self.heads is not None:
            self.choice.fill_(k)
            self._tables = None

    def served_choice(self) -> str | None:
        """The serving choice in use (None without content heads)."""
        choices = self.serving_choices()
        return choices[int(self.choice)] if choices else None

    def _cold_rows(self) -> torch.Tensor | None:
        """The chosen head's vectors of the cold items (None when no head is served)."""
        if self.heads is None or int(self.choice) == 0:
            return None
        return self.heads[int(self.choice) - 1](self.cold)

    def _ego_items(self) -> torch.Tensor:
        return self.item.weight if self.adapter is None else self.item.weight + self.adapter()

    def _propagate(self, items0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = propagate(self.adj, torch.cat([self.user.weight, items0]), self.layers)
        return out[:self.graph.n_users], out[self.graph.n_users:]

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        u, i = self._propagate(self._ego_items())
        if not self.training:  # training (and distillation) sees the student's own rows, serving the chosen ones
            rows = self._cold_rows()
            if rows is not None:
                i = i.index_put((self.cold,), rows)
        return u, i

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        return self.loss_and_embeddings(users, pos, neg)[0]

    def loss_and_embeddings(self, users: torch.Tensor, pos: torch.Tensor,
                            neg: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The loss and the propagated tables it used (in training mode: :meth:`embeddings`), one propagation."""
        items0 = self._ego_items()
        u, i = self._propagate(items0)
        total = bpr_loss(u[users], i[pos], i[neg]) + self.reg * l2(self.user.weight[users], items0[pos], items0[neg])
        if self.heads is not None:
            ud, idet = u.detach()[users], i.detach()
            inputs = self.heads[0].items.frozen()  # one read of the features for every head
            for lam, head in zip(self.cold_l2, self.heads):
                cp, cn = head(pos, inputs), head(neg, inputs)
                total = total + bpr_loss(ud, cp, idet[neg]) + bpr_loss(ud, idet[pos], cn) + lam * l2(cp, cn)
        return total, (u, i)

    def folded(self) -> LightGCNStudent:
        """The model to serve, a plain LightGCN: the adapter's item offsets added to the item table, and the chosen
        content head's vectors as the cold items' rows (a cold item has no edge, so its propagated vector is its
        table row divided by ``layers + 1``: the row is the head's vector times that). Itself if neither."""
        rows = self._cold_rows() if self.heads is not None else None
        if self.adapter is None and rows is None:
            return self
        out = LightGCNStudent(self.graph, dim=self.dim, layers=self.layers, reg=self.reg)
        with torch.no_grad():
            out.user.weight.copy_(self.user.weight)
            table = self.item.weight + self.adapter.offsets() if self.adapter is not None else self.item.weight
            if rows is not None:
                table = table.index_put((self.cold,), rows.detach() * (self.layers + 1))
            out.item.weight.copy_(table)
        return out.eval()
