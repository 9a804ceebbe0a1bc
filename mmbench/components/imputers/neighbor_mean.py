"""Neighbour-mean imputation: a missing row becomes the mean of co-interacted items' rows (train edges only)."""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import torch
from torch import nn

from mmbench.components.imputers._rows import check_dim, check_inputs, fill, masked_mean
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_imputer

_FALLBACKS = ("mean", "zero")


def _csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], dtype: torch.dtype,
         device: torch.device) -> torch.Tensor:
    """A binary sparse CSR matrix from (row, col) pairs already sorted by row, then column."""
    crow = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=crow[1:])
    with warnings.catch_warnings():  # torch flags CSR support as beta on first use; the ops used here are stable
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        matrix = torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(cols),
                                         torch.ones(len(cols), dtype=dtype), size=shape, check_invariants=True)
    return matrix.to(device)


@register_imputer("neighbor-mean")
class NeighborMeanImputer(nn.Module):
    """Fill each unavailable row with the mean of its available co-interacted items, weighted by shared users.

    With ``R`` the binary user×item train matrix (duplicate pairs count once) and ``C = RᵀR`` the item
    co-occurrence counts, item ``i`` gets ``Σ_{j≠i} C_ij a_j x_j / Σ_{j≠i} C_ij a_j`` over the available
    items ``j``. ``C`` is never materialised: both sums are ``Rᵀ(R y)`` with sparse CSR products, ``R`` cached
    per graph. The diagonal term (an item co-occurs with itself ``deg(i)`` times) needs no subtraction: only
    unavailable items are filled, and their own ``a_i x_i`` is zero. An item without any available
    co-interacted item (no train interactions, or only unavailable neighbours) gets the ``fallback``. Only
    the graph passed in is used, and the runner passes the train graph, so no valid/test edge leaks.
    """

    def __init__(self, dim: int, *, fallback: Literal["mean", "zero"] = "mean") -> None:
        """Args:
            dim: the feature size (runtime context).
            fallback: the row for items without an available neighbour: ``mean`` (the mean of all available
                rows; zeros if there are none) or ``zero``.
        """
        super().__init__()
        self.dim = check_dim("neighbor-mean", dim)
        if fallback not in _FALLBACKS:
            raise ValueError(f"neighbor-mean: fallback must be one of {list(_FALLBACKS)}, got {fallback!r}")
        self.fallback = fallback
        self._cache: tuple[TrainGraph, tuple[object, ...], torch.Tensor, torch.Tensor] | None = None

    def __getstate__(self) -> dict[str, object]:
        # Sparse CSR tensors can be neither deep-copied nor pickled; a copy rebuilds the operator on first use.
        return {**self.__dict__, "_cache": None}

    def operators(self, graph: TrainGraph, dtype: torch.dtype,
                  device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(R [users, items], Rᵀ [items, users])`` as binary sparse CSR tensors, built once per graph."""
        # Keyed on the graph object itself, held so that its id cannot be reused, plus what the operator
        # depends on: the frozen graph's sizes and the tensors' dtype and device.
        key = (graph.n_users, graph.n_items, len(graph.user), dtype, device)
        if self._cache is not None and self._cache[0] is graph and self._cache[1] == key:
            return self._cache[2], self._cache[3]
        user, item = np.asarray(graph.user, dtype=np.int64), np.asarray(graph.item, dtype=np.int64)
        if len(user) != len(item):
            raise ValueError(f"neighbor-mean: graph.user has {len(user)} entries but graph.item has {len(item)}")
        if len(user) and (user.min() < 0 or user.max() >= graph.n_users or item.min() < 0
                          or item.max() >= graph.n_items):
            raise ValueError(f"neighbor-mean: graph edges out of range for {graph.n_users} users × "
                             f"{graph.n_items} items")
        pairs = np.unique(user * graph.n_items + item)  # sorted by user, then item; duplicates dropped
        user, item = pairs // graph.n_items, pairs % graph.n_items
        by_item = np.lexsort((user, item))
        r = _csr(user, item, (graph.n_users, graph.n_items), dtype, device)
        rt = _csr(item[by_item], user[by_item], (graph.n_items, graph.n_users), dtype, device)
        self._cache = (graph, key, r, rt)
        return r, rt

    def impute(self, features: torch.Tensor, available: torch.Tensor, graph: TrainGraph) -> torch.Tensor:
        check_inputs("neighbor-mean", self.dim, features, available)
        if features.shape[0] != graph.n_items:
            raise ValueError(f"neighbor-mean: features have {features.shape[0]} rows but the graph has "
                             f"{graph.n_items} items")
        r, rt = self.operators(graph, features.dtype, features.device)
        mask = available.unsqueeze(1)
        kept = torch.where(mask, features, torch.zeros((), dtype=features.dtype, device=features.device))
        # One pass for numerator and denominator: the last column carries a_j.
        sums = rt @ (r @ torch.cat([kept, mask.to(features.dtype)], dim=1))
        num, den = sums[:, :-1], sums[:, -1:]
        if self.fallback == "mean":
            other = masked_mean(features, available)
        else:
            other = torch.zeros((), dtype=features.dtype, device=features.device)
        return fill(features, available, torch.where(den > 0, num / den.clamp_min(1), other))
