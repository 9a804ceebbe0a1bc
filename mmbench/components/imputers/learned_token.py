"""Learned-token imputation: a missing modality's feature row becomes one trainable vector."""

from __future__ import annotations

import math

import torch
from torch import nn

from mmbench.components.imputers._rows import check_dim, check_inputs, fill
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_imputer


@register_imputer("learned-token")
class LearnedTokenImputer(nn.Module):
    """Fill each unavailable row with one trainable vector (a "missing modality" token), learned with the model.

    The token starts small and random (normal, ``init_std``, drawn from the global torch RNG, so the run's
    seed fixes it) and receives gradients from every item that lacks the modality.
    """

    def __init__(self, dim: int, *, init_std: float = 0.02) -> None:
        """Args:
            dim: the feature size (runtime context).
            init_std: standard deviation of the token's normal initialisation (0 starts it at zeros).
        """
        super().__init__()
        self.dim = check_dim("learned-token", dim)
        if not (isinstance(init_std, (int, float)) and math.isfinite(init_std) and init_std >= 0):
            raise ValueError(f"learned-token: init_std must be a finite number ≥ 0, got {init_std!r}")
        self.token = nn.Parameter(torch.empty(dim))
        nn.init.normal_(self.token, std=float(init_std))

    def impute(self, features: torch.Tensor, available: torch.Tensor, graph: TrainGraph) -> torch.Tensor:
        check_inputs("learned-token", self.dim, features, available)
        return fill(features, available, self.token)
