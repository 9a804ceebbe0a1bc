"""Splits: each turns :class:`Interactions` into a :class:`Split`; the split name is part of every result key.

Rules (documented, counted in the split card, never silent):

* ``loo-time``: per user, the last interaction by time is test and the second-to-last valid; equal
  timestamps are broken by source row order. A user with two interactions keeps the older in train and the
  newer in test; a user with one keeps it in train only.
* ``ratio-8-1-1``: per user, a seeded random 10 % test, 10 % valid (each at least one, rounded half up),
  the rest train. Users with two or one interactions follow the ``loo-time`` rule with random order.
* ``global-time``: one global cut: the 80 % and 90 % quantiles of time, by row, give cut timestamps t1 ≤ t2;
  time < t1 is train, t1 ≤ time < t2 valid, time ≥ t2 test. Rows of users (or items) without train rows stay
  and are counted as cold-start in the card.
* ``given``: the dataset's own split, as shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import numpy as np

from mmbench.data.types import Interactions, Pairs, Split
from mmbench.errors import DataError

SEEDED_SPLITS = frozenset({"ratio-8-1-1"})


def _require_unique(inter: Interactions) -> None:
    keys = inter.user.astype(np.int64) * max(inter.n_items, 1) + inter.item
    if len(np.unique(keys)) != len(keys):
        raise DataError(f"dataset {inter.name!r}: duplicate (user, item) pairs reached the split; fix: load it "
                        f"through mmbench.data.load.load_dataset, which dedupes")


def _build(name: str, inter: Interactions, part: np.ndarray, extra: dict[str, Any]) -> Split:
    """``part`` holds 0/1/2 (train/valid/test) per row of ``inter``."""
    def pairs(code: int) -> Pairs:
        rows = np.flatnonzero(part == code)
        return Pairs(inter.user[rows].astype(np.int64), inter.item[rows].astype(np.int64))

    train, valid, test = pairs(0), pairs(1), pairs(2)
    in_train_u = np.bincount(train.user, minlength=inter.n_users) > 0
    in_train_i = np.bincount(train.item, minlength=inter.n_items) > 0
    card = {"split": name, "train": len(train), "valid": len(valid), "test": len(test),
            "users_in_valid": int(len(np.unique(valid.user))), "users_in_test": int(len(np.unique(test.user))),
            "cold_users_in_test": int(len(np.unique(test.user[~in_train_u[test.user]]))),
            "cold_items_in_test": int(len(np.unique(test.item[~in_train_i[test.item]]))), **extra}
    return Split(name, inter.name, inter.n_users, inter.n_items, train, valid, test, card)


def _position_from_end(user: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by user: index counted from the user's last row (0 = last), and the user's row count."""
    counts = np.bincount(user, minlength=n_users)
    ends = np.cumsum(counts)
    return ends[user] - 1 - np.arange(len(user)), counts


def _short_history_card(counts: np.ndarray) -> dict[str, int]:
    return {"users_without_interactions": int(np.sum(counts == 0)), "users_train_only": int(np.sum(counts == 1)),
            "users_without_valid": int(np.sum(counts == 2))}


def tied_last_share(inter: Interactions) -> float:
    """Share of users (with ≥ 2 interactions) whose last two timestamps are equal; 0 without timestamps."""
    if inter.timestamp is None:
        return 0.0
    order = np.lexsort((np.arange(len(inter)), inter.timestamp, inter.user))
    from_end, counts = _position_from_end(inter.user[order], inter.n_users)
    last = np.flatnonzero((from_end == 0) & (counts[inter.user[order]] >= 2))
    ts = inter.timestamp[order]
    return float(np.mean(ts[last] == ts[last - 1])) if len(last) else 0.0


def loo_time(inter: Interactions, seed: int = 0) -> Split:
    """Leave-last-out by time: per user, the last interaction is test and the second-to-last valid."""
    if inter.timestamp is None:
        raise DataError(f"dataset {inter.name!r} has no timestamps, so split 'loo-time' is impossible; "
                        "fix: use split 'ratio-8-1-1' (or 'given' if the dataset ships one)")
    _require_unique(inter)
    order = np.lexsort((np.arange(len(inter)), inter.timestamp, inter.user))
    from_end, counts = _position_from_end(inter.user[order], inter.n_users)
    n_user = counts[inter.user[order]]
    part = np.zeros(len(inter), np.int8)
    part[order[(from_end == 0) & (n_user >= 2)]] = 2
    part[order[(from_end == 1) & (n_user >= 3)]] = 1
    return _build("loo-time", inter, part, {**_short_history_card(counts),
                                            "share_users_tied_last_timestamp": round(tied_last_share(inter), 6),
                                            "tie_break": "source row order"})


def ratio_8_1_1(inter: Interactions, seed: int = 0) -> Split:
    """Per-user seeded random 80/10/10 (see the module rules for short histories)."""
    _require_unique(inter)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(inter)), inter.user))
    from_end, counts = _position_from_end(inter.user[order], inter.n_users)
    n_user = counts[inter.user[order]]
    n_hold = np.where(n_user >= 3, np.maximum(1, np.floor(0.1 * n_user + 0.5)), 0).astype(np.int64)
    part = np.zeros(len(inter), np.int8)
    part[order[from_end < n_hold]] = 2
    part[order[(from_end >= n_hold) & (from_end < 2 * n_hold)]] = 1
    part[order[(n_user == 2) & (from_end == 0)]] = 2
    return _build("ratio-8-1-1", inter, part, {**_short_history_card(counts), "seed": seed})


def _iso(t: int) -> str:
    return datetime.fromtimestamp(int(t), timezone.utc).isoformat(timespec="seconds")


def global_time(inter: Interactions, seed: int = 0) -> Split:
    """One global time cut at the 80 % / 90 % row quantiles (see the module rules)."""
    if inter.timestamp is None:
        raise DataError(f"dataset {inter.name!r} has no timestamps, so split 'global-time' is impossible; "
                        "fix: use split 'ratio-8-1-1' (or 'given' if the dataset ships one)")
    _require_unique(inter)
    ts_sorted = np.sort(inter.timestamp, kind="stable")
    n = len(ts_sorted)
    t1, t2 = ts_sorted[int(0.8 * n)], ts_sorted[min(int(0.9 * n), n - 1)]
    part = np.where(inter.timestamp < t1, 0, np.where(inter.timestamp < t2, 1, 2)).astype(np.int8)
    if not (part == 0).any() or not (part == 2).any():
        raise DataError(f"dataset {inter.name!r}: every timestamp falls on one side of the global cut; "
                        f"fix: use a split that does not cut by time")
    return _build("global-time", inter, part, {"cut_valid": _iso(t1), "cut_test": _iso(t2),
                                               "rule": "train < cut_valid <= valid < cut_test <= test"})


def given(inter: Interactions, seed: int = 0) -> Split:
    """The split shipped with the dataset."""
    if inter.given_split is None:
        raise DataError(f"dataset {inter.name!r} ships no split, so split 'given' is impossible; "
                        f"fix: use 'loo-time', 'ratio-8-1-1' or 'global-time'")
    _require_unique(inter)
    return _build("given", inter, inter.given_split.astype(np.int8), {"source": "dataset-provided"})


SPLITS: dict[str, Callable[[Interactions, int], Split]] = {
    "loo-time": loo_time,
    "ratio-8-1-1": ratio_8_1_1,
    "global-time": global_time,
    "given": given,
}


def split_key(name: str, seed: int = 0) -> str:
    """The split's part of a result key: the name, plus the seed for seeded splits when it is not 0."""
    return f"{name}[seed={seed}]" if name in SEEDED_SPLITS and seed else name


def make_split(name: str, inter: Interactions, seed: int = 0) -> Split:
    """Apply the split called ``name`` (``seed`` only matters for seeded splits)."""
    try:
        fn = SPLITS[name]
    except KeyError:
        raise DataError(f"unknown split {name!r}; available: {', '.join(SPLITS)}") from None
    return fn(inter, seed)
