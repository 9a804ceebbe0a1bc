"""Ranking metrics (hr, recall, ndcg, mrr) as functions of RankInfo, with the exact random-tie policy.

Every expected value is computed by hand in the comments, or by brute-force enumeration of every
ordering of the tied groups (each ordering equally likely), never by re-using the module's formulas.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from mmbench.kinds import METRICS
from mmbench.metrics.ranking import RankInfo, hit_rate, mrr, ndcg, recall
from mmbench.registry import load_plugins

TOL = 1e-12
METRIC_FNS = {"hr": hit_rate, "recall": recall, "ndcg": ndcg, "mrr": mrr}


@pytest.fixture(scope="module", autouse=True)
def _plugins() -> None:
    load_plugins(entry_points=False)


def rank_info(greater: list[list[float]], equal: list[list[float]], valid: list[list[bool]] | None = None,
              n_relevant: list[int] | None = None) -> RankInfo:
    """RankInfo from nested lists; ``valid`` defaults to all True, ``n_relevant`` to the valid count per row."""
    g = torch.tensor(greater, dtype=torch.float64)
    e = torch.tensor(equal, dtype=torch.float64)
    v = torch.ones_like(g, dtype=torch.bool) if valid is None else torch.tensor(valid, dtype=torch.bool)
    n = v.sum(1).to(torch.float64) if n_relevant is None else torch.tensor(n_relevant, dtype=torch.float64)
    return RankInfo(g, e, v, n)


def disc(p: int) -> float:
    """DCG discount of 0-based position p."""
    return 1.0 / math.log2(p + 2)


def all_metrics(r: RankInfo, k: int) -> dict[str, list[float]]:
    return {name: fn(r, k).tolist() for name, fn in METRIC_FNS.items()}


def assert_close(got: dict[str, list[float]], want: dict[str, list[float]]) -> None:
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=TOL), name


ZERO = {"hr": [0.0], "recall": [0.0], "ndcg": [0.0], "mrr": [0.0]}


# --------------------------------------------------------------------------------------------- registry


def test_metrics_are_registered_with_labels():
    for name, label in [("hr", "HR"), ("recall", "Recall"), ("ndcg", "NDCG"), ("mrr", "MRR")]:
        entry = METRICS.entry(name)
        assert entry.obj is METRIC_FNS[name]
        assert entry.meta["label"] == label
        assert entry.meta["higher_is_better"] is True


# --------------------------------------------------------------------------------------------- no ties


def test_golden_ndcg_two_hits_at_ranks_1_and_3():
    # 2 relevant items at 0-based positions 0 and 2, no ties, K=10:
    # DCG = 1/log2(2) + 1/log2(4) = 1 + 0.5; IDCG = 1/log2(2) + 1/log2(3) (min(2, 10) = 2 positions)
    r = rank_info([[0, 2]], [[0, 0]])
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert expected == pytest.approx(0.919721, abs=1e-6)
    assert ndcg(r, 10).item() == pytest.approx(expected, abs=TOL)
    # both hits in the top 10; first hit at rank 1
    assert hit_rate(r, 10).item() == pytest.approx(1.0, abs=TOL)
    assert recall(r, 10).item() == pytest.approx(1.0, abs=TOL)
    assert mrr(r, 10).item() == pytest.approx(1.0, abs=TOL)


def test_golden_ndcg_is_independent_of_target_order():
    # the same user with its targets listed the other way round
    a = all_metrics(rank_info([[0, 2]], [[0, 0]]), 10)
    b = all_metrics(rank_info([[2, 0]], [[0, 0]]), 10)
    assert_close(a, b)


def test_k_larger_than_candidate_list():
    # 5 candidates, K=20 (d has only entries up to K; positions are all < 5)
    # one target at position 2: HR=1, Recall=1, NDCG = (1/log2(4)) / 1 = 0.5, MRR = 1/3
    r = rank_info([[2]], [[0]])
    got = all_metrics(r, 20)
    assert got["hr"] == pytest.approx([1.0], abs=TOL)
    assert got["recall"] == pytest.approx([1.0], abs=TOL)
    assert got["ndcg"] == pytest.approx([0.5], abs=TOL)
    assert got["mrr"] == pytest.approx([1 / 3], abs=TOL)
    # two targets at positions 1 and 4 of 5: DCG = 1/log2(3) + 1/log2(6); IDCG = 1 + 1/log2(3); MRR = 1/2
    r = rank_info([[1, 4]], [[0, 0]])
    got = all_metrics(r, 20)
    assert got["hr"] == pytest.approx([1.0], abs=TOL)
    assert got["recall"] == pytest.approx([1.0], abs=TOL)
    assert got["ndcg"] == pytest.approx([(1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3))], abs=TOL)
    assert got["mrr"] == pytest.approx([0.5], abs=TOL)
    # all 5 candidates tied with one target, K=20: every position is inside K, so HR = Recall = 1,
    # NDCG = (1/5) * sum_{p<5} 1/log2(p+2), MRR = (1/5) * (1 + 1/2 + 1/3 + 1/4 + 1/5)
    r = rank_info([[0]], [[4]])
    got = all_metrics(r, 20)
    assert got["hr"] == pytest.approx([1.0], abs=TOL)
    assert got["recall"] == pytest.approx([1.0], abs=TOL)
    assert got["ndcg"] == pytest.approx([sum(disc(p) for p in range(5)) / 5], abs=TOL)
    assert got["mrr"] == pytest.approx([(1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 5], abs=TOL)


def test_several_positives_ratio_style():
    # 3 relevant items at positions 1, 3, 5 (no ties)
    r = rank_info([[1, 3, 5]], [[0, 0, 0]])
    # K=2: only position 1 in the top 2. Recall = 1/3, HR = 1, MRR = 1/2,
    # NDCG = (1/log2 3) / IDCG with IDCG over min(3, 2) = 2 positions: 1 + 1/log2 3
    got = all_metrics(r, 2)
    assert got["recall"] == pytest.approx([1 / 3], abs=TOL)
    assert got["hr"] == pytest.approx([1.0], abs=TOL)
    assert got["mrr"] == pytest.approx([0.5], abs=TOL)
    assert got["ndcg"] == pytest.approx([(1 / math.log2(3)) / (1 + 1 / math.log2(3))], abs=TOL)
    # K=4: positions 1, 3 inside. Recall = 2/3; IDCG over 3 positions: 1 + 1/log2 3 + 1/log2 4
    got = all_metrics(r, 4)
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert got["recall"] == pytest.approx([2 / 3], abs=TOL)
    assert got["hr"] == pytest.approx([1.0], abs=TOL)
    assert got["mrr"] == pytest.approx([0.5], abs=TOL)
    assert got["ndcg"] == pytest.approx([(1 / math.log2(3) + 1 / math.log2(5)) / idcg3], abs=TOL)
    # K=6: all three inside. Recall = 1
    got = all_metrics(r, 6)
    assert got["recall"] == pytest.approx([1.0], abs=TOL)
    assert got["ndcg"] == pytest.approx([(1 / math.log2(3) + 1 / math.log2(5) + 1 / math.log2(7)) / idcg3], abs=TOL)
    # K=1: nothing inside
    got = all_metrics(r, 1)
    assert_close(got, ZERO)


def test_idcg_uses_min_of_relevant_and_k():
    # 3 relevant at positions 0, 1, 2 with K=2: perfect top-2 -> NDCG exactly 1 (IDCG over 2 positions,
    # not 3), recall only 2/3
    r = rank_info([[0, 1, 2]], [[0, 0, 0]])
    assert ndcg(r, 2).item() == pytest.approx(1.0, abs=TOL)
    assert recall(r, 2).item() == pytest.approx(2 / 3, abs=TOL)
    # K=3: also perfect
    assert ndcg(r, 3).item() == pytest.approx(1.0, abs=TOL)


def test_padding_rows_of_a_batch():
    # user 0: 3 targets at 0, 4, 9; user 1: one target at position 1 (two padding slots with junk values);
    # user 2: two targets at 5, 6. K=5.
    r = rank_info(
        greater=[[0, 4, 9], [1, 0, 0], [5, 6, 0]],
        equal=[[0, 0, 0], [0, 0, 0], [0, 0, 0]],
        valid=[[True, True, True], [True, False, False], [True, True, False]],
    )
    got = all_metrics(r, 5)
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    # user 0: hits at 0 and 4 -> recall 2/3, DCG 1 + 1/log2 6, MRR 1
    # user 1: hit at 1 -> recall 1, NDCG (1/log2 3)/1, MRR 1/2 (padding at "position 0" must not count)
    # user 2: no hits
    assert got["hr"] == pytest.approx([1.0, 1.0, 0.0], abs=TOL)
    assert got["recall"] == pytest.approx([2 / 3, 1.0, 0.0], abs=TOL)
    assert got["ndcg"] == pytest.approx([(1 + 1 / math.log2(6)) / idcg3, 1 / math.log2(3), 0.0], abs=TOL)
    assert got["mrr"] == pytest.approx([1.0, 0.5, 0.0], abs=TOL)


def test_metric_returns_one_float64_value_per_user():
    r = rank_info([[0, 3], [2, 0]], [[1, 0], [0, 0]], valid=[[True, True], [True, False]])
    for fn in METRIC_FNS.values():
        out = fn(r, 3)
        assert out.shape == (2,)
        assert out.dtype == torch.float64


# --------------------------------------------------------------------------------------------- ties


@pytest.mark.parametrize("n", [1, 7, 50, 1000])
@pytest.mark.parametrize("k", [1, 5, 10, 20])
def test_constant_scorer_is_exactly_the_random_expectation(n, k):
    # one target tied with all n-1 other candidates: its position is uniform on 0..n-1
    r = rank_info([[0]], [[n - 1]])
    kk = min(k, n)
    got = all_metrics(r, k)
    assert got["hr"] == pytest.approx([kk / n], abs=TOL)
    assert got["recall"] == pytest.approx([kk / n], abs=TOL)
    assert got["ndcg"] == pytest.approx([sum(disc(p) for p in range(kk)) / n], abs=TOL)
    assert got["mrr"] == pytest.approx([sum(1 / (p + 1) for p in range(kk)) / n], abs=TOL)


def test_partial_tie_at_the_boundary_of_k():
    # 3 items strictly above; the target tied with 2 others -> position uniform on {3, 4, 5}. K=5:
    # HR = Recall = P(pos in {3, 4}) = 2/3
    # NDCG = (1/3) (1/log2 5 + 1/log2 6) (IDCG = 1)
    # MRR  = (1/3) (1/4 + 1/5) = 0.15
    r = rank_info([[3]], [[2]])
    got = all_metrics(r, 5)
    assert got["hr"] == pytest.approx([2 / 3], abs=TOL)
    assert got["recall"] == pytest.approx([2 / 3], abs=TOL)
    assert got["ndcg"] == pytest.approx([(1 / math.log2(5) + 1 / math.log2(6)) / 3], abs=TOL)
    assert got["mrr"] == pytest.approx([0.15], abs=TOL)
    # K=3: the whole group is outside
    assert_close(all_metrics(r, 3), ZERO)
    # K=6: the whole group is inside -> HR = 1, NDCG = (1/3)(1/log2 5 + 1/log2 6 + 1/log2 7)
    got = all_metrics(r, 6)
    assert got["hr"] == pytest.approx([1.0], abs=TOL)
    assert got["ndcg"] == pytest.approx([(1 / math.log2(5) + 1 / math.log2(6) + 1 / math.log2(7)) / 3], abs=TOL)
    assert got["mrr"] == pytest.approx([(1 / 4 + 1 / 5 + 1 / 6) / 3], abs=TOL)


def test_two_targets_and_two_non_targets_all_tied():
    # group of 4 = {t1, t2, x1, x2} at the top (greater = 0, equal = 3 each). Random order of the group:
    # J = offset of the first target: P(J=0) = 2/4 = 1/2, P(J=1) = (2/4)(2/3) = 1/3, P(J=2) = (2/4)(1/3)(2/2) = 1/6
    # K=1: HR = P(J=0) = 1/2 (= 1 - C(3,2)/C(4,2) = 1 - 3/6); Recall = (1/4 + 1/4)/2 = 1/4;
    #      NDCG = DCG / IDCG = (1/4 + 1/4) * 1 / 1 = 1/2; MRR = 1/2
    r = rank_info([[0, 0]], [[3, 3]])
    got = all_metrics(r, 1)
    assert got["hr"] == pytest.approx([1 / 2], abs=TOL)
    assert got["recall"] == pytest.approx([1 / 4], abs=TOL)
    assert got["ndcg"] == pytest.approx([1 / 2], abs=TOL)
    assert got["mrr"] == pytest.approx([1 / 2], abs=TOL)
    # K=2: HR = 1 - P(both x first) = 1 - 1/C(4,2) = 5/6; Recall = 2/4 = 1/2;
    #      DCG = 2 * (1/4)(1 + 1/log2 3), IDCG = 1 + 1/log2 3 -> NDCG = 1/2; MRR = 1/2 + (1/3)(1/2) = 2/3
    got = all_metrics(r, 2)
    assert got["hr"] == pytest.approx([5 / 6], abs=TOL)
    assert got["recall"] == pytest.approx([1 / 2], abs=TOL)
    assert got["ndcg"] == pytest.approx([1 / 2], abs=TOL)
    assert got["mrr"] == pytest.approx([2 / 3], abs=TOL)
    # K=3: the first target is always at offset <= 2 -> HR = 1; MRR = 1/2 + 1/6 + (1/6)(1/3) = 13/18
    got = all_metrics(r, 3)
    assert got["hr"] == pytest.approx([1.0], abs=TOL)
    assert got["recall"] == pytest.approx([3 / 4], abs=TOL)
    assert got["mrr"] == pytest.approx([13 / 18], abs=TOL)


def test_tie_group_below_a_strictly_better_item():
    # one non-target strictly above, then the same group of 4 (2 targets): greater = 1, equal = 3.
    # K=3: HR = P(J <= 1) = 1/2 + 1/3 = 5/6; MRR = (1/2)(1/2) + (1/3)(1/3) = 13/36;
    # Recall = 2 * (2/4) / 2 = 1/2 (positions 1, 2 of the group's 1..4 are inside)
    r = rank_info([[1, 1]], [[3, 3]])
    got = all_metrics(r, 3)
    assert got["hr"] == pytest.approx([5 / 6], abs=TOL)
    assert got["mrr"] == pytest.approx([13 / 36], abs=TOL)
    assert got["recall"] == pytest.approx([1 / 2], abs=TOL)
    # NDCG@3: each target E[disc] = (1/4)(1/log2 3 + 1/log2 4); IDCG = 1 + 1/log2 3
    assert got["ndcg"] == pytest.approx([2 * (1 / math.log2(3) + 0.5) / 4 / (1 + 1 / math.log2(3))], abs=TOL)


def test_targets_in_different_tie_groups():
    # target A tied with 1 other at positions {2, 3} (greater 2, equal 1); target B alone at position 5.
    # K=3: HR = P(A at 2) = 1/2; MRR = (1/2)(1/3) = 1/6; Recall = (1/2)/2 = 1/4
    # K=6: HR = 1 (B always at 5); MRR = (1/2)(1/3) + (1/2)(1/4) = 7/24
    r = rank_info([[2, 5]], [[1, 0]])
    got = all_metrics(r, 3)
    assert got["hr"] == pytest.approx([1 / 2], abs=TOL)
    assert got["mrr"] == pytest.approx([1 / 6], abs=TOL)
    assert got["recall"] == pytest.approx([1 / 4], abs=TOL)
    got = all_metrics(r, 6)
    assert got["hr"] == pytest.approx([1.0], abs=TOL)
    assert got["mrr"] == pytest.approx([7 / 24], abs=TOL)
    assert got["recall"] == pytest.approx([1.0], abs=TOL)
    # NDCG@6 = ((1/2)(1/log2 4 + 1/log2 5) + 1/log2 7) / (1 + 1/log2 3)
    assert got["ndcg"] == pytest.approx(
        [(0.5 * (1 / math.log2(4) + 1 / math.log2(5)) + 1 / math.log2(7)) / (1 + 1 / math.log2(3))], abs=TOL)


# --------------------------------------------------------------------------------------------- brute force


def metrics_of_ordering(order: tuple[int, ...], targets: set[int], k: int) -> dict[str, float]:
    """The metrics of one concrete ranked list ``order`` (item ids, best first)."""
    hits = [p for p, item in enumerate(order) if item in targets and p < k]
    first = next((p for p, item in enumerate(order) if item in targets), None)
    idcg = sum(disc(p) for p in range(min(len(targets), k)))
    return {
        "hr": 1.0 if hits else 0.0,
        "recall": len(hits) / len(targets),
        "ndcg": sum(disc(p) for p in hits) / idcg,
        "mrr": 1.0 / (first + 1) if first is not None and first < k else 0.0,
    }


def brute_force(scores: np.ndarray, targets: list[int], k: int) -> dict[str, float]:
    """Average of the metrics over every tie-breaking of ``scores`` (all equally likely)."""
    levels = sorted(set(scores.tolist()), reverse=True)
    groups = [[i for i in range(len(scores)) if scores[i] == s] for s in levels]
    total = dict.fromkeys(METRIC_FNS, 0.0)
    count = 0
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        order = tuple(itertools.chain.from_iterable(perms))
        for name, value in metrics_of_ordering(order, set(targets), k).items():
            total[name] += value
        count += 1
    return {name: v / count for name, v in total.items()}


def rank_info_of(score_rows: list[np.ndarray], target_rows: list[list[int]]) -> RankInfo:
    """Count greater / equal by hand (padding with junk values where a user has fewer targets)."""
    width = max(len(t) for t in target_rows)
    g = np.full((len(score_rows), width), 7.0)
    e = np.full((len(score_rows), width), 3.0)
    v = np.zeros((len(score_rows), width), dtype=bool)
    for u, (s, ts) in enumerate(zip(score_rows, target_rows)):
        for j, t in enumerate(ts):
            g[u, j] = (s > s[t]).sum()
            e[u, j] = (s == s[t]).sum() - 1
            v[u, j] = True
    return RankInfo(torch.tensor(g), torch.tensor(e), torch.tensor(v),
                    torch.tensor([float(len(t)) for t in target_rows], dtype=torch.float64))


def random_tie_cases(seed: int, n_cases: int) -> tuple[list[np.ndarray], list[list[int]]]:
    """Small integer score vectors with many ties; 1-3 targets each; tie groups small enough to enumerate."""
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    tgts: list[list[int]] = []
    while len(rows) < n_cases:
        n = int(rng.integers(3, 9))
        s = rng.integers(0, int(rng.integers(2, 5)), size=n).astype(np.float64)
        # keep the number of orderings enumerable (product of group factorials)
        if math.prod(math.factorial(c) for c in np.unique(s, return_counts=True)[1]) > 3000:
            continue
        n_t = int(rng.integers(1, min(3, n) + 1))
        rows.append(s)
        tgts.append(sorted(rng.choice(n, size=n_t, replace=False).tolist()))
    return rows, tgts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tie_policy_matches_brute_force_enumeration(seed):
    rows, tgts = random_tie_cases(seed, 12)
    r = rank_info_of(rows, tgts)  # all users in one padded batch
    for k in (1, 2, 3, 5, 10):
        got = all_metrics(r, k)
        for u, (s, ts) in enumerate(zip(rows, tgts)):
            want = brute_force(s, ts, k)
            for name in METRIC_FNS:
                assert got[name][u] == pytest.approx(want[name], abs=TOL), (name, k, s.tolist(), ts)


def test_brute_force_hand_picked_heavy_ties():
    # every candidate tied (7 items, 3 targets) and a couple of mixed cases
    cases = [
        (np.zeros(7), [0, 3, 6]),
        (np.array([2.0, 2, 2, 1, 1, 1, 1, 0]), [3, 7]),
        (np.array([1.0, 1, 1, 1, 1, 1, 0, 0]), [6, 7]),
        (np.array([5.0, 4, 4, 4, 4, 3]), [1, 2, 5]),
    ]
    rows, tgts = [c[0] for c in cases], [c[1] for c in cases]
    r = rank_info_of(rows, tgts)
    for k in (1, 2, 4, 6, 9):
        got = all_metrics(r, k)
        for u, (s, ts) in enumerate(cases):
            want = brute_force(s, ts, k)
            for name in METRIC_FNS:
                assert got[name][u] == pytest.approx(want[name], abs=TOL), (name, k, s.tolist(), ts)


# --------------------------------------------------------------------------------------------- recbole


def test_matches_recbole_on_tie_free_rankings():
    pytest.importorskip("recbole")
    from mmbench.interop import recbole_compat

    recbole_compat.apply()  # RecBole 1.2.1's metrics still use numpy aliases removed in numpy 2
    metrics_mod = pytest.importorskip("recbole.evaluator.metrics")
    # tie-free rankings: RecBole's metric_info takes a [n_users, K] hit matrix and position lengths
    rng = np.random.default_rng(0)
    n_users, n_items, k = 20, 30, 10
    scores = [rng.permutation(n_items).astype(np.float64) for _ in range(n_users)]
    tgts = [sorted(rng.choice(n_items, size=int(rng.integers(1, 4)), replace=False).tolist()) for _ in range(n_users)]
    r = rank_info_of(scores, tgts)
    hits = np.zeros((n_users, k), dtype=bool)
    for u, (s, ts) in enumerate(zip(scores, tgts)):
        order = np.argsort(-s, kind="stable")[:k]
        hits[u] = np.isin(order, ts)
    pos_len = np.array([len(t) for t in tgts])
    cfg = {"topk": [k], "metric_decimal_place": 12}
    for ours, theirs in [(hit_rate, "Hit"), (recall, "Recall"), (ndcg, "NDCG"), (mrr, "MRR")]:
        metric = getattr(metrics_mod, theirs)(cfg)
        value = metric.metric_info(hits, pos_len) if theirs in ("Recall", "NDCG") else metric.metric_info(hits)
        np.testing.assert_allclose(ours(r, k).numpy(), value[:, k - 1], atol=1e-12)
