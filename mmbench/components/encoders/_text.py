"""Shared by the text encoders: load a Hugging Face tokenizer + model, and the batched encoding loop.

The loop sorts texts by token length so that a batch pads little, truncates to what the model can take,
counts what it truncated, and writes each result back to its input's row. A missing text (``None`` or
blank) gets ``available=False`` and a zero row. Every text is encoded on its own (padding is masked), so
the output does not depend on the batch size or on how the inputs are split across ``encode`` calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mmbench.components.encoders._hub import (
    OFFLINE_TEXT, ensure_hub, files_digest, is_local, require, weight_files)
from mmbench.errors import EncoderError

# (model output, attention mask [b, t]) -> embeddings [b, d]
Pooling = Callable[[Any, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TextBackbone:
    """A loaded tokenizer and model, the longest input they take (in tokens) and the output width."""

    tokenizer: Any
    model: torch.nn.Module
    limit: int
    dim: int
    device: torch.device


def new_stats() -> dict[str, int]:
    """The counters an encoder accumulates across ``encode`` calls (read by the runner afterwards)."""
    return {"encoded": 0, "missing": 0, "truncated": 0}


def check_params(encoder: str, *, batch_size: int, max_length: int, device: str) -> torch.device:
    """Validate the shared params and resolve ``device`` (``"auto"``: cuda when available, else cpu)."""
    if batch_size < 1:
        raise EncoderError(f"encoder {encoder!r}: batch_size must be ≥ 1, got {batch_size}")
    if max_length < 2:  # room for the two special tokens every tokenizer here adds
        raise EncoderError(f"encoder {encoder!r}: max_length must be ≥ 2, got {max_length}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise EncoderError(f"encoder {encoder!r}: unknown device {device!r}; "
                           f"fix: use 'auto', 'cpu' or 'cuda[:N]'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise EncoderError(f"encoder {encoder!r}: device {device!r} requested but CUDA is not available; "
                           f"fix: use device 'auto' or 'cpu'")
    return resolved


def checkpoint_identity(model: str, revision: str | None) -> str:
    """What the feature cache keys a checkpoint on: a local folder by its weights' bytes, a hub id by revision."""
    if is_local(model):
        return files_digest(weight_files(model))
    return f"{model}@{revision or 'main'}"


def load_backbone(model: str, *, encoder: str, revision: str | None, model_class: str, dim_attr: str,
                  max_length: int, device: torch.device) -> TextBackbone:
    """Load tokenizer + ``transformers.<model_class>`` from a local folder or the hub (failing fast offline)."""
    transformers = require("transformers", "text", f"encoder {encoder!r}")
    if is_local(model):
        model = str(Path(model).expanduser())
    else:
        ensure_hub(model, encoder=encoder, revision=revision, cached_files=("config.json",),
                   alternatives=OFFLINE_TEXT)
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # a "Loading weights" bar in the middle of a run's log
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model, revision=revision)
        # float32 whatever the checkpoint stores: half precision on CPU is slow and changes the features
        net = getattr(transformers, model_class).from_pretrained(model, revision=revision, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        at = f" at revision {revision!r}" if revision else ""
        raise EncoderError(
            f"encoder {encoder!r}: cannot load {model!r}{at} ({exc}); fix: pass an existing hub id or a local "
            f"folder written by save_pretrained() with its tokenizer files, or use an offline encoder: "
            f"{OFFLINE_TEXT}") from exc
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    config = net.config
    # Past max_position_embeddings a model fails on indexing; tokenizers may also declare a smaller limit.
    limits = [max_length, tokenizer.model_max_length, getattr(config, "max_position_embeddings", None)]
    limit = min(int(x) for x in limits if isinstance(x, (int, float)) and x > 0)
    return TextBackbone(tokenizer, net.to(device).eval(), limit, int(getattr(config, dim_attr)), device)


def mean_pool(output: Any, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states over the attention mask (sentence-transformers' mean pooling)."""
    hidden = output.last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def cls_pool(output: Any, mask: torch.Tensor) -> torch.Tensor:
    """The state of the first token ([CLS])."""
    return output.last_hidden_state[:, 0]


def _present(text: object) -> bool:
    # pandas hands missing strings over as NaN; anything else that is not a string is a caller bug
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return False
    if not isinstance(text, str):
        raise EncoderError(f"text encoders take strings (or None for a missing text), got {type(text).__name__}: "
                           f"{text!r}")
    return bool(text.strip())


def encode_texts(texts: Sequence[str | None], backbone: TextBackbone, *, pool: Pooling, normalize: bool,
                 batch_size: int, stats: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Encode ``texts`` into ``(features [n, dim] float32, available [n] bool)``, updating ``stats``."""
    texts = list(texts)  # positional indexing below; a pandas Series would index by label
    available = np.fromiter((_present(t) for t in texts), dtype=np.bool_, count=len(texts))
    features = np.zeros((len(texts), backbone.dim), dtype=np.float32)
    rows = np.flatnonzero(available)
    stats["missing"] += int(len(texts) - len(rows))
    if not len(rows):
        return features, available
    present = [texts[i] for i in rows]
    tokenizer = backbone.tokenizer
    # Untruncated lengths: the sort key, and how many texts lose tokens (verbose=False: we count, not warn).
    lengths = [len(ids) for ids in tokenizer(present, truncation=False, verbose=False)["input_ids"]]
    stats["truncated"] += sum(n > backbone.limit for n in lengths)
    # longest first: a batch that does not fit in memory fails at once, not at the end of a long run
    order = np.argsort(-np.asarray(lengths), kind="stable")
    backbone.model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = tokenizer([present[j] for j in chunk], padding=True, truncation=True,
                              max_length=backbone.limit, return_tensors="pt").to(backbone.device)
            emb = pool(backbone.model(**batch), batch["attention_mask"]).float()
            if normalize:
                emb = F.normalize(emb, dim=-1)
            features[rows[chunk]] = emb.cpu().numpy()
    stats["encoded"] += len(rows)
    return features, available


class LazyTextEncoder:
    """Shared body of the Hugging Face text encoders: the backbone loads on first use, never for ``identity()``.

    A subclass sets ``batch_size``, ``normalize``, ``stats`` and ``pool`` in its constructor and implements
    ``_load()`` and ``identity()``; a feature-cache hit then needs neither the weights nor the network.
    """

    batch_size: int
    normalize: bool
    stats: dict[str, int]
    pool: Pooling
    _backbone: TextBackbone | None = None

    def _load(self) -> TextBackbone:
        raise NotImplementedError

    def _loaded(self) -> TextBackbone:
        if self._backbone is None:
            self._backbone = self._load()
        return self._backbone

    @property
    def dim(self) -> int:
        """Width of the features."""
        return self._loaded().dim

    def encode(self, inputs: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        return encode_texts(inputs, self._loaded(), pool=self.pool, normalize=self.normalize,
                            batch_size=self.batch_size, stats=self.stats)
