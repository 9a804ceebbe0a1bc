"""Embedding distillation: the student's user and item embeddings, projected, regress the teacher's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mmbench.kinds import register_distill_loss

_METRICS = ("mse", "cosine")


def identity_projection(student_dim: int, teacher_dim: int) -> nn.Linear:
    """A linear map student_dim → teacher_dim that starts as the (rectangular) identity, bias 0.

    Equal dims: exactly the identity, so a student equal to the teacher starts at loss 0. Otherwise the
    student's coordinates are copied into the first teacher coordinates (zero-padded or truncated).
    """
    if student_dim < 1 or teacher_dim < 1:
        raise ValueError(f"embedding sizes must be ≥ 1, got student_dim={student_dim!r}, "
                         f"teacher_dim={teacher_dim!r}")
    proj = nn.Linear(student_dim, teacher_dim)
    nn.init.eye_(proj.weight)
    nn.init.zeros_(proj.bias)
    return proj


@register_distill_loss("embedding")
class EmbeddingLoss(nn.Module):
    """Embedding KD: a learned projection of the student's embeddings regresses the teacher's (MSE or cosine).

    FitNets-style hint regression (Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015) on the
    recommender's embeddings, as in the latent-knowledge distillation of DE-RRD (Kang et al., CIKM 2020)
    with one linear "expert". One projection serves users and items (they share the score space,
    ``score = users @ items.T``); the loss is the mean of the user term and the item term, each averaged
    over rows. ``mse``: mean squared error per coordinate; ``cosine``: mean of 1 - cos(projected, teacher),
    computed as ‖a/‖a‖ - b/‖b‖‖²/2 so it is exactly 0 for equal vectors. A divergence: 0 when the student
    equals the teacher (equal dims, identity projection). The teacher's embeddings are targets only.
    """

    def __init__(self, student_dim: int, teacher_dim: int, *, metric: Literal["mse", "cosine"] = "mse",
                 normalize: bool = False) -> None:
        """Args:
            student_dim: the student's embedding size (runtime context).
            teacher_dim: the teacher's embedding size (runtime context).
            metric: ``mse`` (squared error) or ``cosine`` (1 - cosine similarity).
            normalize: with ``mse``, L2-normalise both sides first (compare directions, not norms).
        """
        super().__init__()
        if metric not in _METRICS:
            raise ValueError(f"embedding: metric must be one of {list(_METRICS)}, got {metric!r}; "
                             "use 'mse' or 'cosine'")
        self.metric, self.normalize = metric, normalize
        self.n_top = 0
        self.n_sampled = 0
        self.proj = identity_projection(student_dim, teacher_dim)

    def forward(self, student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]) -> torch.Tensor:
        terms = [self._align(self.proj(student[key]), teacher[key].detach()) for key in ("users", "items")]
        return (terms[0] + terms[1]) / 2

    def _align(self, projected: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.metric == "cosine":
            diff = F.normalize(projected, dim=1) - F.normalize(target, dim=1)
            return diff.square().sum(1).mean() / 2
        if self.normalize:
            projected, target = F.normalize(projected, dim=1), F.normalize(target, dim=1)
        return F.mse_loss(projected, target)
