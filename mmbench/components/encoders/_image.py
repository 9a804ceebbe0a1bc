"""The image loop shared by the image encoders: decode, preprocess, batch, forward, mask.

An input that is ``None``, a path that is not a file, or an image Pillow cannot decode becomes an unavailable
zero row; the loop never raises for bad data and never drops a row. Rows do not depend on the batch size or
on how the inputs are split across ``encode`` calls, because each image is preprocessed on its own.
"""

from __future__ import annotations

import enum
import os
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from mmbench.components.encoders._hub import require
from mmbench.errors import EncoderError

if TYPE_CHECKING:
    from PIL import Image

    ImageInput = str | Path | Image.Image | None
else:  # Pillow is optional (the `image` extra): importing the registry must not need it
    ImageInput = Any


def _pil() -> Any:
    return require("PIL.Image", "image", "image encoders")


def resolve_device(device: str) -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; anything else must be a valid torch device string."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise EncoderError(f"device {device!r} is not a torch device ({exc}); fix: 'auto', 'cpu' or 'cuda:0'") from None


def load_rgb(item: ImageInput) -> tuple[Image.Image | None, str]:
    """Decode one input to RGB; on failure ``(None, reason)`` with reason ``"missing"`` or ``"undecodable"``."""
    Image = _pil()
    if item is None or (isinstance(item, float) and item != item):  # None, or a pandas NaN
        return None, "missing"
    if not isinstance(item, (Image.Image, str, os.PathLike)):
        raise EncoderError(f"an image encoder takes a path, a PIL image or None per item, got {type(item).__name__}")
    if not isinstance(item, Image.Image):
        try:
            if not Path(item).expanduser().is_file():
                return None, "missing"
        except (OSError, ValueError):  # a name too long, or with a NUL byte: no such file can exist
            return None, "missing"
    try:
        if isinstance(item, Image.Image):
            return item.convert("RGB"), "encoded"
        with Image.open(Path(item).expanduser()) as img:
            img.load()  # decode now: a truncated file must fail here, not later inside a batch
            return img.convert("RGB"), "encoded"
    # Pillow's decoders raise a zoo of types for corrupt data (OSError, ValueError, SyntaxError, EOFError,
    # struct.error, DecompressionBombError, ...); any of them means this one item is unusable.
    except Exception:
        return None, "undecodable"


def jsonable(value: Any) -> Any:
    """Tuples to lists and enums to their names, so a preprocessing config can sit in an identity."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.name.lower()
    return value


class ImageLoop:
    """Runs ``forward(preprocess(image))`` over the inputs in batches, with an availability mask and counts.

    Decoding and resizing run in a small thread pool (Pillow releases the GIL), one batch ahead of the model,
    so the accelerator is not left waiting on a single decoding thread; each image is still preprocessed on
    its own, so the features do not depend on the number of threads or the batch size.
    """

    def __init__(self, model: nn.Module, *, forward: Callable[[torch.Tensor], torch.Tensor],
                 preprocess: Callable[[Image.Image], torch.Tensor], dim: int, batch_size: int,
                 device: str, workers: int | None = None) -> None:
        if batch_size < 1:
            raise EncoderError(f"batch_size must be ≥ 1, got {batch_size}")
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device, memory_format=torch.channels_last)
        self.forward, self.preprocess = forward, preprocess
        self.dim, self.batch_size = dim, batch_size
        # one core is left to the model (and its own threads); the pool only has to keep one batch ahead
        self.workers = max(1, workers if workers is not None else min(8, (os.cpu_count() or 2) - 1))
        self.stats = new_stats()

    def _prepare(self, item: ImageInput) -> tuple[torch.Tensor | None, str]:
        img, status = load_rgb(item)
        if img is None:
            return None, status
        try:
            return self.preprocess(img), status
        except Exception:  # e.g. a 1×N image whose resize collapses to 0 pixels
            return None, "undecodable"

    def encode(self, inputs: Sequence[ImageInput]) -> tuple[np.ndarray, np.ndarray]:
        """Features ``[n, dim]`` float32 (zero rows where unavailable) and the availability mask ``[n]``."""
        items = list(inputs)  # positional access, whatever the sequence type (a pandas Series indexes by label)
        n = len(items)
        out = np.zeros((n, self.dim), dtype=np.float32)
        available = np.zeros(n, dtype=np.bool_)
        starts = list(range(0, n, self.batch_size))
        with ThreadPoolExecutor(self.workers, thread_name_prefix="mmbench-decode") as pool, torch.inference_mode():
            def submit(start: int) -> list[Future[tuple[torch.Tensor | None, str]]]:
                return [pool.submit(self._prepare, items[i]) for i in range(start, min(start + self.batch_size, n))]

            ahead = submit(starts[0]) if starts else []
            for k, start in enumerate(starts):
                current, ahead = ahead, (submit(starts[k + 1]) if k + 1 < len(starts) else [])
                rows, tensors = [], []
                for i, fut in enumerate(current, start):
                    x, status = fut.result()
                    self.stats[status] += 1
                    if x is not None:
                        rows.append(i)
                        tensors.append(x)
                if not rows:
                    continue
                batch = torch.stack(tensors).to(self.device, memory_format=torch.channels_last)
                feats = self.forward(batch).float().cpu().numpy()
                if feats.shape != (len(rows), self.dim):
                    raise EncoderError(f"image model returned features of shape {feats.shape}, expected "
                                       f"{(len(rows), self.dim)}; the encoder's dim does not match its model")
                out[rows] = feats
                available[rows] = True
        return out, available


class LazyImageEncoder:
    """Shared body of the image encoders: the model loads on first use, never for ``identity()``.

    A subclass sets ``stats`` (:func:`new_stats`) and ``_identity`` in its constructor and implements
    ``_build()``; a feature-cache hit then needs neither the weights nor the network.
    """

    stats: dict[str, int]
    _identity: dict[str, Any]
    _loop: ImageLoop | None = None

    def _build(self) -> ImageLoop:
        raise NotImplementedError

    def _loaded(self) -> ImageLoop:
        if self._loop is None:
            self._loop = self._build()
            self._loop.stats = self.stats  # one counter, whether or not the model was loaded yet
        return self._loop

    @property
    def model(self) -> nn.Module:
        """The image model (loaded on first use)."""
        return self._loaded().model

    @property
    def dim(self) -> int:
        """Width of the features."""
        return self._loaded().dim

    def encode(self, inputs: Sequence[ImageInput]) -> tuple[np.ndarray, np.ndarray]:
        return self._loaded().encode(inputs)

    def identity(self) -> Mapping[str, Any]:
        return dict(self._identity)


def new_stats() -> dict[str, int]:
    """The counters an image encoder accumulates across ``encode`` calls."""
    return {"encoded": 0, "missing": 0, "undecodable": 0}


def timm_config(name: str, **overrides: Any) -> dict[str, Any]:
    """A timm model's eval data config from its pretrained config alone (no model, no weights, no network)."""
    import timm.data
    import timm.models

    cfg = timm.models.get_pretrained_cfg(name)
    return jsonable({**timm.data.resolve_data_config(pretrained_cfg=cfg.to_dict() if cfg else {}), **overrides})


def timm_forward(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Pooled pre-logits features of a timm model, whatever its classifier (the head stays usable)."""
    return lambda x: model.forward_head(model.forward_features(x), pre_logits=True)


def timm_dim(model: nn.Module) -> int:
    """Width of ``forward_head(pre_logits=True)``: a head with its own hidden layer is wider than the trunk."""
    return int(getattr(model, "head_hidden_size", None) or model.num_features)


def timm_preprocess(model: nn.Module, **overrides: Any) -> tuple[Callable[[Image.Image], torch.Tensor], dict]:
    """The model's own eval transform (its data config, with ``overrides``) and that config for the identity."""
    import timm.data

    cfg = {**timm.data.resolve_model_data_config(model), **overrides}
    return timm.data.create_transform(**cfg, is_training=False), jsonable(cfg)
