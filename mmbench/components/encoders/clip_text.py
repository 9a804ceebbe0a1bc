"""CLIP's text tower (Radford et al., ICML 2021): text in the joint image-text space; needs the hub or a folder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from mmbench.components.encoders._hub import require
from mmbench.components.encoders._text import (
    LazyTextEncoder, TextBackbone, check_params, checkpoint_identity, load_backbone, new_stats)
from mmbench.kinds import register_encoder


def _projected(output: Any, mask: torch.Tensor) -> torch.Tensor:
    # CLIP pools at the end-of-text token inside the model, then projects into the joint space
    return output.text_embeds


@register_encoder("clip-text", consumes="text")
class CLIPTextEncoder(LazyTextEncoder):
    """CLIP text embeddings (the projection of the end-of-text token), comparable with CLIP image embeddings."""

    def __init__(self, *, model: str = "openai/clip-vit-base-patch32", revision: str | None = None,
                 normalize: bool = True, max_length: int = 77, batch_size: int = 64, device: str = "auto") -> None:
        """Args:
            model: a Hugging Face hub id of a CLIP checkpoint, or a local folder written by ``save_pretrained``.
            revision: hub branch, tag or commit; pin a commit for reproducible features.
            normalize: L2-normalise the embeddings (CLIP compares them by cosine).
            max_length: longest input in tokens (CLIP's positions stop at 77); longer texts are truncated.
            batch_size: texts per forward pass (speed and memory only; outputs do not change).
            device: ``"auto"`` (cuda when available, else cpu), ``"cpu"`` or ``"cuda[:N]"``.
        """
        require("transformers", "text", "encoder 'clip-text'")
        self._device = check_params("clip-text", batch_size=batch_size, max_length=max_length, device=device)
        self.model, self.revision, self.normalize = model, revision, normalize
        self.max_length, self.batch_size, self.pool = max_length, batch_size, _projected
        self.stats = new_stats()

    def _load(self) -> TextBackbone:
        return load_backbone(self.model, encoder="clip-text", revision=self.revision,
                             model_class="CLIPTextModelWithProjection", dim_attr="projection_dim",
                             max_length=self.max_length, device=self._device)

    def identity(self) -> Mapping[str, Any]:
        return {"encoder": "clip-text", "weights": checkpoint_identity(self.model, self.revision),
                "normalize": self.normalize, "max_length": self.max_length}
