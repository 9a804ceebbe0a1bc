"""Listwise KL distillation: Hinton's temperature-scaled soft targets over each user's candidate items."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from mmbench.kinds import register_distill_loss


@register_distill_loss("listwise-kl")
class ListwiseKLLoss(nn.Module):
    """Listwise KD: τ²·KL(softmax(teacher/τ) ‖ softmax(student/τ)) over the candidate items, mean over users.

    Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network" (NIPS 2014 workshop), with a
    user's candidate items in place of the classes: the teacher's first ``top_k`` top items and the first
    ``samples`` sampled ones. The τ² factor keeps the gradients' scale independent of τ. A divergence:
    exactly 0 when the student's scores equal the teacher's (or differ from them by a per-user constant).
    The teacher's scores are targets, never differentiated.
    """

    def __init__(self, student_dim: int, teacher_dim: int, *, temperature: float = 1.0, top_k: int = 20,
                 samples: int = 100) -> None:
        """Args:
            student_dim: the student's embedding size (runtime context; unused: this loss reads scores).
            teacher_dim: the teacher's embedding size (runtime context; unused).
            temperature: softmax temperature τ > 0; higher spreads the targets over more items.
            top_k: how many of the teacher's top items enter the candidate set.
            samples: how many uniformly sampled items enter the candidate set.
        """
        super().__init__()
        problems = []
        if not (math.isfinite(temperature) and temperature > 0):
            problems.append(f"temperature must be a finite number > 0, got {temperature!r}; try 1.0")
        if top_k < 0 or samples < 0 or top_k + samples < 2:
            problems.append(f"top_k and samples must be ≥ 0 with top_k + samples ≥ 2 (a softmax over one item "
                            f"is constant), got top_k={top_k!r}, samples={samples!r}; try top_k=20, samples=100")
        if problems:
            raise ValueError("listwise-kl: " + "; ".join(problems))
        self.temperature = float(temperature)
        self.n_top = top_k
        self.n_sampled = samples

    def forward(self, student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]) -> torch.Tensor:
        n_top = int(teacher["n_top"])
        s = self._candidates(student["scores"], n_top)
        t = self._candidates(teacher["scores"].detach(), n_top)
        log_p_t = F.log_softmax(t / self.temperature, dim=1)
        log_p_s = F.log_softmax(s / self.temperature, dim=1)
        kl = F.kl_div(log_p_s, log_p_t, reduction="none", log_target=True).sum(1)
        return kl.mean() * self.temperature**2

    def _candidates(self, scores: torch.Tensor, n_top: int) -> torch.Tensor:
        if n_top < self.n_top or scores.shape[1] - n_top < self.n_sampled:
            raise ValueError(f"listwise-kl: needs {self.n_top} top and {self.n_sampled} sampled columns, got "
                             f"{n_top} top and {scores.shape[1] - n_top} sampled")
        return torch.cat([scores[:, :self.n_top], scores[:, n_top:n_top + self.n_sampled]], dim=1)
