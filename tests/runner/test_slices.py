"""Cold / warm test slices: which pairs are cold, hand-computed slice metrics, masking of the other slice."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmbench.data.types import Pairs, Split
from mmbench.registry import load_plugins
from mmbench.runner.evaluate import evaluate, evaluate_users
from mmbench.runner.slices import cold_items, describe, evaluate_slices, slice_masks


@pytest.fixture(scope="module", autouse=True)
def _plugins() -> None:
    load_plugins(entry_points=False)


def pairs(*ui: tuple[int, int]) -> Pairs:
    return Pairs(np.array([u for u, _ in ui], dtype=np.int64), np.array([i for _, i in ui], dtype=np.int64))


def toy() -> tuple[Split, torch.Tensor]:
    # items 0..5; item 4 is only in valid, item 5 only in test: both are cold (no train interaction)
    train = pairs((0, 0), (1, 1), (1, 2), (2, 3), (2, 0))
    valid = pairs((0, 4), (1, 0), (2, 1))
    test = pairs((0, 5), (0, 1), (1, 3), (2, 2))
    split = Split("given", "toy", 3, 6, train, valid, test)
    scores = torch.tensor([[9.0, 8.0, 7.0, 6.0, 5.0, 4.0],    # user 0: cold target 5 is below warm target 1
                           [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                           [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    return split, scores


def dcg(position: int) -> float:
    return 1.0 / math.log2(position + 2)


def test_cold_items_are_those_without_train_interactions():
    split, _ = toy()
    assert cold_items(split).tolist() == [False, False, False, False, True, True]
    assert slice_masks(split)["cold"].tolist() == [True, False, False, False]
    assert describe(split) == {"cold": {"pairs": 1, "users": 1}, "warm": {"pairs": 3, "users": 3}}


def test_slice_metrics_by_hand():
    split, scores = toy()
    out = evaluate_slices(lambda u: scores[u], split, metrics=["hr", "ndcg"], ks=[1, 2])
    # cold, user 0: candidates = all but train {0}, valid {4} and its warm test item 1 -> order 2, 3, 5
    assert out["cold"]["pairs"] == 1 and out["cold"]["users"] == 1
    assert out["cold"]["metrics"]["HR@1"] == 0.0
    assert out["cold"]["metrics"]["HR@2"] == 0.0
    # warm: user 0 ranks 1 among {1, 2, 3} (5 masked) -> first; user 1 ranks 3 among {3, 4, 5} (train 1, 2 and
    # valid 0 masked) -> third; user 2 ranks 2 among {2, 4, 5} -> first
    assert out["warm"]["metrics"]["HR@1"] == pytest.approx(2 / 3)
    assert out["warm"]["metrics"]["HR@2"] == pytest.approx(2 / 3)
    assert out["warm"]["metrics"]["NDCG@2"] == pytest.approx((dcg(0) + 0 + dcg(0)) / 3)
    # the whole test part, for comparison: user 0's cold target 5 is now a candidate below 1 and above nothing
    whole = evaluate(lambda u: scores[u], split, "test", metrics=["hr"], ks=[1])
    assert whole["HR@1"] == pytest.approx((1 + 0 + 1) / 3)


def test_other_slice_is_masked_not_a_candidate():
    split, scores = toy()
    scores = scores.clone()
    scores[0, 1] = 100.0  # the warm target of user 0 scored highest: in the cold slice it must not count
    out = evaluate_slices(lambda u: scores[u], split, metrics=["hr"], ks=[3])
    assert out["cold"]["metrics"]["HR@3"] == 1.0  # 5 is third of {2, 3, 5}; with 1 as a candidate it would be 4th


def test_keeping_every_pair_is_the_plain_evaluation():
    split, scores = toy()
    _, all_kept = evaluate_users(lambda u: scores[u], split, "test", metrics=["ndcg"], ks=[3],
                                 keep=np.ones(len(split.test), dtype=bool))
    assert float(all_kept["NDCG@3"].mean()) == evaluate(lambda u: scores[u], split, "test", metrics=["ndcg"],
                                                        ks=[3])["NDCG@3"]


def test_keep_of_the_wrong_length_is_an_error():
    split, scores = toy()
    with pytest.raises(ValueError, match="one flag per test pair"):
        evaluate_users(lambda u: scores[u], split, "test", metrics=["hr"], ks=[1], keep=np.ones(3, dtype=bool))


def test_no_slices_without_cold_test_items():
    split, scores = toy()
    warm_only = Split("given", "toy", 3, 6, split.train, split.valid, pairs((0, 1), (1, 3), (2, 2)))
    assert evaluate_slices(lambda u: scores[u], warm_only, metrics=["hr"], ks=[1]) == {}
