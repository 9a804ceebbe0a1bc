"""Mean imputation: a missing modality's feature row becomes the mean of the available rows."""

from __future__ import annotations

import torch
from torch import nn

from mmbench.components.imputers._rows import check_dim, check_inputs, fill, masked_mean
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_imputer


@register_imputer("mean")
class MeanImputer(nn.Module):
    """Fill each unavailable row with the mean of the available rows (zeros if no row is available).

    The mean is taken over the rows passed in, i.e. over all items of the catalogue with the modality; it
    uses no interaction data, so no split can leak into it.
    """

    def __init__(self, dim: int) -> None:
        """Args:
            dim: the feature size (runtime context).
        """
        super().__init__()
        self.dim = check_dim("mean", dim)

    def impute(self, features: torch.Tensor, available: torch.Tensor, graph: TrainGraph) -> torch.Tensor:
        check_inputs("mean", self.dim, features, available)
        return fill(features, available, masked_mean(features, available))
