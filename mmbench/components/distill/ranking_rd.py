"""Ranking Distillation (Tang & Wang, KDD 2018): the teacher's top-K items as weighted positives."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from mmbench.kinds import register_distill_loss


@register_distill_loss("ranking-rd")
class RankingRDLoss(nn.Module):
    """Ranking Distillation: -Σ_r w_r·log σ(student score of the teacher's r-th item), mean over users.

    Tang & Wang, "Ranking Distillation: Learning Compact Ranking Models With High Performance for
    Recommender System", KDD 2018. The teacher's top-K items are positives for the student, weighted by

    * position importance (the paper's Eq. 8): w_r^a = e^{-r/λ} / Σ_{i≤K} e^{-i/λ}, r = 1..K;
    * ranking discrepancy (Eq. 9): w_r^b = tanh(max(μ·(r̂_r - r), 0)), where r̂_r is the student's rank of
      that item, estimated from the sampled items as in the paper: 1 + ⌊n_items · (share of the sampled
      items the student scores strictly above it)⌋;
    * hybrid: w_r = w_r^a·w_r^b (``dynamic=True``), not renormalised, as in the authors' code
      (github.com/graytowne/rank_distill); ``dynamic=False`` uses w_r^a alone. The weights are constants
      (no gradient). A student that ranks every top item at or above the teacher's rank gets weight 0.

    Left out: the paper's warm-up (position weights alone for the first epochs), as a loss sees no epochs;
    at initialisation the student ranks the teacher's items near n_items/2, so w^b ≈ 1 anyway. The
    ground-truth ranking loss and its negatives are the student's own training loss, not part of this term.
    Defaults follow the authors' code: K = 10, λ = 1, μ = 0.1, 100 samples.
    """

    def __init__(self, student_dim: int, teacher_dim: int, *, top_k: int = 10, lam: float = 1.0,
                 dynamic: bool = True, mu: float = 0.1, samples: int = 100) -> None:
        """Args:
            student_dim: the student's embedding size (runtime context; unused: this loss reads scores).
            teacher_dim: the teacher's embedding size (runtime context; unused).
            top_k: K, how many of the teacher's top items are positives.
            lam: λ > 0, sharpness of the position weights (smaller puts more weight on the first items).
            dynamic: multiply by the ranking-discrepancy weights (the paper's hybrid weighting).
            mu: μ > 0, sharpness of the ranking-discrepancy weights (used when ``dynamic``).
            samples: how many sampled items estimate the student's ranks (used when ``dynamic``).
        """
        super().__init__()
        problems = []
        if top_k < 1:
            problems.append(f"top_k must be ≥ 1, got {top_k!r}; try 10")
        if not (math.isfinite(lam) and lam > 0):
            problems.append(f"lam must be a finite number > 0, got {lam!r}; try 1.0")
        if dynamic and not (math.isfinite(mu) and mu > 0):
            problems.append(f"mu must be a finite number > 0, got {mu!r}; try 0.1 (or set dynamic: false)")
        if dynamic and samples < 1:
            problems.append(f"samples must be ≥ 1 to estimate ranks, got {samples!r}; try 100 "
                            "(or set dynamic: false)")
        if problems:
            raise ValueError("ranking-rd: " + "; ".join(problems))
        self.dynamic, self.mu = dynamic, float(mu)
        self.n_top = top_k
        self.n_sampled = samples if dynamic else 0
        position = torch.exp(-torch.arange(1, top_k + 1, dtype=torch.float32) / lam)
        self.register_buffer("position_weight", position / position.sum(), persistent=False)

    def forward(self, student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]) -> torch.Tensor:
        scores, n_top = student["scores"], int(teacher["n_top"])
        if n_top < self.n_top or scores.shape[1] - n_top < self.n_sampled:
            raise ValueError(f"ranking-rd: needs {self.n_top} top and {self.n_sampled} sampled columns, got "
                             f"{n_top} top and {scores.shape[1] - n_top} sampled")
        top = scores[:, :self.n_top]
        weight = self.position_weight.to(top.dtype)
        if self.dynamic:
            weight = weight * self._discrepancy(top, scores[:, n_top:n_top + self.n_sampled], teacher["n_items"])
        return -(weight * F.logsigmoid(top)).sum(1).mean()

    @torch.no_grad()
    def _discrepancy(self, top: torch.Tensor, sampled: torch.Tensor, n_items: torch.Tensor) -> torch.Tensor:
        share = (sampled[:, None, :] > top[:, :, None]).to(top.dtype).mean(-1)
        student_rank = 1 + torch.floor(float(n_items) * share)
        teacher_rank = torch.arange(1, top.shape[1] + 1, dtype=top.dtype, device=top.device)
        return torch.tanh((self.mu * (student_rank - teacher_rank)).clamp(min=0))
