"""Relaxed Ranking Distillation, the RRD of DE-RRD (Kang et al., CIKM 2020)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from mmbench.kinds import register_distill_loss


@register_distill_loss("rrd")
class RRDLoss(nn.Module):
    """Relaxed ranking distillation: Plackett–Luce likelihood of the teacher's top-K order above sampled items.

    Kang, Hwang, Kweon & Yu, "DE-RRD: A Knowledge Distillation Framework for Recommender System", CIKM 2020.
    The teacher's top-K items ("interesting", in the teacher's order π) must be ranked in that order and
    above the sampled ("uninteresting") items, whose order among themselves is ignored::

        loss = -Σ_{k=1..K} [ s_{π_k} - log( Σ_{i=k..K} exp s_{π_i} + Σ_{j sampled} exp s_j ) ]

    on the student's scores s, computed with logsumexp; mean over users. A likelihood loss: always > 0, and
    of all orderings of a set of scores, the teacher's order (the scores sorted) scores lowest. The paper
    samples the K interesting items from the teacher's top-N with rank-discounted probabilities; here they
    are the teacher's top K, which the authors later found works better (README of
    github.com/SeongKu-Kang/DE-RRD_CIKM20). Defaults follow that repository's ``main_URRD.py``: K = 40
    interesting and L = 40 uninteresting items.
    """

    def __init__(self, student_dim: int, teacher_dim: int, *, top_k: int = 40, samples: int = 40) -> None:
        """Args:
            student_dim: the student's embedding size (runtime context; unused: this loss reads scores).
            teacher_dim: the teacher's embedding size (runtime context; unused).
            top_k: K, how many of the teacher's top items are ranked (interesting items).
            samples: L, how many sampled items the interesting ones must beat (uninteresting items).
        """
        super().__init__()
        problems = []
        if top_k < 1:
            problems.append(f"top_k must be ≥ 1, got {top_k!r}; try 40")
        if samples < 1:
            problems.append(f"samples must be ≥ 1 (the uninteresting items), got {samples!r}; try 40")
        if problems:
            raise ValueError("rrd: " + "; ".join(problems))
        self.n_top = top_k
        self.n_sampled = samples

    def forward(self, student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]) -> torch.Tensor:
        scores, n_top = student["scores"], int(teacher["n_top"])
        if n_top < self.n_top or scores.shape[1] - n_top < self.n_sampled:
            raise ValueError(f"rrd: needs {self.n_top} top and {self.n_sampled} sampled columns, got "
                             f"{n_top} top and {scores.shape[1] - n_top} sampled")
        top = scores[:, :self.n_top]
        below = torch.logsumexp(scores[:, n_top:n_top + self.n_sampled], dim=1, keepdim=True)
        rest = torch.logcumsumexp(top.flip(1), dim=1).flip(1)  # log Σ_{i≥k} exp s_{π_i}
        return -(top - torch.logaddexp(rest, below)).sum(1).mean()
