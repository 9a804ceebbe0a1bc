"""Gated fusion: each modality adds its token to the ID token through a learned element-wise gate."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from mmbench.components.fusion._tokens import check_modalities, gather
from mmbench.kinds import register_fusion


@register_fusion("gated")
class GatedFusion(nn.Module):
    """ID token plus each available modality's token through a learned element-wise gate.

    ``out = id + Σ_{available m} sigmoid(W_m [id; t_m] + b_m) ⊙ t_m``.

    Each modality has its own gate, computed from the item's ID token and that modality's token, so an item
    can lean on text for one dimension and on the image for another. An unavailable modality's token is
    replaced by zeros (``torch.where``) before its gate is computed, so its term is exactly zero and neither
    its values nor their gradients reach the item. The sum is not normalised by the number of available
    modalities: the gates learn the scale, and an item without any modality keeps its ID token unchanged.
    """

    def __init__(self, modalities: Sequence[str], dim: int, *, gate_bias: float = 0.0) -> None:
        """Args:
            modalities: the feature modality names, in a fixed order (runtime context).
            dim: the token size, in and out (runtime context).
            gate_bias: initial bias of every gate (0 opens gates halfway, negative values start them closed).
        """
        super().__init__()
        self.modalities = check_modalities("gated", modalities, dim)
        if not math.isfinite(gate_bias):
            raise ValueError(f"gated: gate_bias must be a finite number, got {gate_bias!r}")
        self.dim = dim
        # A ModuleList indexed like ``modalities``: names such as "feature:a.b" are not valid ModuleDict keys.
        self.gates = nn.ModuleList(nn.Linear(2 * dim, dim) for _ in self.modalities)
        for gate in self.gates:
            nn.init.constant_(gate.bias, float(gate_bias))

    def forward(self, tokens: Mapping[str, torch.Tensor], available: Mapping[str, torch.Tensor]) -> torch.Tensor:
        id_token, modal, _ = gather("gated", self.modalities, self.dim, tokens, available)
        out = id_token
        for gate, token in zip(self.gates, modal):
            out = out + torch.sigmoid(gate(torch.cat([id_token, token], dim=1))) * token
        return out
