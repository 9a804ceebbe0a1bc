"""Cross-attention fusion: the ID token attends over the item's own tokens (ID and modalities)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from mmbench.components.fusion._tokens import check_modalities, gather
from mmbench.kinds import register_fusion


@register_fusion("cross-attention")
class CrossAttentionFusion(nn.Module):
    """One pre-norm transformer block in which the item's ID token attends over its ID and modality tokens.

    Each item is a sequence ``[id, m_1, …, m_M]`` plus a learned token-type embedding per position.
    Unavailable modalities are excluded through ``key_padding_mask`` (they get no attention weight; the ID
    position is never masked, so every item attends to something); their rows are also zeroed with
    ``torch.where`` first, so inf or NaN there cannot turn ``0 × value`` into NaN. The block is pre-norm
    without a final norm: ``x = h_id + Attn(LN(h_id), LN(h), LN(h))`` then ``out = x + FFN(LN(x))``, where
    ``h`` is tokens plus type embeddings. The output is the ID position's output: the ID embedding refined
    by the modalities, on its own scale, which suits dot-product scoring. Only the ID position is computed
    as a query — with one block that is the same output at a fraction of the cost.
    """

    def __init__(self, modalities: Sequence[str], dim: int, *, heads: int = 4, dropout: float = 0.0,
                 ffn_mult: int = 2) -> None:
        """Args:
            modalities: the feature modality names, in a fixed order (runtime context).
            dim: the token size, in and out (runtime context); must be divisible by ``heads``.
            heads: number of attention heads.
            dropout: dropout on the attention weights, the FFN's hidden layer and both residual branches.
            ffn_mult: hidden size of the feed-forward network, as a multiple of ``dim``.
        """
        super().__init__()
        self.modalities = check_modalities("cross-attention", modalities, dim)
        if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 or dim % heads:
            raise ValueError(f"cross-attention: heads must be a positive integer that divides dim={dim}, "
                             f"got heads={heads!r}")
        if not (isinstance(dropout, (int, float)) and math.isfinite(dropout) and 0.0 <= dropout < 1.0):
            raise ValueError(f"cross-attention: dropout must be in [0, 1), got {dropout!r}")
        if isinstance(ffn_mult, bool) or not isinstance(ffn_mult, int) or ffn_mult < 1:
            raise ValueError(f"cross-attention: ffn_mult must be an integer ≥ 1, got {ffn_mult!r}")
        self.dim = dim
        self.type_embedding = nn.Parameter(torch.empty(1 + len(self.modalities), dim))
        nn.init.normal_(self.type_embedding, std=0.02)
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_mult * dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_mult * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, tokens: Mapping[str, torch.Tensor], available: Mapping[str, torch.Tensor]) -> torch.Tensor:
        id_token, modal, masks = gather("cross-attention", self.modalities, self.dim, tokens, available)
        h = torch.stack([id_token, *modal], dim=1) + self.type_embedding  # [n, 1 + M, dim]
        normed = self.norm_attn(h)
        id_always = torch.zeros_like(id_token[:, :1], dtype=torch.bool)
        ignore = torch.cat([id_always, *(~m for m in masks)], dim=1)  # True = not attended
        attended, _ = self.attn(normed[:, :1], normed, normed, key_padding_mask=ignore, need_weights=False)
        x = h[:, 0] + self.drop(attended[:, 0])
        return x + self.drop(self.ffn(self.norm_ffn(x)))
