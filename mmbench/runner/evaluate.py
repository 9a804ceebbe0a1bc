"""Full-ranking evaluation over all items, in batches of users, with history masking (PROTOCOL rules 1–4, 7).

Valid is ranked against all items minus the user's train items; test against all items minus train ∪ valid.
A target item is never masked, even if the user also has it in an earlier part.

Speed: beyond computing the scores, the evaluator reads them from memory twice (the NaN check, then the
comparisons) and never copies or writes them. Masking is subtractive: each target is compared with *all* items,
then the comparisons with the user's few masked items (their gathered scores) are taken back. Each target is
compared with its own score row (a view, never a copy) and the flat result counted: numpy counts a flat boolean
array several times faster than along an axis of a 2-D one (``tests/benchmarks/test_bench_evaluate.py``: all
Gowalla test users, 7.3 targets each, took 5.05 s against 7.85 s when each block of targets was counted along an
axis), and a row stays in the CPU cache between its two comparisons. They run in
numpy, one thread per core, each on its own targets: torch would split every small comparison across its
threads, which then wait for each other thousands of times per batch; fine on an idle machine, but several times
slower as soon as other processes use the cores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch

from mmbench.data.types import Pairs, Split
from mmbench.errors import MMBenchError
from mmbench.kinds import METRICS
from mmbench.memory import rows_per_block
from mmbench.metrics.ranking import RankInfo

Scorer = Callable[[torch.Tensor], torch.Tensor]


class ScoreError(MMBenchError):
    """A model produced scores that cannot be ranked (wrong shape, NaN)."""


def _csr(keys: np.ndarray, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-user rows of sorted pair keys ``user * n_items + item`` (``Pairs.keys``): indptr and items."""
    return np.searchsorted(keys, np.arange(n_users + 1, dtype=np.int64) * n_items), keys % n_items


def _gather_rows(indptr: np.ndarray, data: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated CSR rows ``rows`` (vectorised) and their lengths."""
    starts, lens = indptr[rows], indptr[rows + 1] - indptr[rows]
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return data[offsets + np.arange(int(lens.sum()))], lens


def _concat(parts: Sequence[Pairs]) -> Pairs:
    return Pairs(np.concatenate([p.user for p in parts]), np.concatenate([p.item for p in parts]))


def metric_columns(metrics: Sequence[str], ks: Sequence[int]) -> list[str]:
    """Column names such as ``NDCG@10`` in the order metrics × ks."""
    return [f"{METRICS.entry(m).meta['label']}@{k}" for m in metrics for k in ks]


def evaluate(score: Scorer, split: Split, part: str, *, metrics: Sequence[str], ks: Sequence[int],
             batch_size: int = 4096) -> dict[str, float]:
    """Mean of each metric@K over the users that have targets in ``part`` (``"valid"`` or ``"test"``)."""
    _, values = evaluate_users(score, split, part, metrics=metrics, ks=ks, batch_size=batch_size)
    # one float64 reduction over all users in user order: the same value for every batch size
    return {col: float(v.mean()) for col, v in values.items()}


def evaluate_users(score: Scorer, split: Split, part: str, *, metrics: Sequence[str], ks: Sequence[int],
                   batch_size: int = 4096, keep: np.ndarray | None = None
                   ) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """Each metric@K per user, for paired comparisons of two models on the same users.

    Args:
        score: ``score(users)`` returns ``[len(users), n_items]`` scores (higher is better).
        split: the split whose ``part`` is ranked; its earlier parts are the masked history.
        part: ``"valid"`` (train masked) or ``"test"`` (train ∪ valid masked).
        metrics: registered metric names, e.g. ``["hr", "ndcg"]``.
        ks: cut-offs.
        batch_size: users scored per call of ``score`` (fewer when a batch of scores would exceed
            :data:`mmbench.memory.BLOCK_ELEMENTS`, so memory stays bounded on a large catalogue); results do
            not depend on it.
        keep: a slice of the part (bool per pair of ``part``): only these pairs are targets; the part's other
            pairs are masked like history, so they are neither targets nor candidates (a user's metric on a
            slice ranks its slice targets among the items it has not interacted with).

    Returns:
        ``(users, values)``: the users that have targets in ``part``, in increasing order, and for each column
        of :func:`metric_columns` a float64 tensor with one value per user, aligned with ``users``.
    """
    if part not in ("valid", "test"):
        raise ValueError(f"part must be 'valid' or 'test', got {part!r}")
    targets = split.valid if part == "valid" else split.test
    history = split.train if part == "valid" else _concat([split.train, split.valid])
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (len(targets),):
            raise ValueError(f"keep has shape {keep.shape}; expected ({len(targets)},), one flag per {part} pair")
        history = _concat([history, Pairs(targets.user[~keep], targets.item[~keep])])
        targets = Pairs(targets.user[keep], targets.item[keep])
    n_users, n_items = split.n_users, split.n_items
    t_keys, h_keys = targets.keys(n_items), history.keys(n_items)
    # distinct history pairs (a repeated interaction is masked once), minus the targets: a target is never masked
    h_keys = h_keys[(np.diff(h_keys, prepend=-1) > 0) & ~np.isin(h_keys, t_keys)]
    h_ptr, h_items = _csr(h_keys, n_users, n_items)
    t_ptr, t_items = _csr(t_keys, n_users, n_items)
    users = np.flatnonzero(np.diff(t_ptr) > 0)
    if len(users) == 0:
        raise MMBenchError(f"split {split.name!r} of {split.dataset!r} has no {part} interactions to evaluate")

    entries = [(METRICS.entry(m).obj, METRICS.entry(m).meta["label"]) for m in metrics]
    per_user: dict[str, list[torch.Tensor]] = {f"{label}@{k}": [] for _, label in entries for k in ks}
    batch_size = rows_per_block(n_items, cap=batch_size)
    for start in range(0, len(users), batch_size):
        ub = users[start:start + batch_size]
        ranks = rank_batch(score, ub, n_items, h_ptr, h_items, t_ptr, t_items)
        with _one_thread():
            for fn, label in entries:
                for k in ks:
                    per_user[f"{label}@{k}"].append(fn(ranks, k))
    return users, {col: torch.cat(vals) for col, vals in per_user.items()}


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread: for the metrics, whose tensors hold one value per user of a batch.

    torch splits even such small element-wise ops (lgamma, exp on 4,096 values) across its threads, and each split
    waits for all of them: harmless on an idle machine (one thread is faster still), but milliseconds per op when
    other processes hold the cores, seconds per evaluation. Element-wise results do not depend on the threads.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _count_all_items(scores: np.ndarray, t_rows: np.ndarray, t_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Items scored above (``gt``) and at least as high as (``ge``) each target, over all items of its row.

    One flat comparison and one count per target and relation, on the target's score row as a view. The targets
    are shared out in contiguous ranges to as many Python threads as torch may use (numpy releases the GIL while
    it compares and counts).
    """
    n_pairs = len(t_rows)
    gt = np.empty(n_pairs, dtype=np.int64)
    ge = np.empty(n_pairs, dtype=np.int64)
    rows = t_rows.tolist()

    def count(start: int, end: int) -> None:
        for i in range(start, end):
            row, t = scores[rows[i]], t_scores[i]  # t keeps the scores' dtype: exact comparisons
            gt[i] = np.count_nonzero(row > t)
            ge[i] = np.count_nonzero(row >= t)

    workers = max(1, min(torch.get_num_threads(), n_pairs))
    bounds = [n_pairs * w // workers for w in range(workers + 1)]
    if workers == 1:
        count(0, n_pairs)
    else:  # every worker writes its own range of gt and ge
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(count, bounds[:-1], bounds[1:]))
    return gt, ge


def rank_batch(score: Scorer, users: np.ndarray, n_items: int, h_ptr: np.ndarray, h_items: np.ndarray,
               t_ptr: np.ndarray, t_items: np.ndarray) -> RankInfo:
    """Score ``users`` and count, per target, the candidates scored higher and equal (history excluded)."""
    with torch.inference_mode():
        scores_t = score(torch.as_tensor(users, dtype=torch.long))
        if scores_t.shape != (len(users), n_items):
            raise ScoreError(f"score() returned shape {tuple(scores_t.shape)}, expected {(len(users), n_items)}")
        scores_t = scores_t.detach().cpu()
        # float64 stays float64 (no spurious ties); half precision and integers are upcast exactly
        if scores_t.dtype not in (torch.float32, torch.float64):
            scores_t = scores_t.float()
    scores = scores_t.numpy()  # a view, not a copy
    # max propagates NaN: one read-only reduction instead of a boolean isnan() matrix
    if np.isnan(scores.max()):
        raise ScoreError("score() returned NaN; the model diverged (lower the learning rate or check inputs)")

    rows = np.arange(len(users))
    t_cols, t_len = _gather_rows(t_ptr, t_items, users)
    t_rows = np.repeat(rows, t_len)
    t_scores = scores[t_rows, t_cols]
    gt, ge = _count_all_items(scores, t_rows, t_scores)
    # every target counts itself in ge (it is not NaN), never as a tie of its own
    eq = ge - gt - 1

    # Masked items are not candidates: take their comparisons back. The user's masked items are distinct and
    # exclude its targets, so each was counted exactly once above. Removing them (rather than setting them to
    # -inf) also keeps a target the model itself scored -inf from tying with them.
    h_cols, h_len = _gather_rows(h_ptr, h_items, users)
    h_scores = scores[np.repeat(rows, h_len), h_cols]
    # every (target, masked item of the same user) pair; h_ptr_b indexes h_scores by batch row
    h_ptr_b = np.concatenate([[0], np.cumsum(h_len)])
    h_idx, per_target = _gather_rows(h_ptr_b, np.arange(len(h_cols)), t_rows)
    owner = np.repeat(np.arange(len(t_rows)), per_target)
    hs, ts = h_scores[h_idx], t_scores[owner]
    gt -= np.bincount(owner[hs > ts], minlength=len(t_rows))
    eq -= np.bincount(owner[hs == ts], minlength=len(t_rows))

    # [B, T] layout for the metrics, T = most targets of a user in the batch; padding slots hold zeros
    width = int(t_len.max())
    valid = np.arange(width)[None, :] < t_len[:, None]
    greater = np.zeros(valid.shape)
    equal = np.zeros(valid.shape)
    greater[valid] = gt
    equal[valid] = eq
    return RankInfo(torch.from_numpy(greater), torch.from_numpy(equal), torch.from_numpy(valid),
                    torch.as_tensor(t_len, dtype=torch.float64))
