"""What the embedding recommenders share: dot-product scoring with cached tables, BPR and L2 terms."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmbench.components._items import ItemSide


def bpr_loss(u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Mean BPR loss ``-log σ(u·p - u·n)`` of a batch."""
    return -F.logsigmoid((u * pos).sum(-1) - (u * neg).sum(-1)).mean()


def l2(*tensors: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm of the batch's embeddings divided by the batch size (per-triple regularisation)."""
    return sum(t.square().sum() for t in tensors) / len(tensors[0])  # type: ignore[return-value]


class EmbeddingRecommender(nn.Module):
    """Base for models whose score is ``users @ items.T``: :meth:`embeddings` is all a subclass provides.

    In eval mode the tables are computed once and reused for every ``score`` call (evaluation batches,
    latency requests); switching mode, loading weights or changing the item side's robustness condition
    (a missing-modality mask or another imputer) drops them.
    """

    def __init__(self) -> None:
        super().__init__()
        self._tables: tuple[torch.Tensor, torch.Tensor] | None = None
        self._tables_key: tuple[int, ...] = ()
        self._sides: list[ItemSide] | None = None

    def _condition(self) -> tuple[int, ...]:
        # every item side this model reads (its own, an adapter's): tables computed under one mask never serve
        # another; the list is found once, so a cached request costs no module walk
        if self._sides is None:
            self._sides = [m for m in self.modules() if isinstance(m, ItemSide)]
        return tuple(side.condition_key() for side in self._sides)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(users [n_users, d], items [n_items, d])`` with ``score = users @ items.T``."""
        raise NotImplementedError

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The embeddings, cached while the model is in eval mode."""
        if self.training:
            return self.embeddings()
        key = self._condition()
        if self._tables is None or key != self._tables_key:
            with torch.no_grad():
                u, i = self.embeddings()
            self._tables, self._tables_key = (u.detach(), i.detach()), key
        return self._tables

    def score(self, users: torch.Tensor) -> torch.Tensor:
        u, i = self.tables()
        return u[users] @ i.T

    def train(self, mode: bool = True) -> EmbeddingRecommender:
        self._tables = None
        return super().train(mode)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        self._tables = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
