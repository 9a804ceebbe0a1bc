"""Splits: each turns :class:`Interactions` into a :class:`Split`; the split name is part of every result key.

Rule for short histories (documented, counted, never silent): ``loo-time`` needs three interactions to give a
user a train, a valid and a test item. A user with two keeps the older one in train and the newer in test; a
user with one keeps it in train only. Both groups are counted in the split card.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mmbench.data.types import Interactions, Pairs, Split
from mmbench.errors import DataError


def _dedupe_first(inter: Interactions, order: np.ndarray) -> tuple[np.ndarray, int]:
    """Keep each (user, item) pair's first occurrence in ``order``; return kept rows and the drop count."""
    keys = inter.user[order].astype(np.int64) * inter.n_items + inter.item[order]
    _, first = np.unique(keys, return_index=True)
    kept = order[np.sort(first)]
    return kept, len(order) - len(kept)


def loo_time(inter: Interactions) -> Split:
    """Leave-last-out by time: per user, the last interaction is test and the second-to-last valid.

    Equal timestamps are broken by the dataset's row order (stable sort), so the split is deterministic.
    """
    if inter.timestamp is None:
        raise DataError(f"dataset {inter.name!r} has no timestamps, so split 'loo-time' is impossible; "
                        "fix: choose a split that needs no time")
    order = np.lexsort((np.arange(len(inter)), inter.timestamp, inter.user))
    order, n_dupes = _dedupe_first(inter, order)
    user = inter.user[order]
    counts = np.bincount(user, minlength=inter.n_users)
    # position of each row inside its user's chronological history, counted from the end (0 = last)
    ends = np.cumsum(counts)
    from_end = ends[user] - 1 - np.arange(len(order))
    n_user = counts[user]
    test_m = (from_end == 0) & (n_user >= 2)
    valid_m = (from_end == 1) & (n_user >= 3)
    train_m = ~(test_m | valid_m)

    ts = inter.timestamp[order]
    last_ts, prev_ts = ts[test_m], ts[from_end == 1]  # both one row per user with >= 2 rows, user-sorted
    tied = float(np.mean(last_ts == prev_ts)) if len(last_ts) else 0.0

    def part(mask: np.ndarray) -> Pairs:
        rows = order[mask]
        return Pairs(inter.user[rows].astype(np.int64), inter.item[rows].astype(np.int64))

    train, valid, test = part(train_m), part(valid_m), part(test_m)
    card = {
        "split": "loo-time",
        "train": len(train), "valid": len(valid), "test": len(test),
        "duplicate_pairs_dropped": int(n_dupes),
        "users_without_interactions": int(np.sum(counts == 0)),
        "users_train_only": int(np.sum(counts == 1)),
        "users_without_valid": int(np.sum(counts == 2)),
        "share_users_tied_last_timestamp": round(tied, 6),
        "tie_break": "dataset row order",
    }
    return Split("loo-time", inter.name, inter.n_users, inter.n_items, train, valid, test, card)


SPLITS: dict[str, Callable[[Interactions], Split]] = {
    "loo-time": loo_time,
}


def make_split(name: str, inter: Interactions) -> Split:
    """Apply the split called ``name``."""
    try:
        fn = SPLITS[name]
    except KeyError:
        raise DataError(f"unknown split {name!r}; available: {', '.join(SPLITS)}") from None
    return fn(inter)
