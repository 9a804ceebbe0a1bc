"""The seeded synthetic dataset for scale benchmarks: exact size, distinct pairs, seeded, skewed like real logs."""

from __future__ import annotations

import numpy as np
import pytest

from mmbench.data import synthetic
from mmbench.data.load import load_dataset
from mmbench.errors import DataError


def test_generate_is_exact_distinct_seeded_and_skewed():
    u, i = synthetic.generate(50_000, 5_000, 2_000, seed=3)
    assert len(u) == 50_000 and u.dtype == np.int64
    keys = u * 5_000 + i
    assert len(np.unique(keys)) == len(keys) and np.all(np.diff(keys) > 0)  # distinct, sorted
    assert u.max() < 2_000 and i.max() < 5_000
    u2, i2 = synthetic.generate(50_000, 5_000, 2_000, seed=3)
    assert np.array_equal(u, u2) and np.array_equal(i, i2)
    u3, _ = synthetic.generate(50_000, 5_000, 2_000, seed=4)
    assert not np.array_equal(u, u3)
    pop = np.sort(np.bincount(i, minlength=5_000))[::-1]
    assert pop[:50].sum() > 10 * 0.01 * pop.sum()  # the top 1 % of items get over 10x a uniform share
    act = np.bincount(u, minlength=2_000)
    assert act.max() > 4 * np.median(act)


def test_dataset_loads_through_the_cache_and_splits(tmp_path):
    data = load_dataset("synthetic", {"interactions": 20_000, "items": 3_000, "users": 1_000}, root=tmp_path)
    assert data.card["interactions"] == 20_000
    again = load_dataset("synthetic", {"interactions": 20_000, "items": 3_000, "users": 1_000}, root=tmp_path)
    assert np.array_equal(again.interactions.item, data.interactions.item)
    other = load_dataset("synthetic", {"interactions": 20_000, "items": 3_000, "users": 1_000, "seed": 1},
                         root=tmp_path)
    assert not np.array_equal(other.interactions.item, data.interactions.item)


@pytest.mark.parametrize("params, problem", [
    ({"interactions": 0}, "interactions must be ≥ 1"),
    ({"interactions": 100, "items": 5, "users": 10}, "interactions must be in 1..users × items (50)"),
    ({"item_alpha": -1.0}, "item_alpha and user_sigma must be ≥ 0"),
])
def test_bad_params_are_one_clear_error(params, problem):
    with pytest.raises(DataError) as exc:
        load_dataset("synthetic", params, use_cache=False)
    assert problem in str(exc.value) and "fix:" in str(exc.value)
