"""Full-ranking evaluation: golden values end to end, history masking, ties, batch invariance, errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.data.types import Pairs, Split
from mmbench.errors import MMBenchError
from mmbench.kinds import METRICS
from mmbench.registry import load_plugins
from mmbench.runner import evaluate as evaluate_mod
from mmbench.runner.evaluate import ScoreError, evaluate, evaluate_users, metric_columns

TOL = 1e-12
ALL = ("hr", "recall", "ndcg", "mrr")


@pytest.fixture(scope="module", autouse=True)
def _plugins() -> None:
    load_plugins(entry_points=False)


def ints(*xs: int) -> np.ndarray:
    return np.array(xs, dtype=np.int64)


def pairs(*ui: tuple[int, int]) -> Pairs:
    return Pairs(np.array([u for u, _ in ui], dtype=np.int64), np.array([i for _, i in ui], dtype=np.int64))


def split(n_users: int, n_items: int, train: Pairs, valid: Pairs, test: Pairs) -> Split:
    return Split(name="loo-time", dataset="toy", n_users=n_users, n_items=n_items, train=train, valid=valid, test=test)


def table_scorer(table: torch.Tensor):
    """A scorer reading fixed rows of ``table`` [n_users, n_items]: each row is the same in every batch."""
    return lambda users: table[users]


def disc(p: int) -> float:
    return 1.0 / math.log2(p + 2)


# --------------------------------------------------------------------------------------------- golden values

# items 0..11; the best-scored item 5 is the user's train item (masked at valid and test time)
GOLDEN_SCORES = {5: 100.0, 3: 50.0, 0: 40.0, 7: 30.0, 1: 20.0, 2: 19.0, 4: 18.0, 6: 17.0, 8: 16.0, 9: 15.0,
                 10: 14.0, 11: 13.0}


def golden_split() -> tuple[Split, torch.Tensor]:
    table = torch.tensor([[GOLDEN_SCORES[i] for i in range(12)]])
    # valid: candidates = all but {5}: order 3, 0, 7, 1, ... -> targets {3, 7} at positions 0 and 2
    # test: candidates = all but {5, 3, 7}: order 0, 1, 2, 4, ... -> targets {0, 2} at positions 0 and 2
    return split(1, 12, pairs((0, 5)), pairs((0, 3), (0, 7)), pairs((0, 0), (0, 2))), table


@pytest.mark.parametrize("part", ["valid", "test"])
def test_golden_ndcg_end_to_end(part):
    sp, table = golden_split()
    got = evaluate(table_scorer(table), sp, part, metrics=ALL, ks=[10])
    # NDCG@10 = (1/log2 2 + 1/log2 4) / (1/log2 2 + 1/log2 3)
    assert got["NDCG@10"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)), abs=TOL)
    assert got["HR@10"] == pytest.approx(1.0, abs=TOL)
    assert got["Recall@10"] == pytest.approx(1.0, abs=TOL)
    assert got["MRR@10"] == pytest.approx(1.0, abs=TOL)


def test_golden_small_k_end_to_end():
    sp, table = golden_split()
    got = evaluate(table_scorer(table), sp, "valid", metrics=ALL, ks=[1, 2, 3])
    # K=1: only position 0 inside -> recall 1/2; IDCG over min(2, 1) = 1 position = 1, so NDCG@1 = 1
    # K=2: still only position 0 -> recall 1/2, NDCG@2 = 1 / (1 + 1/log2 3); K=3: both inside
    assert got["Recall@1"] == pytest.approx(0.5, abs=TOL)
    assert got["NDCG@1"] == pytest.approx(1.0, abs=TOL)
    assert got["Recall@2"] == pytest.approx(0.5, abs=TOL)
    assert got["NDCG@2"] == pytest.approx(1 / (1 + 1 / math.log2(3)), abs=TOL)
    assert got["Recall@3"] == pytest.approx(1.0, abs=TOL)
    assert got["NDCG@3"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)), abs=TOL)


def test_output_columns_and_order():
    sp, table = golden_split()
    got = evaluate(table_scorer(table), sp, "valid", metrics=["ndcg", "hr"], ks=[10, 1])
    assert list(got) == ["NDCG@10", "NDCG@1", "HR@10", "HR@1"] == metric_columns(["ndcg", "hr"], [10, 1])
    assert all(type(v) is float for v in got.values())


def test_k_larger_than_candidate_list_end_to_end():
    # 8 items, 3 masked train items -> 5 candidates; scores descending by item id; target item 5 is
    # at candidate position 2 (candidates 3, 4, 5, 6, 7). K=20: HR = Recall = 1, NDCG = 1/log2(4) = 0.5, MRR = 1/3
    table = torch.arange(8, 0, -1, dtype=torch.float32)[None]
    sp = split(1, 8, pairs((0, 0), (0, 1), (0, 2)), pairs((0, 5)), pairs((0, 7)))
    got = evaluate(table_scorer(table), sp, "valid", metrics=ALL, ks=[20])
    assert got == pytest.approx({"HR@20": 1.0, "Recall@20": 1.0, "NDCG@20": 0.5, "MRR@20": 1 / 3}, abs=TOL)
    # test: candidates 3, 4, 6, 7 (5 is a valid item, masked) -> target 7 at position 3: NDCG = 1/log2(5), MRR = 1/4
    got = evaluate(table_scorer(table), sp, "test", metrics=ALL, ks=[20])
    assert got == pytest.approx({"HR@20": 1.0, "Recall@20": 1.0, "NDCG@20": 1 / math.log2(5), "MRR@20": 0.25}, abs=TOL)


def test_several_positives_end_to_end():
    # ratio-style user: 10 items scored 10..1 (item 0 best); valid targets items 1, 3, 5 (positions 1, 3, 5)
    table = torch.arange(10, 0, -1, dtype=torch.float32)[None]
    sp = split(1, 10, Pairs(ints(), ints()), pairs((0, 1), (0, 3), (0, 5)), pairs((0, 9)))
    got = evaluate(table_scorer(table), sp, "valid", metrics=ALL, ks=[2, 4])
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    # K=2: recall 1/3, HR 1, MRR 1/2, NDCG = (1/log2 3) / (1 + 1/log2 3) (IDCG over min(3, 2) = 2)
    assert got["Recall@2"] == pytest.approx(1 / 3, abs=TOL)
    assert got["HR@2"] == pytest.approx(1.0, abs=TOL)
    assert got["MRR@2"] == pytest.approx(0.5, abs=TOL)
    assert got["NDCG@2"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)), abs=TOL)
    # K=4: recall 2/3, NDCG = (1/log2 3 + 1/log2 5) / idcg3
    assert got["Recall@4"] == pytest.approx(2 / 3, abs=TOL)
    assert got["NDCG@4"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / idcg3, abs=TOL)
    # test part: the valid items are masked, so item 9 is at position 10 - 1 - 3 = 6
    got = evaluate(table_scorer(table), sp, "test", metrics=ALL, ks=[6, 7])
    assert got["HR@6"] == 0.0
    assert got["MRR@7"] == pytest.approx(1 / 7, abs=TOL)


def test_mean_is_over_users_with_targets_only():
    # 3 users; user 1 has no valid item. user 0 hits at position 0 (HR@1 = 1), user 2 misses (target at 1)
    table = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    sp = split(3, 3, Pairs(ints(), ints()), pairs((0, 0), (2, 1)), pairs((1, 2)))
    calls: list[list[int]] = []

    def scorer(users):
        calls.append(users.tolist())
        return table[users]

    got = evaluate(scorer, sp, "valid", metrics=["hr"], ks=[1])
    assert got == {"HR@1": 0.5}
    assert calls == [[0, 2]]  # only users with targets are scored


def test_scorer_is_called_in_batches_of_users():
    table = torch.rand(10, 6, generator=torch.Generator().manual_seed(0))
    sp = split(10, 6, Pairs(ints(), ints()), pairs(*[(u, u % 6) for u in range(10)]), Pairs(ints(), ints()))
    calls: list[list[int]] = []

    def scorer(users):
        assert users.dtype == torch.long
        calls.append(users.tolist())
        return table[users]

    evaluate(scorer, sp, "valid", metrics=["hr"], ks=[1], batch_size=4)
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_module_scorer_with_grad_parameters():
    # a scorer built from trainable parameters works (evaluation runs without autograd)
    torch.manual_seed(0)
    users_emb, items_emb = torch.nn.Embedding(4, 3), torch.nn.Embedding(7, 3)
    sp = split(4, 7, pairs((0, 1)), pairs((0, 2), (1, 3), (2, 4), (3, 5)), pairs((0, 6)))
    got = evaluate(lambda u: users_emb(u) @ items_emb.weight.T, sp, "valid", metrics=ALL, ks=[3])
    assert set(got) == {"HR@3", "Recall@3", "NDCG@3", "MRR@3"}
    assert all(0.0 <= v <= 1.0 for v in got.values())


# --------------------------------------------------------------------------------------------- ties


@pytest.mark.parametrize("part", ["valid", "test"])
def test_constant_scorer_gets_the_random_expectation(part):
    # 3 users, 40 items; train sizes 0, 5, 9 (user u's train items: 10 .. 10 + size); valid item 0 and test item 1
    # for everyone. Candidates at valid time: 40 - train size = 40, 35, 31; at test time one fewer (the
    # valid item is masked too): 39, 34, 30. With one target tied with all candidates, per user
    # HR@K = Recall@K = K/n, NDCG@K = (1/n) sum_{p<K} 1/log2(p+2), MRR@K = (1/n) sum_{p<K} 1/(p+1)
    sizes = [0, 5, 9]
    train = pairs(*[(u, 10 + j) for u, s in enumerate(sizes) for j in range(s)])
    sp = split(3, 40, train, pairs((0, 0), (1, 0), (2, 0)), pairs((0, 1), (1, 1), (2, 1)))
    ns = [40 - s - (part == "test") for s in sizes]
    ks = [1, 5, 10, 20]
    got = evaluate(lambda u: torch.zeros(len(u), 40), sp, part, metrics=ALL, ks=ks)
    for k in ks:
        assert got[f"HR@{k}"] == pytest.approx(np.mean([k / n for n in ns]), abs=TOL)
        assert got[f"Recall@{k}"] == pytest.approx(np.mean([k / n for n in ns]), abs=TOL)
        assert got[f"NDCG@{k}"] == pytest.approx(np.mean([sum(disc(p) for p in range(k)) / n for n in ns]), abs=TOL)
        assert got[f"MRR@{k}"] == pytest.approx(np.mean([sum(1 / (p + 1) for p in range(k)) / n for n in ns]), abs=TOL)


def test_partial_tie_end_to_end():
    # items scored 9, 8, 7 strictly above; target item 3 tied with items 4, 5 at score 5; rest lower.
    # Target position uniform on {3, 4, 5}; K=5: HR = 2/3, NDCG = (1/3)(1/log2 5 + 1/log2 6), MRR = 0.15
    table = torch.tensor([[9.0, 8.0, 7.0, 5.0, 5.0, 5.0, 1.0, 0.0]])
    sp = split(1, 8, Pairs(ints(), ints()), pairs((0, 3)), pairs((0, 7)))
    got = evaluate(table_scorer(table), sp, "valid", metrics=ALL, ks=[5])
    assert got["HR@5"] == pytest.approx(2 / 3, abs=TOL)
    assert got["Recall@5"] == pytest.approx(2 / 3, abs=TOL)
    assert got["NDCG@5"] == pytest.approx((1 / math.log2(5) + 1 / math.log2(6)) / 3, abs=TOL)
    assert got["MRR@5"] == pytest.approx(0.15, abs=TOL)


def test_two_targets_two_non_targets_tied_end_to_end():
    # all 4 items tied, targets 1 and 2: HR@1 = 1/2, HR@2 = 5/6, MRR@2 = 2/3, Recall@1 = 1/4
    sp = split(1, 4, Pairs(ints(), ints()), pairs((0, 1), (0, 2)), pairs((0, 0)))
    got = evaluate(lambda u: torch.ones(len(u), 4), sp, "valid", metrics=ALL, ks=[1, 2])
    assert got["HR@1"] == pytest.approx(1 / 2, abs=TOL)
    assert got["HR@2"] == pytest.approx(5 / 6, abs=TOL)
    assert got["MRR@2"] == pytest.approx(2 / 3, abs=TOL)
    assert got["Recall@1"] == pytest.approx(1 / 4, abs=TOL)
    assert got["NDCG@2"] == pytest.approx(1 / 2, abs=TOL)


def _brute_force_user(scores: np.ndarray, candidates: list[int], targets: set[int], k: int) -> dict[str, float]:
    """Average metrics over every tie-breaking of the candidates' scores (each ordering equally likely)."""
    levels = sorted({scores[i] for i in candidates}, reverse=True)
    groups = [[i for i in candidates if scores[i] == s] for s in levels]
    idcg = sum(disc(p) for p in range(min(len(targets), k)))
    total = dict.fromkeys(ALL, 0.0)
    count = 0
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        order = list(itertools.chain.from_iterable(perms))
        hits = [p for p, item in enumerate(order[:k]) if item in targets]
        total["hr"] += 1.0 if hits else 0.0
        total["recall"] += len(hits) / len(targets)
        total["ndcg"] += sum(disc(p) for p in hits) / idcg
        total["mrr"] += 1.0 / (hits[0] + 1) if hits else 0.0
        count += 1
    return {m: v / count for m, v in total.items()}


@pytest.mark.parametrize("n_threads", [1, 3], ids=["one-thread", "three-threads"])
@pytest.mark.parametrize("seed", [0, 1])
def test_ties_and_masking_match_brute_force(seed, n_threads):
    # 8 users x 9 items, integer scores in 0..3 (many ties); 0-3 train items, 1-3 valid and 1-2 test targets per
    # user, drawn with overlaps allowed between parts (a target is never masked). Expected per user = the average
    # over all tie-breakings of the non-masked candidates; the mean is over users. The targets are counted on one
    # thread, or shared out to three.
    threads = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        _check_ties_and_masking(seed)
    finally:
        torch.set_num_threads(threads)


def _check_ties_and_masking(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items = 8, 9
    table = rng.integers(0, 4, size=(n_users, n_items)).astype(np.float32)
    parts = {"train": [], "valid": [], "test": []}
    for u in range(n_users):
        for name, (lo, hi) in {"train": (0, 3), "valid": (1, 3), "test": (1, 2)}.items():
            for i in rng.choice(n_items, size=int(rng.integers(lo, hi + 1)), replace=False):
                parts[name].append((u, int(i)))
    sp = split(n_users, n_items, pairs(*parts["train"]), pairs(*parts["valid"]), pairs(*parts["test"]))
    for part in ("valid", "test"):
        hist_parts = ["train"] if part == "valid" else ["train", "valid"]
        ks = [1, 2, 3, 5, 10]
        got = evaluate(table_scorer(torch.from_numpy(table)), sp, part, metrics=ALL, ks=ks)
        users, values = evaluate_users(table_scorer(torch.from_numpy(table)), sp, part, metrics=ALL, ks=ks)
        assert users.tolist() == list(range(n_users))
        for k in ks:
            per_user = []
            for u in range(n_users):
                targets = {i for uu, i in parts[part] if uu == u}
                masked = {i for p in hist_parts for uu, i in parts[p] if uu == u} - targets
                candidates = [i for i in range(n_items) if i not in masked]
                per_user.append(_brute_force_user(table[u], candidates, targets, k))
            for m, label in zip(ALL, ("HR", "Recall", "NDCG", "MRR")):
                want = [d[m] for d in per_user]
                assert values[f"{label}@{k}"].tolist() == pytest.approx(want, abs=TOL), (part, m, k)
                assert got[f"{label}@{k}"] == pytest.approx(float(np.mean(want)), abs=TOL), (part, m, k)


# --------------------------------------------------------------------------------------------- masking


def test_valid_masks_train_and_test_masks_train_and_valid():
    # user 0: train {0, 1}, valid {2}, test {3}; scores descending by item id (item 0 best)
    table = torch.arange(6, 0, -1, dtype=torch.float32)[None]
    sp = split(1, 6, pairs((0, 0), (0, 1)), pairs((0, 2)), pairs((0, 3)))
    # valid: candidates 2, 3, 4, 5 -> target 2 at position 0 (would be 2 without masking)
    assert evaluate(table_scorer(table), sp, "valid", metrics=["mrr"], ks=[6]) == {"MRR@6": 1.0}
    # test: candidates 3, 4, 5 -> target 3 at position 0 (would be 3 without masking, 1 with train-only masking)
    assert evaluate(table_scorer(table), sp, "test", metrics=["mrr"], ks=[6]) == {"MRR@6": 1.0}


def test_test_items_are_not_masked_at_valid_time():
    # test item 0 is the best-scored; at valid time it is an ordinary candidate ranked above valid target 1
    table = torch.arange(4, 0, -1, dtype=torch.float32)[None]
    sp = split(1, 4, Pairs(ints(), ints()), pairs((0, 1)), pairs((0, 0)))
    assert evaluate(table_scorer(table), sp, "valid", metrics=["mrr"], ks=[4]) == {"MRR@4": 0.5}


def test_a_target_in_the_history_is_never_masked():
    # item 1 is in train and is the test target (a re-consumption); item 0 is in train and valid; test target 0
    # too. Scores descending by item id.
    table = torch.arange(6, 0, -1, dtype=torch.float32)[None]
    sp = split(1, 6, pairs((0, 0), (0, 1), (0, 4)), pairs((0, 0), (0, 3)), pairs((0, 0), (0, 1)))
    # valid: history {0, 1, 4} minus targets {0, 3} -> mask {1, 4}; candidates 0, 2, 3, 5 -> targets at 0 and 2
    got = evaluate(table_scorer(table), sp, "valid", metrics=["hr", "ndcg", "recall"], ks=[2])
    assert got["Recall@2"] == pytest.approx(0.5, abs=TOL)
    assert got["NDCG@2"] == pytest.approx(1 / (1 + 1 / math.log2(3)), abs=TOL)
    # test: history {0, 1, 3, 4} minus targets {0, 1} -> mask {3, 4}; candidates 0, 1, 2, 5 -> targets at 0, 1
    got = evaluate(table_scorer(table), sp, "test", metrics=["hr", "ndcg", "recall"], ks=[2])
    assert got == pytest.approx({"HR@2": 1.0, "NDCG@2": 1.0, "Recall@2": 1.0}, abs=TOL)


def test_history_masks_only_its_own_user():
    # user 0 has item 0 in train; user 1 does not: for user 1 item 0 stays a candidate above its target
    table = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    sp = split(2, 3, pairs((0, 0)), pairs((0, 1), (1, 1)), pairs((0, 2), (1, 2)))
    # user 0: candidates 1, 2 -> MRR 1; user 1: candidates 0, 1, 2 -> MRR 1/2; mean 3/4
    assert evaluate(table_scorer(table), sp, "valid", metrics=["mrr"], ks=[3]) == {"MRR@3": 0.75}


def test_duplicate_history_pairs_are_masked_once():
    # train holds (0, 0) twice: the counts must not change (candidates 1, 2, 3; target 3 at position 2)
    table = torch.arange(4, 0, -1, dtype=torch.float32)[None]
    sp = split(1, 4, pairs((0, 0), (0, 0)), pairs((0, 3)), pairs((0, 1)))
    got = evaluate(table_scorer(table), sp, "valid", metrics=["mrr", "hr"], ks=[3])
    assert got == pytest.approx({"MRR@3": 1 / 3, "HR@3": 1.0}, abs=TOL)


def test_target_scored_minus_inf_does_not_tie_with_masked_items():
    # masked history items are set to -inf internally; a scorer may itself put a target at -inf (e.g. the log of a
    # zero count). Items 0-3 are train (masked); candidates are items 4..9 (6 items) and target 9 is last:
    # position 5 exactly. HR@5 = 0, HR@6 = 1, MRR@6 = 1/6. Masked items must not count as tied candidates.
    table = torch.arange(10, 0, -1, dtype=torch.float32)[None]
    table[0, 9] = -torch.inf
    sp = split(1, 10, pairs((0, 0), (0, 1), (0, 2), (0, 3)), pairs((0, 9)), pairs((0, 8)))
    got = evaluate(table_scorer(table), sp, "valid", metrics=["hr", "mrr"], ks=[5, 6])
    assert got == pytest.approx({"HR@5": 0.0, "HR@6": 1.0, "MRR@5": 0.0, "MRR@6": 1 / 6}, abs=TOL)
    # a candidate also at -inf ties with the target (candidates 4, 5, 6, 8 finite at positions 0-3; 7 and 9 at
    # -inf): target position uniform on {4, 5}: HR@5 = 1/2, MRR@5 = (1/2)(1/5), MRR@6 = (1/2)(1/5 + 1/6)
    table[0, 7] = -torch.inf
    got = evaluate(table_scorer(table), sp, "valid", metrics=["hr", "mrr"], ks=[5, 6])
    assert got == pytest.approx({"HR@5": 0.5, "HR@6": 1.0, "MRR@5": 0.1, "MRR@6": (1 / 5 + 1 / 6) / 2}, abs=TOL)
    # padding slots of a batch must be unaffected: a second user with 3 targets shares the batch, and the first
    # user's padding slots point at item 0, which is masked (-inf) for it
    sp2 = split(2, 10, pairs((0, 0), (0, 1), (0, 2), (0, 3)), pairs((0, 9), (1, 0), (1, 1), (1, 2)), pairs((0, 8)))
    table2 = torch.cat([table, torch.arange(10, 0, -1, dtype=torch.float32)[None]])
    got = evaluate(table_scorer(table2), sp2, "valid", metrics=["hr", "mrr", "recall", "ndcg"], ks=[5, 6])
    # user 1: targets at positions 0, 1, 2 -> all metrics 1 at K=5, 6
    assert got == pytest.approx({"HR@5": 0.75, "HR@6": 1.0, "MRR@5": 0.55, "MRR@6": (1 + (1 / 5 + 1 / 6) / 2) / 2,
                                 "Recall@5": 0.75, "Recall@6": 1.0,
                                 "NDCG@5": (1 + 0.5 / math.log2(6)) / 2,
                                 "NDCG@6": (1 + 0.5 * (1 / math.log2(6) + 1 / math.log2(7))) / 2}, abs=TOL)


def _random_loo_split(rng: np.random.Generator, n_users: int, n_items: int, n_train: int) -> Split:
    """Each user: n_train random train items, then one valid and one test item outside train (distinct)."""
    tr_u, tr_i, va_i, te_i = [], [], [], []
    for u in range(n_users):
        items = rng.choice(n_items, size=n_train + 2, replace=False)
        tr_u += [u] * n_train
        tr_i += items[:n_train].tolist()
        va_i.append(int(items[-2]))
        te_i.append(int(items[-1]))
    users = np.arange(n_users, dtype=np.int64)
    return split(n_users, n_items, Pairs(np.array(tr_u, dtype=np.int64), np.array(tr_i, dtype=np.int64)),
                 Pairs(users, np.array(va_i, dtype=np.int64)), Pairs(users.copy(), np.array(te_i, dtype=np.int64)))


@pytest.mark.parametrize("part", ["valid", "test"])
def test_recommending_training_items_scores_only_the_constant_expectation(part):
    # 200 users x 500 items, 5..40 train items each. The scorer puts 1 on the user's train items, 0 elsewhere.
    # Train items are masked, so every candidate ties at 0: per user the constant-scorer expectation over
    # n_u = 500 - |masked| candidates, with |masked| = n_train (valid) or n_train + 1 (test).
    rng = np.random.default_rng(7)
    n_users, n_items = 200, 500
    sizes = rng.integers(5, 41, size=n_users)
    parts = [_random_loo_split(rng, 1, n_items, int(s)) for s in sizes]  # per-user train sizes
    sp = split(n_users, n_items,
               Pairs(np.concatenate([np.full(len(p.train), u) for u, p in enumerate(parts)]).astype(np.int64),
                     np.concatenate([p.train.item for p in parts])),
               Pairs(np.arange(n_users, dtype=np.int64), np.concatenate([p.valid.item for p in parts])),
               Pairs(np.arange(n_users, dtype=np.int64), np.concatenate([p.test.item for p in parts])))
    table = torch.zeros(n_users, n_items)
    table[torch.as_tensor(sp.train.user), torch.as_tensor(sp.train.item)] = 1.0
    ks = [1, 4, 10]
    got = evaluate(table_scorer(table), sp, part, metrics=ALL, ks=ks)
    ns = n_items - sizes - (part == "test")
    for k in ks:
        assert got[f"HR@{k}"] == pytest.approx(float(np.mean(k / ns)), abs=TOL)
        assert got[f"Recall@{k}"] == pytest.approx(float(np.mean(k / ns)), abs=TOL)
        assert got[f"NDCG@{k}"] == pytest.approx(float(np.mean(sum(disc(p) for p in range(k)) / ns)), abs=TOL)
        assert got[f"MRR@{k}"] == pytest.approx(float(np.mean(sum(1 / (p + 1) for p in range(k)) / ns)), abs=TOL)
    # tiny: HR@4 ~ 4/480, NDCG@10 ~ 4.5/480, MRR@10 ~ 2.9/480
    for col in ("HR@1", "HR@4", "Recall@4", "NDCG@10", "MRR@10"):
        assert got[col] < 0.01, col


# --------------------------------------------------------------------------------------------- batch invariance


def _random_mixed_split(seed: int, n_users: int, n_items: int) -> tuple[Split, torch.Tensor]:
    """LOO users (1 target) and ratio users (2-12 targets, overlapping history), some users with no targets."""
    rng = np.random.default_rng(seed)
    tr, va, te = [], [], []
    for u in range(n_users):
        kind = u % 3
        items = rng.choice(n_items, size=60, replace=False).tolist()
        n_train = int(rng.integers(0, 40))
        tr += [(u, i) for i in items[:n_train]]
        if kind == 0:  # leave-one-out
            va.append((u, items[n_train]))
            te.append((u, items[n_train + 1]))
        elif kind == 1:  # ratio: several targets per part
            nv, nt = int(rng.integers(2, 8)), int(rng.integers(2, 13))
            va += [(u, i) for i in items[n_train:n_train + nv]]
            te += [(u, i) for i in items[n_train + nv:n_train + nv + nt]]
            # a re-consumed item: a train item that is also a test target
            if n_train:
                te.append((u, items[0]))
        elif u % 2:  # no valid target, one test target
            te.append((u, items[n_train]))
    # integer scores: many ties; the table row of a user never depends on the batch it is scored in
    table = torch.from_numpy(rng.integers(0, 30, size=(n_users, n_items)).astype(np.float32))
    table[: n_users // 2] += torch.from_numpy(rng.random((n_users // 2, n_items)).astype(np.float32))
    return split(n_users, n_items, pairs(*tr), pairs(*va), pairs(*te)), table


@pytest.mark.parametrize("part", ["valid", "test"])
def test_batch_size_does_not_change_results(part):
    sp, table = _random_mixed_split(0, 300, 400)
    kw = dict(metrics=ALL, ks=[1, 5, 20])
    results = [evaluate(table_scorer(table), sp, part, batch_size=b, **kw) for b in (1, 257, 300, 10_000)]
    for r in results[1:]:
        assert r == results[0]  # exactly equal, not approximately
    assert 0.0 < results[0]["NDCG@20"] < 1.0


def test_threads_and_batches_do_not_change_results():
    sp, table = _random_mixed_split(1, 120, 200)
    kw = dict(metrics=ALL, ks=[1, 10, 20])
    want_users, want = evaluate_users(table_scorer(table), sp, "test", **kw)
    # one-target and several-target users mixed; the targets shared out to 1, 2 or 3 threads (uneven contiguous
    # ranges), in batches of 33 or all users. Per-user values exactly equal.
    threads = torch.get_num_threads()
    try:
        for batch_size, n_threads in [(4096, 3), (33, 1), (33, 2), (4096, 1)]:
            torch.set_num_threads(n_threads)
            users, got = evaluate_users(table_scorer(table), sp, "test", batch_size=batch_size, **kw)
            np.testing.assert_array_equal(users, want_users)
            for col in want:
                assert torch.equal(got[col], want[col]), (batch_size, n_threads, col)
    finally:
        torch.set_num_threads(threads)


def test_counts_equal_a_dense_comparison_on_several_threads(monkeypatch):
    # _count_all_items against numpy's dense [targets, items] comparison: rows with 1..6 targets, ties, -inf, and
    # float64 scores that float32 would merge (1 + 2^-40 vs 1); every worker writes only its own range.
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, size=(50, 40)).astype(np.float64)
    scores[::7, ::3] = -np.inf
    scores[1, :] = 1.0
    scores[1, 5] = 1.0 + 2.0 ** -40
    t_len = rng.integers(1, 7, size=50)
    t_rows = np.repeat(np.arange(50), t_len)
    t_cols = np.concatenate([rng.choice(40, n, replace=False) for n in t_len])
    t_cols[t_rows == 1] = np.arange(int(t_len[1]))  # row 1 targets 1.0 items only; item 5 is above them
    t_scores = scores[t_rows, t_cols]
    for n_threads in (1, 2, 4, 1000):
        monkeypatch.setattr(torch, "get_num_threads", lambda n=n_threads: n)
        gt, ge = evaluate_mod._count_all_items(scores, t_rows, t_scores)
        np.testing.assert_array_equal(gt, (scores[t_rows] > t_scores[:, None]).sum(1))
        np.testing.assert_array_equal(ge, (scores[t_rows] >= t_scores[:, None]).sum(1))
    assert gt[t_rows == 1].tolist() == [1] * int(t_len[1])


def test_score_dtype_and_order_of_pairs_do_not_matter():
    sp, table = _random_mixed_split(2, 60, 100)
    kw = dict(metrics=ALL, ks=[5, 20])
    want = evaluate(table_scorer(table), sp, "valid", **kw)
    # float16-representable integer scores given as float64 / int64 (ties preserved exactly)
    int_table = table.floor()
    want_int = evaluate(table_scorer(int_table), sp, "valid", **kw)
    assert evaluate(table_scorer(int_table.double()), sp, "valid", **kw) == want_int
    assert evaluate(table_scorer(int_table.long()), sp, "valid", **kw) == want_int
    # the same pairs in another row order
    rng = np.random.default_rng(0)

    def shuffled(p: Pairs) -> Pairs:
        o = rng.permutation(len(p))
        return Pairs(p.user[o], p.item[o])

    sp2 = Split(name=sp.name, dataset=sp.dataset, n_users=sp.n_users, n_items=sp.n_items,
                train=shuffled(sp.train), valid=shuffled(sp.valid), test=shuffled(sp.test))
    assert evaluate(table_scorer(table), sp2, "valid", **kw) == want


def test_metrics_run_on_one_torch_thread_and_the_setting_is_restored(isolated_registries):
    # torch's threads only slow the metrics' small per-batch tensors down (and badly so on a busy machine)
    seen: list[tuple[int, int]] = []

    def probe(ranks, k):
        seen.append((torch.get_num_threads(), scorer_threads[-1]))
        return ranks.greater[:, 0]

    METRICS.register("acme/threads-probe", probe, label="Probe", higher_is_better=False)
    scorer_threads: list[int] = []

    def scorer(users):
        scorer_threads.append(torch.get_num_threads())
        return table[users]

    sp, table = _random_mixed_split(6, 40, 80)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        evaluate(scorer, sp, "valid", metrics=["acme/threads-probe", "hr"], ks=[5], batch_size=7)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert len(seen) == len(scorer_threads) > 1
    assert seen == [(1, 2)] * len(seen)  # metrics on one thread, the scorer on the caller's two


# --------------------------------------------------------------------------------------------- per user


def test_evaluate_users_returns_the_users_with_targets_and_their_values():
    # as in test_mean_is_over_users_with_targets_only: user 1 has no valid item; user 0 hits, user 2 misses at K=1
    table = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    sp = split(3, 3, Pairs(ints(), ints()), pairs((2, 1), (0, 0)), pairs((1, 2)))
    users, values = evaluate_users(table_scorer(table), sp, "valid", metrics=["hr", "mrr"], ks=[1, 2])
    assert users.tolist() == [0, 2]
    assert list(values) == ["HR@1", "HR@2", "MRR@1", "MRR@2"]
    assert values["HR@1"].dtype == torch.float64
    assert values["HR@1"].tolist() == [1.0, 0.0]
    assert values["HR@2"].tolist() == [1.0, 1.0]
    assert values["MRR@2"].tolist() == [1.0, 0.5]


@pytest.mark.parametrize("part", ["valid", "test"])
def test_evaluate_is_the_mean_of_evaluate_users(part):
    sp, table = _random_mixed_split(3, 150, 120)
    kw = dict(metrics=ALL, ks=[1, 5, 20])
    users, values = evaluate_users(table_scorer(table), sp, part, **kw)
    got = evaluate(table_scorer(table), sp, part, **kw)
    # the users with targets in this part, increasing; some users have none
    np.testing.assert_array_equal(users, np.unique(getattr(sp, part).user))
    assert 0 < len(users) < sp.n_users and np.all(np.diff(users) > 0)
    assert list(values) == list(got) == metric_columns(ALL, [1, 5, 20])
    for col, v in values.items():
        assert v.dtype == torch.float64 and v.shape == (len(users),)
        assert float(v.mean()) == got[col]  # exactly
    assert values["NDCG@20"].min() == 0.0 < values["NDCG@20"].max()


@pytest.mark.parametrize("part", ["valid", "test"])
def test_per_user_values_do_not_depend_on_batch_size(part):
    sp, table = _random_mixed_split(4, 200, 150)
    kw = dict(metrics=ALL, ks=[1, 10])
    want_users, want = evaluate_users(table_scorer(table), sp, part, batch_size=10_000, **kw)
    for b in (1, 7, 64):
        users, got = evaluate_users(table_scorer(table), sp, part, batch_size=b, **kw)
        np.testing.assert_array_equal(users, want_users)
        for col in want:
            assert torch.equal(got[col], want[col]), (b, col)


# --------------------------------------------------------------------------------------------- errors


def test_wrong_shape_raises_score_error():
    sp, table = golden_split()
    with pytest.raises(ScoreError, match="shape"):
        evaluate(lambda u: table[u][:, :-1], sp, "valid", metrics=["hr"], ks=[10])
    with pytest.raises(ScoreError, match="shape"):
        evaluate(lambda u: table[0], sp, "valid", metrics=["hr"], ks=[10])
    with pytest.raises(ScoreError, match="shape"):
        evaluate(lambda u: table[u].T, sp, "valid", metrics=["hr"], ks=[10])


def test_nan_raises_score_error():
    sp, table = golden_split()
    bad = table.clone()
    bad[0, 3] = float("nan")
    with pytest.raises(ScoreError, match="NaN"):
        evaluate(table_scorer(bad), sp, "valid", metrics=["hr"], ks=[10])
    assert issubclass(ScoreError, MMBenchError)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("where", [(0, 0), (1, 517), (2, 999), (1, 3)])
def test_nan_anywhere_in_a_wide_batch_raises(dtype, where):
    # a single NaN at the start, middle or end of a row, in a target's column (item 3 of user 1) or not, next to
    # +-inf scores: vectorised reductions must not skip it
    table = torch.rand(3, 1000, generator=torch.Generator().manual_seed(0)).to(dtype)
    table[:, 10], table[:, 11] = torch.inf, -torch.inf
    sp = split(3, 1000, Pairs(ints(), ints()), pairs((0, 1), (1, 3), (2, 5)), pairs((0, 2)))
    evaluate(table_scorer(table), sp, "valid", metrics=["hr"], ks=[10])  # fine without the NaN
    table[where] = float("nan")
    with pytest.raises(ScoreError, match="NaN"):
        evaluate(table_scorer(table), sp, "valid", metrics=["hr"], ks=[10])


@pytest.mark.parametrize("part", ["train", "Valid", "all", ""])
def test_unknown_part_raises_value_error(part):
    sp, table = golden_split()
    with pytest.raises(ValueError, match="part"):
        evaluate(table_scorer(table), sp, part, metrics=["hr"], ks=[10])


def test_split_without_targets_raises():
    table = torch.zeros(2, 3)
    sp = split(2, 3, pairs((0, 0)), Pairs(ints(), ints()), pairs((1, 1)))
    with pytest.raises(MMBenchError, match="no valid interactions"):
        evaluate(table_scorer(table), sp, "valid", metrics=["hr"], ks=[1])
    sp = split(2, 3, pairs((0, 0)), pairs((1, 1)), Pairs(ints(), ints()))
    with pytest.raises(MMBenchError, match="no test interactions"):
        evaluate(table_scorer(table), sp, "test", metrics=["hr"], ks=[1])


def test_float64_scores_keep_their_precision():
    # two candidates that differ below float32 resolution must not be counted as tied with the target
    split = Split(name="loo-time", dataset="toy", n_users=1, n_items=3,
                  train=Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64)),
                  valid=Pairs(np.array([0]), np.array([0])), test=Pairs(np.array([0]), np.array([1])))
    scores = torch.tensor([[1.0 + 1e-12, 1.0, 0.5]], dtype=torch.float64)
    out = evaluate(lambda users: scores[users], split, "valid", metrics=["hr"], ks=[1])
    assert out["HR@1"] == 1.0


# --------------------------------------------------------------------------------------------- recbole


@pytest.fixture(scope="module")
def small_ratio_split() -> Split:
    """The same 400 Amazon Beauty users, split ratio-8-1-1: users with several targets."""
    return make_split("ratio-8-1-1", load_dataset("amazon-beauty", {"max_users": 400}).interactions)


def recbole_hits(scores: torch.Tensor, users: np.ndarray, history: Pairs, targets: Pairs, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """RecBole 1.2.1's full-sort hit matrix: ``Trainer._full_sort_batch_eval`` sets the history to -inf, then
    ``Collector.eval_batch_collect`` takes the top K and gathers a 0/1 positive matrix; plus positives per user."""
    scores = scores.clone()
    keep = np.isin(history.user, users)
    scores[np.searchsorted(users, history.user[keep]), history.item[keep]] = -torch.inf
    _, topk_idx = torch.topk(scores, k)
    pos_matrix = torch.zeros_like(scores, dtype=torch.int)
    pos_matrix[np.searchsorted(users, targets.user), targets.item] = 1
    return pos_matrix.gather(1, topk_idx).numpy(), pos_matrix.sum(1).numpy()


@pytest.mark.parametrize("part", ["valid", "test"])
@pytest.mark.parametrize("split_fixture", ["small_split", "small_ratio_split"])
def test_per_user_values_match_recbole_on_a_real_split(split_fixture, part, request):
    pytest.importorskip("recbole")
    from mmbench.interop import recbole_compat

    recbole_compat.apply()  # RecBole 1.2.1's metrics still use numpy aliases removed in numpy 2
    from recbole.evaluator import metrics as recbole_metrics

    sp: Split = request.getfixturevalue(split_fixture)
    ks = [5, 10, 20]
    targets = getattr(sp, part)
    history = sp.train if part == "valid" else Pairs(np.concatenate([sp.train.user, sp.valid.user]),
                                                     np.concatenate([sp.train.item, sp.valid.item]))
    # RecBole masks every earlier item, mmbench never masks a target: comparable only without re-consumptions
    assert not np.isin(targets.keys(sp.n_items), history.keys(sp.n_items)).any()
    # a tie-free scorer (continuous float64 noise) with the targets boosted by a random amount, so that they land
    # at every position of the top 20 and beyond
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(sp.n_users, sp.n_items, dtype=torch.float64, generator=gen)
    table[targets.user, targets.item] += 4.0 * torch.rand(len(targets), dtype=torch.float64, generator=gen)
    users, ours = evaluate_users(table_scorer(table), sp, part, metrics=ALL, ks=ks, batch_size=97)

    hits, pos_len = recbole_hits(table[users], users, history, targets, max(ks))
    assert 0.1 < hits[:, :5].any(1).mean() and hits.any(1).mean() < 0.9  # hits inside and outside the top K
    cfg = {"topk": ks, "metric_decimal_place": 12}
    theirs = {"HR": recbole_metrics.Hit(cfg).metric_info(hits),
              "Recall": recbole_metrics.Recall(cfg).metric_info(hits, pos_len),
              "NDCG": recbole_metrics.NDCG(cfg).metric_info(hits, pos_len),
              "MRR": recbole_metrics.MRR(cfg).metric_info(hits)}
    for label, value in theirs.items():
        for k in ks:
            np.testing.assert_allclose(ours[f"{label}@{k}"].numpy(), value[:, k - 1], rtol=0, atol=1e-6,
                                       err_msg=f"{label}@{k}")


def test_score_batches_stay_within_the_memory_block_whatever_the_catalogue(monkeypatch):
    """No users × items matrix: each call of the scorer gets at most BLOCK_ELEMENTS / n_items users (here a block of
    3,000 scores over 1,000 items: 3 users), and the metrics equal those of one batch of every user."""
    import mmbench.memory as memory

    data = load_dataset("amazon-beauty", {"max_users": 60})
    sp = make_split("loo-time", data.interactions)
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(sp.n_users, sp.n_items, generator=gen)
    sizes = []

    def scorer(users: torch.Tensor) -> torch.Tensor:
        sizes.append(len(users))
        return table[users]

    whole = evaluate(scorer, sp, "test", metrics=["hr", "ndcg", "recall"], ks=[5, 20], batch_size=4096)
    assert max(sizes) == len(np.unique(sp.test.user))  # one batch when the block is large
    monkeypatch.setattr(memory, "BLOCK_ELEMENTS", 3 * sp.n_items)
    sizes.clear()
    blocked = evaluate(scorer, sp, "test", metrics=["hr", "ndcg", "recall"], ks=[5, 20], batch_size=4096)
    assert max(sizes) == 3 and sum(sizes) == len(np.unique(sp.test.user))
    assert blocked == whole


def test_rows_per_block():
    from mmbench.memory import BLOCK_ELEMENTS, rows_per_block

    assert rows_per_block(962_732) == BLOCK_ELEMENTS // 962_732 == 69
    assert rows_per_block(12_101, cap=4096) == 4096  # a small catalogue keeps the asked batch size
    assert rows_per_block(10**9) == 1 and rows_per_block(0) == BLOCK_ELEMENTS
