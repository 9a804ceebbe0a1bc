"""Pooled image features from any timm model: hub weights, or a seeded random init for offline tests."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import torch

from mmbench.components.encoders._hub import OFFLINE_IMAGE, ensure_hub, hub_reachable, require
from mmbench.components.encoders._image import (
    ImageLoop, LazyImageEncoder, new_stats, timm_config, timm_dim, timm_forward, timm_preprocess)
from mmbench.errors import EncoderError
from mmbench.kinds import register_encoder

HUB_PREFIX = "hf-hub:"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")


def _unknown(timm: Any, model: str, why: str) -> EncoderError:
    names = sorted(set(timm.list_models()) | set(timm.list_pretrained()))
    hints = difflib.get_close_matches(model, names, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, hints))}?" if hints else ""
    return EncoderError(f"timm encoder: {why}{hint} (see timm.list_models(pretrained=True))")


def pretrained_source(timm: Any, model: str, encoder: str) -> str:
    """Where the pretrained weights of ``model`` come from, checked to be reachable or cached (else raise)."""
    if model.startswith(HUB_PREFIX):
        repo, _, revision = model[len(HUB_PREFIX):].partition("@")
        ensure_hub(repo, encoder=encoder, revision=revision or None, cached_files=("config.json",),
                   alternatives=OFFLINE_IMAGE)
        return model[len(HUB_PREFIX):]
    try:
        cfg = timm.models.get_pretrained_cfg(model)
    except RuntimeError:  # a known architecture with an unknown pretrained tag
        raise _unknown(timm, model, f"{model!r} is not a pretrained tag timm knows") from None
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        raise EncoderError(f"timm encoder: {model!r} has no pretrained weights in timm; "
                           f"fix: pretrained=False, or a tagged name from timm.list_pretrained('{model}*')")
    if cfg.hf_hub_id:
        repo, _, revision = cfg.hf_hub_id.partition("@")
        ensure_hub(repo, encoder=encoder, revision=revision or None,
                   cached_files=(cfg.hf_hub_filename,) if cfg.hf_hub_filename else WEIGHT_FILES,
                   alternatives=OFFLINE_IMAGE)
        return cfg.hf_hub_id
    # The few url-only weights download through torch.hub into its checkpoint folder.
    cached = cfg.file or Path(torch.hub.get_dir(), "checkpoints", cfg.url.rsplit("/", 1)[-1])
    if not Path(cached).is_file() and not hub_reachable():
        raise EncoderError(f"encoder {encoder!r} needs {cfg.url}, which is not cached, and the network cannot "
                           f"be reached (offline?); fix: go online once, or use an offline encoder: {OFFLINE_IMAGE}")
    return cfg.url


@register_encoder("timm", consumes="image")
class TimmImageEncoder(LazyImageEncoder):
    """Any timm image model's pooled pre-logits features (weights from the Hugging Face hub)."""

    name = "timm"

    def __init__(self, *, model: str, pretrained: bool = True, batch_size: int = 32, device: str = "auto") -> None:
        """Args:
            model: a timm model name, optionally tagged (``convnext_tiny.fb_in22k``), or ``hf-hub:<repo>``.
            pretrained: load the pretrained weights (from the hub; fails at once when offline and not
                cached); ``False`` gives a random init seeded with 0, for tests and baselines.
            batch_size: images per forward pass (does not change the features).
            device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda:N"``.
        """
        timm = require("timm", "image", f"the {self.name} encoder")
        if not model.startswith(HUB_PREFIX) and not timm.is_model(model):
            raise _unknown(timm, model, f"unknown timm model {model!r}")
        if batch_size < 1:
            raise EncoderError(f"{self.name}: batch_size must be ≥ 1, got {batch_size}")
        self._timm, self._model_name, self.pretrained = timm, model, pretrained
        self.batch_size, self._device = batch_size, device
        self.stats = new_stats()
        # The identity comes from timm's pretrained config, known offline: a feature-cache hit loads no weights.
        self._identity = {"encoder": self.name, "model": model, "weights": self._weights(),
                          "preprocess": self._preprocess_config()}

    def _weights(self) -> str:
        timm = self._timm
        if self._model_name.startswith(HUB_PREFIX):
            return self._model_name[len(HUB_PREFIX):]
        if not self.pretrained:
            return f"random-init(seed=0, timm=={timm.__version__}, torch=={torch.__version__.split('+')[0]})"
        try:
            cfg = timm.models.get_pretrained_cfg(self._model_name)
        except RuntimeError:  # a known architecture with an unknown pretrained tag
            raise _unknown(timm, self._model_name, f"{self._model_name!r} is not a pretrained tag timm knows") from None
        if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
            raise EncoderError(f"timm encoder: {self._model_name!r} has no pretrained weights in timm; fix: "
                               f"pretrained=False, or a tagged name from timm.list_pretrained('{self._model_name}*')")
        return cfg.hf_hub_id or cfg.url or str(cfg.file)

    def _preprocess_config(self) -> dict[str, Any] | None:
        if self._model_name.startswith(HUB_PREFIX):
            return None  # the hub repo (part of the identity) holds its own config
        try:
            return timm_config(self._model_name)
        except RuntimeError:
            raise _unknown(self._timm, self._model_name, f"cannot build {self._model_name!r}") from None

    def _build(self) -> ImageLoop:
        timm, model = self._timm, self._model_name
        # An hf-hub: model reads even its architecture config from the hub, so it is checked either way.
        if self.pretrained or model.startswith(HUB_PREFIX):
            pretrained_source(timm, model, self.name)  # fails at once, naming offline encoders, when unreachable
        if self.pretrained:
            net = timm.create_model(model, pretrained=True, num_classes=0)
        else:
            # A fixed seed makes the random features a stable cache key; fork_rng leaves the caller's RNG alone.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                try:
                    net = timm.create_model(model, pretrained=False, num_classes=0)
                except RuntimeError as exc:  # e.g. an unknown pretrained tag, which still selects a config
                    raise _unknown(timm, model, f"cannot build {model!r} ({exc})") from None
        transform, _ = timm_preprocess(net)
        return ImageLoop(net, forward=timm_forward(net), preprocess=transform, dim=timm_dim(net),
                         batch_size=self.batch_size, device=self._device)
