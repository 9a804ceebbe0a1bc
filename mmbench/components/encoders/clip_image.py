"""CLIP image embeddings (Radford et al., ICML 2021) through Hugging Face transformers."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mmbench.components.encoders._hub import (OFFLINE_IMAGE, ensure_hub, files_digest, hub_reachable, is_local,
                                              require, weight_files)
from mmbench.components.encoders._image import ImageLoop, LazyImageEncoder, jsonable, new_stats
from mmbench.errors import EncoderError
from mmbench.kinds import register_encoder

# The processor settings that change pixels; bookkeeping keys (class names, versions) stay out of the identity.
PREPROCESS_KEYS = ("do_convert_rgb", "do_resize", "size", "resample", "do_center_crop", "crop_size",
                   "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std")


@register_encoder("clip-image", consumes="image")
class CLIPImageEncoder(LazyImageEncoder):
    """CLIP vision tower's projected image embeddings (``image_embeds``), from the hub or a local folder."""

    def __init__(self, *, model: str = "openai/clip-vit-base-patch32", revision: str | None = None,
                 normalize: bool = True, batch_size: int = 32, device: str = "auto") -> None:
        """Args:
            model: a hub repository id, or a local folder written by ``save_pretrained()`` (works offline).
            revision: hub revision (branch, tag or commit) of ``model``; ``None`` is ``main``.
            normalize: L2-normalise each embedding, as CLIP does before its cosine similarities.
            batch_size: images per forward pass (does not change the features).
            device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda:N"``.
        """
        require("transformers", "text", "the clip-image encoder")
        if batch_size < 1:
            raise EncoderError(f"clip-image: batch_size must be ≥ 1, got {batch_size}")
        self._model_name, self.revision, self.normalize = model, revision, normalize
        self.batch_size, self._device = batch_size, device
        self.stats = new_stats()
        # Known without loading any weights, so a feature-cache hit works offline: a hub id and revision pin
        # the weights and the processor; a local folder is keyed by its weight bytes and processor settings.
        if is_local(model):
            config = Path(model).expanduser() / "preprocessor_config.json"
            settings = json.loads(config.read_text()) if config.is_file() else {}
            self._identity = {"encoder": "clip-image", "weights": files_digest(weight_files(model)),
                              "normalize": normalize,
                              "preprocess": jsonable({k: settings[k] for k in PREPROCESS_KEYS if k in settings})}
        else:
            self._identity = {"encoder": "clip-image", "weights": f"{model}@{revision or 'main'}",
                              "normalize": normalize}

    def _build(self) -> ImageLoop:
        transformers = require("transformers", "text", "the clip-image encoder")
        model, local = self._model_name, is_local(self._model_name)
        if not local:
            ensure_hub(model, encoder="clip-image", revision=self.revision, cached_files=("config.json",),
                       alternatives=OFFLINE_IMAGE)
        # Cached but offline: read the cache directly instead of letting the hub client try the network.
        kwargs = {"revision": self.revision, "local_files_only": local or not hub_reachable()}
        try:
            net = transformers.CLIPVisionModelWithProjection.from_pretrained(model, **kwargs)
            processor = transformers.CLIPImageProcessor.from_pretrained(model, **kwargs)
        except (OSError, ValueError) as exc:
            raise EncoderError(f"clip-image: cannot load {model!r} ({exc}); fix: an existing hub id or a local "
                               f"folder written by save_pretrained(), or an offline encoder: {OFFLINE_IMAGE}") from exc
        return ImageLoop(net, forward=self._forward,
                         preprocess=lambda img: processor(images=img, return_tensors="pt")["pixel_values"][0],
                         dim=int(net.config.projection_dim), batch_size=self.batch_size, device=self._device)

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        emb = self.model(pixel_values=pixels).image_embeds
        return torch.nn.functional.normalize(emb, dim=-1) if self.normalize else emb
