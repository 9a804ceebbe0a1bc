"""Vectors for items the model never saw, from their features: the exported item-side map, in numpy.

The map is the mean, over an item's available modalities, of one affine projection per modality
(``x @ weight.T + bias``), times ``scale``: the student's item adapter or its chosen content head (the manifest's
``cold_items`` says which, and why the scale is what it is). A missing modality is a row of NaN in that
modality's feature matrix; an item with no modality gets the zero vector (score 0 for every user), as the model
gives it. Features must come from the encoders the manifest names (``cold_items.modalities``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mmbench.errors import ServeError


class ColdItemMap:
    """The map from new items' features to served item vectors (see the module docstring)."""

    def __init__(self, tensors: Mapping[str, np.ndarray], spec: Mapping[str, Any]) -> None:
        """Args:
            tensors: ``<modality>.weight`` [d, d_m] and ``<modality>.bias`` [d] per modality (``cold.safetensors``).
            spec: the manifest's ``cold_items`` block: ``modalities``, ``scale``, ``imputer``, ``kind``.
        """
        self.spec = dict(spec)
        self.modalities = list(spec["modalities"])
        self.scale = float(spec["scale"])
        self.imputer = spec.get("imputer")
        self.weights = {m: (np.asarray(tensors[f"{m}.weight"]), np.asarray(tensors[f"{m}.bias"]))
                        for m in self.modalities}

    def dims(self) -> dict[str, int]:
        """The feature size each modality's projection expects."""
        return {m: int(w.shape[1]) for m, (w, _) in self.weights.items()}

    def encode(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """``[n, d]`` float32 item vectors of ``n`` new items from ``{modality: [n, d_m]}`` features.

        A modality left out of ``features`` is missing for every new item; a NaN row is missing for that item.
        With an imputer in the recipe, the model would have filled a missing modality, so every modality must
        be given in full (the error says so).
        """
        unknown = sorted(set(features) - set(self.modalities))
        if unknown:
            raise ServeError(f"new-item features for {unknown}, which this model does not read; it reads "
                             f"{self.modalities} (dims {self.dims()})")
        if not features:
            raise ServeError(f"no new-item features given; this model reads {self.modalities} (dims {self.dims()})")
        sizes = {m: len(x) for m, x in features.items()}
        if len(set(sizes.values())) != 1:
            raise ServeError(f"new-item feature files disagree on the number of items: {sizes}")
        n = next(iter(sizes.values()))
        total, count = None, np.zeros(n, dtype=np.float32)
        for m in self.modalities:
            weight, bias = self.weights[m]
            x = features.get(m)
            if x is None:
                self._require_full(m, "not given")
                continue
            x = np.asarray(x, dtype=np.float32)
            if x.ndim != 2 or x.shape[1] != weight.shape[1]:
                raise ServeError(f"new-item {m} features have shape {x.shape}; this model expects "
                                 f"(n, {weight.shape[1]}) from the encoder {self.spec.get('encoders', {}).get(m, '?')}")
            avail = ~np.isnan(x).any(axis=1)
            if not avail.all():
                self._require_full(m, f"missing (NaN) for {int((~avail).sum())} item(s)")
            part = np.where(avail[:, None], np.where(avail[:, None], x, 0.0) @ weight.T + bias, 0.0)
            total = part if total is None else total + part
            count += avail
        if total is None:
            return np.zeros((n, next(iter(self.weights.values()))[0].shape[0]), dtype=np.float32)
        return (total / np.maximum(count, 1.0)[:, None] * self.scale).astype(np.float32)

    def _require_full(self, modality: str, what: str) -> None:
        if self.imputer:
            raise ServeError(f"new-item {modality} features are {what}, but this model was trained with the "
                             f"imputer {self.imputer!r}, which fills a missing modality from train edges a new "
                             f"item does not have; fix: give every modality {self.modalities} for every new item")
