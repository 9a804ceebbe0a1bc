"""The four splits on hand-made histories: rules for short histories, ties, seeds and cold-start counts."""

from __future__ import annotations

import numpy as np
import pytest

from mmbench.data.splits import SPLITS, make_split, split_key
from mmbench.data.types import Interactions
from mmbench.errors import DataError


def toy(user, item, ts=None, given=None) -> Interactions:
    user, item = np.asarray(user), np.asarray(item)
    return Interactions("toy", user, item, None if ts is None else np.asarray(ts), np.arange(user.max() + 1),
                        np.arange(item.max() + 1), given_split=None if given is None else np.asarray(given, np.int8))


def pairs(p):
    return sorted(zip(p.user.tolist(), p.item.tolist()))


def test_loo_time_ties_broken_by_row_order():
    split = make_split("loo-time", toy([0, 0, 0, 0], [3, 1, 2, 0], [5, 9, 9, 9]))
    assert split.test.item.tolist() == [0] and split.valid.item.tolist() == [2]
    assert split.train.item.tolist() == [3, 1]
    assert split.card["share_users_tied_last_timestamp"] == 1.0


def test_loo_time_short_histories_follow_the_documented_rule():
    split = make_split("loo-time", toy([0, 1, 1, 2, 2, 2], [0, 0, 1, 0, 1, 2], [1, 1, 2, 1, 2, 3]))
    assert split.card["users_train_only"] == 1 and split.card["users_without_valid"] == 1
    assert pairs(split.test) == [(1, 1), (2, 2)] and pairs(split.valid) == [(2, 1)]
    assert len(split.train) + len(split.valid) + len(split.test) == 6


def test_ratio_split_sizes_rule_and_seed():
    rng = np.random.default_rng(0)
    user = np.repeat(np.arange(4), [1, 2, 10, 25])
    item = np.concatenate([rng.permutation(40)[:n] for n in [1, 2, 10, 25]])
    inter = toy(user, item)
    a, b, c = (make_split("ratio-8-1-1", inter, seed=s) for s in (0, 0, 1))
    per_user = lambda p, u: int(np.sum(p.user == u))  # noqa: E731
    assert [per_user(a.test, u) for u in range(4)] == [0, 1, 1, 3]   # round-half-up of 10 %: 2.5 -> 3
    assert [per_user(a.valid, u) for u in range(4)] == [0, 0, 1, 3]
    assert [per_user(a.train, u) for u in range(4)] == [1, 1, 8, 19]
    assert pairs(a.test) == pairs(b.test) and pairs(a.test) != pairs(c.test)
    assert a.card["seed"] == 0 and a.card["users_train_only"] == 1 and a.card["users_without_valid"] == 1
    all_pairs = sorted(pairs(a.train) + pairs(a.valid) + pairs(a.test))
    assert all_pairs == sorted(zip(user.tolist(), item.tolist()))


def test_global_time_cuts_once_and_counts_cold_start():
    # 10 rows at times 0..9: cut_valid = t[8] = 8, cut_test = t[9] = 9
    user = [0, 0, 0, 0, 1, 1, 1, 1, 2, 3]
    item = [0, 1, 2, 3, 0, 1, 2, 4, 5, 0]
    split = make_split("global-time", toy(user, item, np.arange(10)))
    assert (len(split.train), len(split.valid), len(split.test)) == (8, 1, 1)
    assert pairs(split.valid) == [(2, 5)] and pairs(split.test) == [(3, 0)]
    assert split.card["cold_users_in_test"] == 1 and split.card["cold_items_in_test"] == 0
    assert split.card["cut_valid"].startswith("1970-01-01T00:00:08")
    with pytest.raises(DataError, match="one side of the global cut"):
        make_split("global-time", toy([0, 1], [0, 1], [5, 5]))


def test_given_split_and_its_absence():
    split = make_split("given", toy([0, 0, 1, 1], [0, 1, 0, 2], given=[0, 2, 0, 1]))
    assert pairs(split.train) == [(0, 0), (1, 0)] and pairs(split.test) == [(0, 1)] and pairs(split.valid) == [(1, 2)]
    with pytest.raises(DataError, match="ships no split"):
        make_split("given", toy([0], [0]))


@pytest.mark.parametrize("name", ["loo-time", "global-time"])
def test_time_splits_need_timestamps(name):
    with pytest.raises(DataError, match="no timestamps.*fix: use split 'ratio-8-1-1'"):
        make_split(name, toy([0], [0]))


def test_unknown_split_and_duplicate_pairs():
    with pytest.raises(DataError, match="unknown split 'loo-tim'"):
        make_split("loo-tim", toy([0], [0], [1]))
    with pytest.raises(DataError, match="duplicate \\(user, item\\) pairs"):
        make_split("ratio-8-1-1", toy([0, 0], [1, 1]))


@pytest.mark.parametrize("name", sorted(SPLITS))
def test_every_split_partitions_the_rows(name):
    rng = np.random.default_rng(3)
    keys = rng.choice(50 * 30, size=400, replace=False)
    inter = toy(keys // 30, keys % 30, rng.integers(0, 1000, 400), given=rng.integers(0, 3, 400))
    split = make_split(name, inter, seed=7)
    got = sorted(pairs(split.train) + pairs(split.valid) + pairs(split.test))
    assert got == sorted(zip((keys // 30).tolist(), (keys % 30).tolist()))


def test_split_key_names_the_seed_only_for_seeded_splits():
    assert split_key("ratio-8-1-1", 0) == "ratio-8-1-1" and split_key("ratio-8-1-1", 3) == "ratio-8-1-1[seed=3]"
    assert split_key("loo-time", 3) == "loo-time"
