"""BERT-style text encoder (Devlin et al., NAACL 2019): any transformers encoder checkpoint, hub id or folder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from mmbench.components.encoders._hub import require
from mmbench.components.encoders._text import (
    LazyTextEncoder, TextBackbone, check_params, checkpoint_identity, cls_pool, load_backbone, mean_pool, new_stats)
from mmbench.errors import EncoderError
from mmbench.kinds import register_encoder

_POOLS = {"mean": mean_pool, "cls": cls_pool}


@register_encoder("bert", consumes="text")
class BertTextEncoder(LazyTextEncoder):
    """A transformers encoder (BERT, RoBERTa, …) pooled over its last hidden states; needs the hub or a folder."""

    def __init__(self, *, model: str = "bert-base-uncased", revision: str | None = None,
                 pooling: Literal["mean", "cls"] = "mean", normalize: bool = False, max_length: int = 512,
                 batch_size: int = 32, device: str = "auto") -> None:
        """Args:
            model: a Hugging Face hub id or a local folder written by ``save_pretrained`` (with tokenizer files).
            revision: hub branch, tag or commit; pin a commit for reproducible features.
            pooling: ``"mean"`` over the attention mask, or ``"cls"`` (the first token's state).
            normalize: L2-normalise the pooled vectors.
            max_length: longest input in tokens (capped by the model's own limit); longer texts are truncated.
            batch_size: texts per forward pass (speed and memory only; outputs do not change).
            device: ``"auto"`` (cuda when available, else cpu), ``"cpu"`` or ``"cuda[:N]"``.
        """
        if pooling not in _POOLS:
            raise EncoderError(f"encoder 'bert': pooling must be one of {sorted(_POOLS)}, got {pooling!r}")
        require("transformers", "text", "encoder 'bert'")
        self._device = check_params("bert", batch_size=batch_size, max_length=max_length, device=device)
        self.model, self.revision, self.pooling, self.normalize = model, revision, pooling, normalize
        self.max_length, self.batch_size, self.pool = max_length, batch_size, _POOLS[pooling]
        self.stats = new_stats()

    def _load(self) -> TextBackbone:
        return load_backbone(self.model, encoder="bert", revision=self.revision, model_class="AutoModel",
                             dim_attr="hidden_size", max_length=self.max_length, device=self._device)

    def identity(self) -> Mapping[str, Any]:
        return {"encoder": "bert", "weights": checkpoint_identity(self.model, self.revision),
                "pooling": self.pooling, "normalize": self.normalize, "max_length": self.max_length}
