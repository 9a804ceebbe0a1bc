"""Approximate search: recall@K against exact search is computed right (an exact "ANN" scores 1, a useless one
low), seen items are excluded with it too, and faiss's HNSW on a real export finds nearly all of the exact top-10."""

from __future__ import annotations

import numpy as np
import pytest

from mmbench.serve import Recommender
from mmbench.serve.ann import HnswIndex, recall_at_k
from mmbench.serve.bench import measure_ann


class ExactIndex:
    """Brute-force inner product: an "ANN" without approximation."""

    def __init__(self, items):
        self.items = items

    def search(self, queries, k):
        scores = queries @ self.items.T
        rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, rows, 1), rows


class RandomIndex(ExactIndex):
    def search(self, queries, k):
        rows = np.random.default_rng(0).integers(0, len(self.items), size=(len(queries), k))
        return np.zeros(rows.shape, np.float32), rows


def test_recall_by_hand():
    assert recall_at_k([[1, 2, 3, 4], [5, 6]], [[4, 3, 9, 8], [6, 5]]) == pytest.approx((0.5 + 1.0) / 2)
    assert recall_at_k([[1], []], [[2], [3]]) == 0.0  # a query with no exact items is left out
    with pytest.raises(ValueError):
        recall_at_k([[1]], [])


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_an_exact_index_has_recall_one_even_with_seen_items_excluded(exported, exclude_seen):
    rec = Recommender.load(exported[2])
    rec.use_ann(ExactIndex(rec.items))
    report = measure_ann(rec, k=10, exclude_seen=exclude_seen, queries=5)
    assert report["recall"] == 1.0 and report["users"] == rec.n_users
    # the seen items an exact search ranks first are fetched beyond k and dropped: never served, never short
    for u in range(0, rec.n_users, 10):
        got = [s.item for s in rec.recommend(rec.user_ids[u], k=10, exclude_seen=True, ann=True)]
        assert len(got) == 10 and not {rec.item_ids[i] for i in rec.seen(u)} & set(got)


def test_a_useless_index_has_low_recall(exported):
    rec = Recommender.load(exported[2])
    rec.use_ann(RandomIndex(rec.items))
    assert measure_ann(rec, k=10, queries=5)["recall"] < 0.1


def test_hnsw_on_a_real_export(exported):
    rec = Recommender.load(exported[2])
    stored = rec.ann_index()  # the export's ann.faiss (built with --ann)
    assert isinstance(stored, HnswIndex) and stored.ntotal == rec.n_items
    report = measure_ann(rec, k=10, exclude_seen=True, queries=20)
    assert report["recall"] >= 0.95, report["recall"]
    # a fresh single-thread build is the stored index: the same answers
    fresh = HnswIndex.build(rec.items)
    q = rec.users[:50]
    assert np.array_equal(stored.search(q, 10)[1], fresh.search(q, 10)[1])
    # an index asked for more than its ef finds that many
    assert (stored.search(q[:2], 300)[1] >= 0).all()


def test_an_ef_search_sweep_trades_recall_for_breadth_and_restores_the_index(exported):
    rec = Recommender.load(exported[2])
    index = rec.ann_index()
    report = measure_ann(rec, k=10, exclude_seen=True, queries=10, ef_search=[1, 16, 256])
    sweep = report["ef_search_sweep"]
    assert [row["ef_search"] for row in sweep] == [1, 16, 256]
    # ef below k is raised to k for the search, so ef 1 searches as ef 10; wider never finds less here
    recalls = [row["recall"] for row in sweep]
    assert recalls == sorted(recalls) and recalls[-1] >= report["recall"] >= recalls[0]
    assert sweep[-1]["recall"] >= 0.95
    assert index.index.hnsw.efSearch == index.params["ef_search"]  # the index's own breadth back afterwards
    with pytest.raises(ValueError, match="no ef_search"):
        rec.use_ann(ExactIndex(rec.items))
        measure_ann(rec, k=10, queries=2, ef_search=[8])
