"""Top-K from an export: the exact ranking of ``users @ items.T``, seen items removed exactly, batches equal to
single requests, and one clear error per bad request."""

from __future__ import annotations

import numpy as np
import pytest

from mmbench.errors import ServeError
from mmbench.export.locate import read_record
from mmbench.export.rebuild import rebuild
from mmbench.serve import Recommender
from mmbench.serve.recommender import top_k

from _exports import write_export


def _brute(users, items, u, exclude=()):
    """Sort every item by (-score, row): the ranking the recommender must give (scores by the same dot product)."""
    scores = items @ users[u]
    order = sorted((i for i in range(len(items)) if i not in set(exclude)), key=lambda i: (-scores[i], i))
    return order, scores


def test_top_k_is_the_brute_force_ranking_on_a_real_export(exported):
    rec = Recommender.load(exported[2])
    for u in (0, 17, 123, 299):
        order, scores = _brute(rec.users, rec.items, u)
        got = rec.recommend(rec.user_ids[u], k=10)
        assert [s.item for s in got] == [rec.item_ids[i] for i in order[:10]]
        np.testing.assert_allclose([s.score for s in got], scores[order[:10]], rtol=1e-6)


def test_exclude_seen_removes_exactly_train_and_valid(exported):
    split = rebuild(read_record(exported[1]), 1, log=lambda _: None).split
    rec = Recommender.load(exported[2])
    for u in (0, 5, 42, 250):
        history = set(split.train.item[split.train.user == u]) | set(split.valid.item[split.valid.user == u])
        everything = rec.recommend(rec.user_ids[u], k=rec.n_items, exclude_seen=True)
        assert {s.item for s in everything} == {rec.item_ids[i] for i in range(rec.n_items)} - {
            rec.item_ids[i] for i in history}
        assert len(everything) == rec.n_items - len(history)  # k clamped to the candidates left
        order, _ = _brute(rec.users, rec.items, u, exclude=history)
        assert [s.item for s in rec.recommend(rec.user_ids[u], k=10, exclude_seen=True)] == [
            rec.item_ids[i] for i in order[:10]]
        test_items = split.test.item[split.test.user == u]  # test targets are candidates, never removed
        assert {rec.item_ids[i] for i in test_items} <= {s.item for s in everything}


def test_batches_equal_single_requests(exported):
    rec = Recommender.load(exported[2])
    users = rec.user_ids[::7]
    batch = rec.recommend_many(users, k=8, exclude_seen=True, batch_size=5)
    assert batch == [rec.recommend(u, k=8, exclude_seen=True) for u in users]


def test_ties_go_to_the_lower_row_and_minus_inf_is_never_returned():
    scores = np.array([1.0, 3.0, 3.0, 2.0, 3.0, -np.inf])
    assert top_k(scores, 2).tolist() == [1, 2]
    assert top_k(scores, 4).tolist() == [1, 2, 4, 3]
    assert top_k(scores, 10).tolist() == [1, 2, 4, 3, 0]


def test_ties_in_a_folder(tmp_path):
    users = np.array([[1.0, 0.0]])
    items = np.array([[1.0, 0.0], [2.0, 0.0], [1.0, 5.0], [2.0, 1.0]])  # rows 1 and 3 tie at 2.0, 0 and 2 at 1.0
    rec = Recommender.load(write_export(tmp_path / "t", users, items, [[1]]))
    assert [s.item for s in rec.recommend("u0", k=4)] == ["i1", "i3", "i0", "i2"]
    assert [s.item for s in rec.recommend("u0", k=4, exclude_seen=True)] == ["i3", "i0", "i2"]


def test_bad_requests(toy):
    rec = Recommender.load(toy)
    with pytest.raises(ServeError, match=r"unknown user 'nobody': this export has 5 users .*e.g. 'u0'"):
        rec.recommend("nobody")
    with pytest.raises(ServeError, match="k must be at least 1, got 0"):
        rec.recommend("u0", k=0)
    with pytest.raises(ServeError, match="unknown item"):
        rec.recommend("u0", candidates=["i1", "zz"])
    with pytest.raises(ServeError, match="cannot score new items: .*adapter: true"):
        rec.with_new_items(["n"], {"text": np.ones((1, 3))})
    with pytest.raises(ServeError, match="approximate search ranks the whole catalogue"):
        rec.recommend("u0", ann=True, candidates=["i1"])
    assert len(rec.recommend("u3", k=10, exclude_seen=True)) == 3  # 7 items, 4 seen: clamped


def test_unknown_users_of_a_batch_are_named_together(toy):
    rec = Recommender.load(toy)
    with pytest.raises(ServeError, match=r"2 unknown users, e.g. \['x', 'y'\]: this export has 5 users"):
        rec.recommend_many(["u0", "x", "u1", "y"])
