"""The graphs a model keeps beside its weights: FREEDOM's pruned user–item samples and the frozen k-NN item
graphs, each built once and redrawn or rebuilt only when needed, and moved with the model (``module.to``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import torch

from mmbench.components._graph import SparseOp, bipartite_adjacency, knn_graph, mix, normalized_bipartite, unique_edges
from mmbench.data.types import TrainGraph

if TYPE_CHECKING:
    from mmbench.components._items import ItemSide


class DegreePruner:
    """FREEDOM's degree-sensitive edge pruning of the user–item graph (Zhou & Shen, ACM MM 2023).

    Keeps ``(1 - dropout)`` of the train edges, drawn without replacement with probability ∝ 1/√(d_u d_i)
    (edges between high-degree nodes go first), and renormalises the kept graph. Drawn from the global torch
    RNG, so it is reproducible from the seed and restored with a checkpoint.
    """

    def __init__(self, graph: TrainGraph) -> None:
        self.n_users, self.n_items = graph.n_users, graph.n_items
        self.edges = torch.stack(unique_edges(graph))
        deg_u = torch.bincount(self.edges[0], minlength=graph.n_users).double()
        deg_i = torch.bincount(self.edges[1], minlength=graph.n_items).double()
        self.weight = (deg_u[self.edges[0]] * deg_i[self.edges[1]]) ** -0.5

    def sample(self, dropout: float) -> SparseOp:
        n_keep = max(1, int(len(self.weight) * (1.0 - dropout)))
        # torch.multinomial's own draw without replacement (w / Exp(1), top-k), without its 2^24-edge limit
        keep = torch.topk(self.weight / torch.empty_like(self.weight).exponential_(), n_keep).indices
        return normalized_bipartite(self.edges[0, keep], self.edges[1, keep], self.n_users, self.n_items)


class UserItemGraph:
    """The user–item graph a model propagates over: a pruned sample while training, the full graph otherwise.

    With ``dropout`` > 0 the training graph is FREEDOM's degree-sensitive sample, redrawn by :meth:`resample`
    (the trainer's ``new_epoch`` hook) and drawn on first use if no epoch has started.
    """

    def __init__(self, graph: TrainGraph, dropout: float = 0.0) -> None:
        self.full = bipartite_adjacency(graph)
        self.dropout = dropout
        self.pruner = DegreePruner(graph) if dropout else None
        self._sample: SparseOp | None = None
        self._moves: list[Callable[[torch.Tensor], torch.Tensor]] = []

    def apply_sparse(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Move the graphs with their model (``module.to``); later samples are drawn on the CPU generator, as
        always, then moved the same way."""
        self._moves.append(fn)
        self.full = self.full.apply(fn)
        if self._sample is not None:
            self._sample = self._sample.apply(fn)

    def resample(self) -> None:
        sample = self.pruner.sample(self.dropout) if self.pruner is not None else None
        for fn in self._moves if sample is not None else ():
            sample = sample.apply(fn)
        self._sample = sample

    def get(self, training: bool) -> SparseOp:
        if not training or self.pruner is None:
            return self.full
        if self._sample is None:
            self.resample()
        return self._sample  # type: ignore[return-value]


class ModalityKNN:
    """The frozen k-NN item graph of an item side's modalities, weighted per modality.

    Built from the item side's features without dropout: with an imputer, from the imputed rows (an item
    missing a modality gets neighbours through its imputed features); without one, an item missing the
    modality gets no neighbours. Rebuilt only when the item side's condition (a robustness mask, a test-time
    imputer) changes.
    """

    def __init__(self, items: ItemSide, k: int, weights: Mapping[str, float]) -> None:
        self.items, self.k, self.weights = items, k, dict(weights)
        self._cached: tuple[int, SparseOp | None] | None = None
        self._moves: list[Callable[[torch.Tensor], torch.Tensor]] = []

    def apply_sparse(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Move the graph with its model (``module.to``); a graph built later is moved the same way."""
        self._moves.append(fn)
        if self._cached is not None and self._cached[1] is not None:
            self._cached = (self._cached[0], self._cached[1].apply(fn))

    def get(self) -> SparseOp | None:
        key = self.items.condition_key()
        if self._cached is None or self._cached[0] != key:
            values, avail = self.items.frozen()
            ops = [(self.weights[m], knn_graph(values[m].detach(), avail[m], self.k)) for m in self.items.names]
            op = mix(ops) if ops else None
            for fn in self._moves if op is not None else ():
                op = op.apply(fn)
            self._cached = (key, op)
        return self._cached[1]
