"""Typed containers passed forward through the runner: interactions, splits and the train graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Interactions:
    """User–item interactions with dense 0-based ids, in the dataset's canonical row order.

    ``user_ids`` / ``item_ids`` map a dense id back to the dataset's own id. ``timestamp`` is ``None`` for
    datasets without time. Row order is the deterministic tie-break for equal timestamps.
    """

    name: str
    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray | None
    user_ids: np.ndarray
    item_ids: np.ndarray
    source_files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.user)
        if len(self.item) != n or (self.timestamp is not None and len(self.timestamp) != n):
            raise ValueError("user, item and timestamp arrays must have the same length")

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.user)


@dataclass(frozen=True)
class Pairs:
    """A set of (user, item) pairs: one split part."""

    user: np.ndarray
    item: np.ndarray

    def __len__(self) -> int:
        return len(self.user)

    def keys(self, n_items: int) -> np.ndarray:
        """Sorted ``user * n_items + item`` keys, for vectorised membership tests."""
        return np.sort(self.user.astype(np.int64) * n_items + self.item.astype(np.int64))


@dataclass(frozen=True)
class TrainGraph:
    """The train split as a bipartite graph: what every recommender is built from."""

    n_users: int
    n_items: int
    user: np.ndarray
    item: np.ndarray

    def item_counts(self) -> np.ndarray:
        """Number of train interactions per item."""
        return np.bincount(self.item, minlength=self.n_items)


@dataclass(frozen=True)
class Split:
    """A dataset split into train / valid / test pairs, with the facts a result must record."""

    name: str
    dataset: str
    n_users: int
    n_items: int
    train: Pairs
    valid: Pairs
    test: Pairs
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def graph(self) -> TrainGraph:
        return TrainGraph(self.n_users, self.n_items, self.train.user, self.train.item)
