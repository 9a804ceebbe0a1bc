"""BPR training triples: uniform negatives that avoid a user's train items, vectorised, drawn from a seeded
generator so that an epoch's batches depend on the seed alone."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from mmbench.data.types import TrainGraph


def train_keys(graph: TrainGraph) -> torch.Tensor:
    """Sorted ``user * n_items + item`` keys of the train pairs, for vectorised membership tests."""
    users = torch.as_tensor(graph.user, dtype=torch.long)
    return torch.sort(users * graph.n_items + torch.as_tensor(graph.item, dtype=torch.long)).values


def sample_unseen(keys: torch.Tensor, n_items: int, users: torch.Tensor,
                  generator: torch.Generator | None = None, pool: torch.Tensor | None = None) -> torch.Tensor:
    """One item per entry of ``users`` (any shape), uniform over the items the user has no train pair with
    (over those of ``pool``, sorted item ids, when given).

    Vectorised: draw all, then redraw only the collisions with train pairs (a user owning every item is
    impossible to fix; after 100 rounds the rare remainder is kept).
    """
    def draw(shape: tuple[int, ...]) -> torch.Tensor:
        if pool is None:
            return torch.randint(n_items, shape, generator=generator)
        return pool[torch.randint(len(pool), shape, generator=generator)]

    items = draw(tuple(users.shape))
    for _ in range(100):
        wanted = users * n_items + items
        bad = keys[torch.searchsorted(keys, wanted).clamp(max=len(keys) - 1)] == wanted
        if not bad.any():
            break
        items[bad] = draw((int(bad.sum()),))
    return items


class BPRSampler:
    """Epochs of (user, positive, negative) batches; negatives avoid the user's train items, vectorised.

    ``negatives="warm"`` draws them only from items with a train interaction (``TrainSpec.negatives``): with
    ``"all"``, an item that has none (cold) is only ever a negative, and training pushes its score down.
    ``sampling`` (``TrainSpec.sampling``) is what an epoch runs over: each train pair once in random order
    (``"interactions"``), or as many triples as train pairs from users drawn uniformly with replacement, each with
    a uniform train item of theirs (``"users"``, the LightGCN / NGCF reference samplers: a light user weighs as
    much as a heavy one).
    """

    def __init__(self, graph: TrainGraph, generator: torch.Generator, negatives: str = "all",
                 sampling: str = "interactions") -> None:
        if negatives not in ("all", "warm"):
            raise ValueError(f"negatives must be 'all' or 'warm', got {negatives!r}")
        if sampling not in ("interactions", "users"):
            raise ValueError(f"sampling must be 'interactions' or 'users', got {sampling!r}")
        self.n_items = graph.n_items
        self.users = torch.as_tensor(graph.user, dtype=torch.long)
        self.items = torch.as_tensor(graph.item, dtype=torch.long)
        self.keys = train_keys(graph)
        self.pool = torch.unique(self.items) if negatives == "warm" else None
        self.sampling = sampling
        if sampling == "users":  # the train items grouped by user: the keys are sorted by user, then item
            by_user = self.keys // max(self.n_items, 1)
            self.user_items = self.keys % max(self.n_items, 1)
            counts = torch.bincount(by_user, minlength=graph.n_users)
            self.active = torch.nonzero(counts).flatten()  # users with a train pair
            self.counts = counts[self.active]
            self.starts = (torch.cumsum(counts, 0) - counts)[self.active]
        self.gen = generator

    def epoch(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        if self.sampling == "users":
            n = len(self.users)
            for start in range(0, n, batch_size):
                size = min(batch_size, n - start)
                pick = torch.randint(len(self.active), (size,), generator=self.gen)
                offset = (torch.rand(size, generator=self.gen, dtype=torch.float64) * self.counts[pick]).long()
                users = self.active[pick]
                pos = self.user_items[self.starts[pick] + torch.minimum(offset, self.counts[pick] - 1)]
                yield users, pos, sample_unseen(self.keys, self.n_items, users, self.gen, self.pool)
            return
        order = torch.randperm(len(self.users), generator=self.gen)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            users = self.users[idx]
            yield users, self.items[idx], sample_unseen(self.keys, self.n_items, users, self.gen, self.pool)
