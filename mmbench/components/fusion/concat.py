"""Concatenation fusion: the ID token and the modality tokens side by side, projected back to ``dim``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import nn

from mmbench.components.fusion._tokens import check_modalities, gather
from mmbench.kinds import register_fusion

_ACTIVATIONS = {"none": nn.Identity, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


@register_fusion("concat")
class ConcatFusion(nn.Module):
    """Concatenate the ID and modality tokens (missing ones as zeros) and project back with a linear layer.

    An unavailable modality's token is replaced by zeros with ``torch.where`` (never multiplied by the
    mask, so inf or NaN in a masked row cannot leak); its slice of the weight then sees exactly zero, and the
    item's output depends on its available tokens only. Without modalities this is a linear map of the ID.
    """

    def __init__(self, modalities: Sequence[str], dim: int, *,
                 activation: Literal["none", "relu", "gelu", "tanh"] = "none") -> None:
        """Args:
            modalities: the feature modality names, in a fixed order (runtime context).
            dim: the token size, in and out (runtime context).
            activation: nonlinearity after the projection: ``none``, ``relu``, ``gelu`` or ``tanh``.
        """
        super().__init__()
        self.modalities = check_modalities("concat", modalities, dim)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"concat: activation must be one of {list(_ACTIVATIONS)}, got {activation!r}")
        self.dim = dim
        self.proj = nn.Linear((1 + len(self.modalities)) * dim, dim)
        self.activation = _ACTIVATIONS[activation]()

    def forward(self, tokens: Mapping[str, torch.Tensor], available: Mapping[str, torch.Tensor]) -> torch.Tensor:
        id_token, modal, _ = gather("concat", self.modalities, self.dim, tokens, available)
        return self.activation(self.proj(torch.cat([id_token, *modal], dim=1)))
