"""Full-ranking evaluation over all items, batched in torch, with history masking (PROTOCOL rules 1–4, 7).

Valid is ranked against all items minus the user's train items; test against all items minus train ∪ valid.
A target item is never masked, even if the user also has it in an earlier part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from mmbench.data.types import Pairs, Split
from mmbench.errors import MMBenchError
from mmbench.kinds import METRICS
from mmbench.metrics.ranking import RankInfo

Scorer = Callable[[torch.Tensor], torch.Tensor]
# bound on B * T * n_items comparisons held at once
_CMP_BUDGET = 1 << 26


class ScoreError(MMBenchError):
    """A model produced scores that cannot be ranked (wrong shape, NaN)."""


def _csr(pairs: Pairs, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((pairs.item, pairs.user))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(pairs.user, minlength=n_users), out=indptr[1:])
    return indptr, pairs.item[order].astype(np.int64)


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
    if part not in ("valid", "test"):
        raise ValueError(f"part must be 'valid' or 'test', got {part!r}")
    targets = split.valid if part == "valid" else split.test
    history = split.train if part == "valid" else _concat([split.train, split.valid])
    n_users, n_items = split.n_users, split.n_items
    # drop history pairs that are also targets: a target is never masked
    hist_keys = np.setdiff1d(history.keys(n_items), targets.keys(n_items), assume_unique=False)
    hist = Pairs(hist_keys // n_items, hist_keys % n_items)
    h_ptr, h_items = _csr(hist, n_users)
    t_ptr, t_items = _csr(targets, n_users)
    users = np.flatnonzero(np.diff(t_ptr) > 0)
    if len(users) == 0:
        raise MMBenchError(f"split {split.name!r} of {split.dataset!r} has no {part} interactions to evaluate")

    entries = [(METRICS.entry(m).obj, METRICS.entry(m).meta["label"]) for m in metrics]
    per_user: dict[str, list[torch.Tensor]] = {f"{label}@{k}": [] for _, label in entries for k in ks}
    for start in range(0, len(users), batch_size):
        ub = users[start:start + batch_size]
        ranks = rank_batch(score, ub, n_items, h_ptr, h_items, t_ptr, t_items)
        for fn, label in entries:
            for k in ks:
                per_user[f"{label}@{k}"].append(fn(ranks, k))
    # one float64 sum over all users in user order: the same value for every batch size
    return {col: float(torch.cat(vals).sum() / len(users)) for col, vals in per_user.items()}


def rank_batch(score: Scorer, users: np.ndarray, n_items: int, h_ptr: np.ndarray, h_items: np.ndarray,
               t_ptr: np.ndarray, t_items: np.ndarray) -> RankInfo:
    """Score ``users``, mask their history and count, per target, higher and equal candidates."""
    with torch.inference_mode():
        scores = score(torch.as_tensor(users, dtype=torch.long))
        if scores.shape != (len(users), n_items):
            raise ScoreError(f"score() returned shape {tuple(scores.shape)}, expected {(len(users), n_items)}")
        scores = scores.detach().cpu()
        # float64 stays float64 (no spurious ties); half precision and integers are upcast exactly
        scores = scores.clone() if scores.dtype in (torch.float32, torch.float64) else scores.float()
        if torch.isnan(scores).any():
            raise ScoreError("score() returned NaN; the model diverged (lower the learning rate or check inputs)")
        h_cols, h_len = _gather_rows(h_ptr, h_items, users)
        h_rows = np.repeat(np.arange(len(users)), h_len)
        scores[torch.as_tensor(h_rows), torch.as_tensor(h_cols)] = -torch.inf

        t_cols, t_len = _gather_rows(t_ptr, t_items, users)
        width = int(t_len.max())
        tgt = np.zeros((len(users), width), dtype=np.int64)
        valid = np.arange(width)[None, :] < t_len[:, None]
        tgt[valid] = t_cols
        tgt_t, valid_t = torch.as_tensor(tgt), torch.as_tensor(valid)
        t_scores = scores.gather(1, tgt_t)

        greater = torch.empty(tgt_t.shape, dtype=torch.float64)
        equal = torch.empty(tgt_t.shape, dtype=torch.float64)
        rows = max(1, _CMP_BUDGET // max(1, width * n_items))
        for s in range(0, len(users), rows):
            sc, ts = scores[s:s + rows, None, :], t_scores[s:s + rows, :, None]
            greater[s:s + rows] = (sc > ts).sum(-1, dtype=torch.float64)
            equal[s:s + rows] = (sc == ts).sum(-1, dtype=torch.float64) - 1.0
        # masked items sit at -inf and are not candidates: a target the model itself scored -inf must not tie
        # with them (the masked items of a user are distinct and exclude its targets, so there are h_len of them)
        equal -= torch.as_tensor(h_len, dtype=torch.float64)[:, None] * ((t_scores == -torch.inf) & valid_t)
        return RankInfo(greater, equal, valid_t, torch.as_tensor(t_len, dtype=torch.float64))
