"""Zero imputation: a missing modality's feature row becomes the zero vector."""

from __future__ import annotations

import torch
from torch import nn

from mmbench.components.imputers._rows import check_dim, check_inputs, fill
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_imputer


@register_imputer("zero")
class ZeroImputer(nn.Module):
    """Fill each unavailable row with zeros."""

    def __init__(self, dim: int) -> None:
        """Args:
            dim: the feature size (runtime context).
        """
        super().__init__()
        self.dim = check_dim("zero", dim)

    def impute(self, features: torch.Tensor, available: torch.Tensor, graph: TrainGraph) -> torch.Tensor:
        check_inputs("zero", self.dim, features, available)
        return fill(features, available, torch.zeros((), dtype=features.dtype, device=features.device))
