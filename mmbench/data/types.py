"""Typed containers passed forward through the runner: raw tables, the prepared dataset, splits, the graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

GIVEN_PARTS = ("train", "valid", "test")  # codes 0, 1, 2 of ``Interactions.given_split``


@dataclass(frozen=True)
class Interactions:
    """User–item interactions with dense 0-based ids, in the dataset's canonical row order.

    ``user_ids`` / ``item_ids`` map a dense id back to the dataset's own id. ``timestamp`` (unix seconds) is
    ``None`` for datasets without time; row order is the deterministic tie-break for equal timestamps.
    ``rating`` and ``weight`` (e.g. play counts) are kept when the source has them; ``given_split`` holds the
    dataset-provided part of each row (0 train, 1 valid, 2 test) when there is one.
    """

    name: str
    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray | None
    user_ids: np.ndarray
    item_ids: np.ndarray
    source_files: tuple[str, ...] = ()
    rating: np.ndarray | None = None
    weight: np.ndarray | None = None
    given_split: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.user)
        for label in ("item", "timestamp", "rating", "weight", "given_split"):
            arr = getattr(self, label)
            if arr is not None and len(arr) != n:
                raise ValueError(f"Interactions.{label} has {len(arr)} rows, user has {n}")

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.user)


@dataclass(frozen=True)
class Feature:
    """One precomputed item feature source, aligned with dense item ids.

    ``values[i]`` is item ``i``'s vector when ``available[i]``; rows of unavailable items are zeros and must
    never be used as if they were real (imputers and masks decide what happens to them).
    """

    modality: str
    values: np.ndarray
    available: np.ndarray
    source: str = ""

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])


@dataclass(frozen=True)
class PreparedData:
    """A dataset after preprocessing: what splits, encoders and models consume.

    ``items`` has one row per dense item id (column ``item`` holds the dataset's own id) with the text and
    image fields the dataset provides; ``text_fields`` / ``image_field`` name them. ``modalities`` maps
    ``text``, ``image`` and ``feature:<name>`` to per-item availability masks. ``card`` is the dataset card.
    """

    name: str
    interactions: Interactions
    items: pd.DataFrame
    text_fields: tuple[str, ...]
    image_field: str | None
    features: dict[str, Feature]
    modalities: dict[str, np.ndarray]
    card: dict[str, Any]
    raw_hash: str
    cache_key: str


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
