"""Contrastive (InfoNCE) distillation of embeddings, in-batch, with the teacher's similarities as soft targets."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from mmbench.components.distill.embedding import identity_projection
from mmbench.kinds import register_distill_loss


@register_distill_loss("contrastive")
class ContrastiveLoss(nn.Module):
    """Contrastive KD: InfoNCE of projected student rows against the teacher's in-batch rows, soft targets.

    InfoNCE (van den Oord et al., "Representation Learning with Contrastive Predictive Coding", 2018) as
    used for representation distillation by CRD (Tian et al., "Contrastive Representation Distillation",
    ICLR 2020), on the batch's users and on its items (mean of the two). Row i of the projected student
    p(s_i) is scored against every teacher row t_j of the same batch by cosine similarity over τ.

    Choice: the target is not the one-hot "j = i" of standard InfoNCE but the teacher's own in-batch
    similarity distribution: loss_i = KL(softmax_j(t̂_i·t̂_j/τ) ‖ softmax_j(p̂_i·t̂_j/τ)) with x̂ = x/‖x‖.
    So the loss is a divergence (≥ 0): exactly 0 when the student equals the teacher (equal dims, identity
    projection), positive when its rows point elsewhere, and it does not push apart genuinely similar rows
    (e.g. duplicate items). As τ → 0 the target tends to one-hot on j = i (its entropy to 0) and the loss to
    standard InfoNCE. A batch of one row has nothing to contrast and gives 0.
    """

    def __init__(self, student_dim: int, teacher_dim: int, *, temperature: float = 0.1) -> None:
        """Args:
            student_dim: the student's embedding size (runtime context).
            teacher_dim: the teacher's embedding size (runtime context).
            temperature: τ > 0 of the softmax over cosine similarities (in [-1, 1]); smaller is sharper.
        """
        super().__init__()
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"contrastive: temperature must be a finite number > 0, got {temperature!r}; "
                             "try 0.1")
        self.temperature = float(temperature)
        self.n_top = 0
        self.n_sampled = 0
        self.proj = identity_projection(student_dim, teacher_dim)

    def forward(self, student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]) -> torch.Tensor:
        terms = [self._info_kl(self.proj(student[key]), teacher[key].detach()) for key in ("users", "items")]
        return (terms[0] + terms[1]) / 2

    def _info_kl(self, projected: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p, t = F.normalize(projected, dim=1), F.normalize(target, dim=1)
        log_q = F.log_softmax(p @ t.T / self.temperature, dim=1)
        log_target = F.log_softmax(t @ t.T / self.temperature, dim=1)
        return F.kl_div(log_q, log_target, reduction="none", log_target=True).sum(1).mean()
