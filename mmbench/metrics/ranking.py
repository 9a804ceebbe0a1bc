"""Full-ranking metrics as pure functions of each target item's rank, with an exact tie policy.

**Tie policy: random tie-breaking, evaluated in expectation.** For each target item we count the candidate
items scored strictly higher (``greater``) and the other candidates scored exactly the same (``equal``).
Breaking ties uniformly at random puts the target at a position uniform in ``[greater, greater + equal]``;
every metric below is the exact expectation over that randomness. So a constant scorer gets precisely the
random-ranking expectation (HR@K = K / n_candidates for one target), never a lucky index order, and no
random numbers are drawn: results are deterministic and independent of the evaluation batch size.

Candidates are all items except the masked history (PROTOCOL rule 2). NDCG's ideal DCG uses
``min(n_relevant, K)`` (rule 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmbench.kinds import register_metric


@dataclass(frozen=True)
class RankInfo:
    """Rank facts of a batch of users with up to ``T`` target items each (float64 tensors).

    Attributes:
        greater: ``[B, T]`` candidates scored strictly above each target.
        equal: ``[B, T]`` other candidates scored exactly like each target.
        valid: ``[B, T]`` False on padding (users with fewer than ``T`` targets).
        n_relevant: ``[B]`` number of targets per user.
    """

    greater: torch.Tensor
    equal: torch.Tensor
    valid: torch.Tensor
    n_relevant: torch.Tensor


def _discount_prefix(k: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``D[m] = sum_{p < m} 1 / log2(p + 2)`` for ``m = 0..k``."""
    disc = 1.0 / torch.log2(torch.arange(k, dtype=dtype) + 2.0)
    return torch.cat([torch.zeros(1, dtype=dtype), torch.cumsum(disc, 0)])


def _prob_in_top(r: RankInfo, k: int) -> torch.Tensor:
    """``P(position < k)`` per target under random tie-breaking."""
    inside = (k - r.greater).clamp(min=0.0)
    return torch.minimum(inside, r.equal + 1.0) / (r.equal + 1.0) * r.valid


def _first_target(r: RankInfo) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best-ranked target's ``greater`` ``g``, its tie-group size ``n`` and the targets ``m`` in that group."""
    big = torch.finfo(r.greater.dtype).max
    g_all = torch.where(r.valid, r.greater, torch.full_like(r.greater, big))
    g, idx = g_all.min(dim=1)
    n = r.equal.gather(1, idx[:, None]).squeeze(1) + 1.0
    m = ((g_all == g[:, None]) & r.valid).sum(1).to(g.dtype)
    return g, n, m


def _survival(n: torch.Tensor, m: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """``P(J >= j)`` where J is the first of m targets' offset in a random order of a tie group of n."""
    j = j.clamp(min=0.0)
    ok = j <= n - m
    jj = torch.where(ok, j, torch.zeros_like(j))
    log_p = (torch.lgamma(n - jj + 1) - torch.lgamma(n - jj - m + 1)
             - torch.lgamma(n + 1) + torch.lgamma(n - m + 1))
    return torch.where(ok, torch.exp(log_p), torch.zeros_like(j))


@register_metric("hr", label="HR", higher_is_better=True)
def hit_rate(ranks: RankInfo, k: int) -> torch.Tensor:
    """Hit rate: 1 if any target is in the top K."""
    g, n, m = _first_target(ranks)
    return torch.where(g < k, 1.0 - _survival(n, m, k - g), torch.zeros_like(g))


@register_metric("recall", label="Recall", higher_is_better=True)
def recall(ranks: RankInfo, k: int) -> torch.Tensor:
    """Recall: share of a user's targets in the top K."""
    return _prob_in_top(ranks, k).sum(1) / ranks.n_relevant


@register_metric("ndcg", label="NDCG", higher_is_better=True)
def ndcg(ranks: RankInfo, k: int) -> torch.Tensor:
    """NDCG with binary relevance; ideal DCG from min(n_relevant, K) (never from the retrieved list)."""
    d = _discount_prefix(k, ranks.greater.dtype)
    lo = ranks.greater.clamp(max=k).long()
    hi = (ranks.greater + ranks.equal + 1).clamp(max=k).long()
    dcg = ((d[hi] - d[lo]) / (ranks.equal + 1.0) * ranks.valid).sum(1)
    idcg = d[ranks.n_relevant.clamp(max=k).long()]
    return dcg / idcg


@register_metric("mrr", label="MRR", higher_is_better=True)
def mrr(ranks: RankInfo, k: int) -> torch.Tensor:
    """Reciprocal rank of the first target within the top K (0 if none)."""
    g, n, m = _first_target(ranks)
    out = torch.zeros_like(g)
    # P(J = j) = P(J >= j) - P(J >= j + 1): each survival value is computed once and carried to the next offset
    surv = _survival(n, m, torch.zeros_like(g))
    for j in range(k):
        surv_next = _survival(n, m, torch.full_like(g, float(j + 1)))
        out += torch.where(g + j < k, (surv - surv_next) / (g + j + 1.0), torch.zeros_like(g))
        surv = surv_next
    return out
