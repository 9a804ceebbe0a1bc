"""Precomputed item features: the dataset's own feature files, or any ``.npy`` mapped to items by id."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmbench.data.item_inputs import ItemInputs
from mmbench.data.raw import load_npy
from mmbench.errors import EncoderError
from mmbench.kinds import register_encoder

from ._hub import files_digest


def _read_ids(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        try:
            ids = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise EncoderError(f"{path}: not a readable .npy array without pickle ({exc}); fix: save the ids as "
                               f"strings or integers with numpy.save") from None
        if ids.ndim != 1:
            raise EncoderError(f"{path}: item ids must be a 1-D array, got shape {ids.shape}")
        return ids.astype(str)
    lines = path.read_text(encoding="utf-8").splitlines()
    return np.array([ln.strip() for ln in lines if ln.strip()], dtype=str)


@register_encoder("precomputed", consumes="item")
class PrecomputedEncoder:
    """Precomputed features: a dataset feature source (``feature``) or a ``.npy`` file (``path`` + ``ids``)."""

    def __init__(self, *, feature: str | None = None, path: str | None = None, ids: str | None = None,
                 normalize: bool = False) -> None:
        """Args:
            feature: name of one of the dataset's own feature sources (``mmbench data info`` lists them),
                e.g. ``visual`` for TikTok or ``audio-whisper`` for Last.fm.
            path: a float ``.npy`` matrix [rows, d]; rows with NaN/inf are treated as missing (the run warns and
                counts them); a file with no finite row is an error.
            ids: a text file (one raw item id per line) or a 1-D ``.npy`` naming the item of each row of
                ``path``; items without a row are missing. Without ``ids`` row ``i`` is dense item ``i``
                and the row count must equal the dataset's item count.
            normalize: L2-normalise every available row.
        """
        if (feature is None) == (path is None):
            raise EncoderError("precomputed: set exactly one of `feature` (a dataset feature source) or `path` "
                               "(a .npy file); fix: params: {feature: visual} or {path: feats.npy, ids: ids.txt}")
        if ids is not None and path is None:
            raise EncoderError("precomputed: `ids` maps the rows of `path`; fix: set `path` or remove `ids`")
        self.feature, self.normalize = feature, normalize
        self.path = Path(path).expanduser() if path else None
        self.ids_path = Path(ids).expanduser() if ids else None
        for p in (self.path, self.ids_path):
            if p is not None and not p.is_file():
                raise EncoderError(f"precomputed: {p}: file not found; fix: check the path (relative paths are "
                                   f"relative to the working directory)")
        self.stats: dict[str, int] = {}

    def identity(self) -> dict[str, Any]:
        # A dataset feature is covered by the dataset's raw hash, which is part of the inputs' hash.
        source = (f"dataset-feature:{self.feature}" if self.feature else
                  f"file:{files_digest([p for p in (self.path, self.ids_path) if p])}")
        return {"encoder": "precomputed", "source": source, "normalize": self.normalize}

    def _matrix(self, inputs: ItemInputs) -> tuple[np.ndarray, np.ndarray]:
        if self.feature is not None:
            if self.feature not in inputs.features:
                known = ", ".join(inputs.features) or "none"
                raise EncoderError(f"precomputed: dataset {inputs.dataset!r} has no feature source "
                                   f"{self.feature!r}; fix: use one of: {known}")
            f = inputs.features[self.feature]
            return f.values, f.available.copy()
        values = load_npy(self.path, fix="save one float32 row per item with numpy.save")
        if values.dtype.kind != "f":
            raise EncoderError(f"precomputed: {self.path}: expected a float matrix [rows, d], got dtype "
                               f"{values.dtype} shape {values.shape}; fix: save features as float32 [n_items, d]")
        finite = np.isfinite(values).all(axis=1)
        if len(values) and not finite.any():
            raise EncoderError(f"precomputed: every one of the {len(values):,} rows of {self.path} holds NaN or inf; "
                               "the modality would silently vanish from the run; fix: regenerate the feature file "
                               "(or drop this encoder from the recipe)")
        return values, finite

    def encode(self, inputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(inputs, ItemInputs):
            raise EncoderError("precomputed consumes item inputs (ItemInputs), not texts or images")
        values, ok = self._matrix(inputs)
        n = len(inputs)
        if self.feature is not None:
            rows = np.arange(n)  # dataset features are already aligned with (and sliced like) the items
        elif self.ids_path is None:
            if len(values) != inputs.n_items:
                raise EncoderError(f"precomputed: {self.path} has {len(values)} rows but the dataset has "
                                   f"{inputs.n_items} items; fix: give `ids` (the item id of each row)")
            rows = np.asarray(inputs.rows)
        else:
            ids = _read_ids(self.ids_path)
            if len(ids) != len(values):
                raise EncoderError(f"precomputed: {self.ids_path} lists {len(ids)} ids but {self.path} has "
                                   f"{len(values)} rows; fix: one id per row, in row order")
            where = {k: i for i, k in enumerate(ids.tolist())}
            rows = np.array([where.get(str(k), -1) for k in inputs.ids.tolist()], dtype=np.int64)
        found = rows >= 0
        out = np.zeros((n, values.shape[1]), np.float32)
        avail = np.zeros(n, bool)
        out[found] = values[rows[found]]
        avail[found] = ok[rows[found]]
        # items that have a row, but a row with NaN/inf: missing, and counted, so the run can say so
        self.stats["non_finite_rows"] = self.stats.get("non_finite_rows", 0) + int((found & ~avail).sum())
        out[~avail] = 0.0
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
        self.stats["encoded"] = self.stats.get("encoded", 0) + int(avail.sum())
        self.stats["missing"] = self.stats.get("missing", 0) + int(n - avail.sum())
        return out, avail
