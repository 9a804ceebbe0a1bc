"""The item side of a multimodal model: encoder features, availability, modality dropout and imputation.

One :class:`ItemSide` per model holds every modality's features as fixed (non-persistent) buffers. Calling
it returns the features the model sees in the current condition:

- **availability** comes from the encoders (an item whose text or image is missing) and, at test time, from
  robustness masks (:meth:`ItemSide.masked`). Masks are item-level: an item missing its image is missing it
  everywhere in that condition (PROTOCOL rule 9).
- **modality dropout** (training only) removes a modality from each item independently with the recipe's
  rate per modality, and every modality at once with the rate of ``all``; drawn from the global torch RNG at
  every call, so it is reproducible from the seed and restored with a checkpoint.
- **imputation**: with an imputer, unavailable rows are filled (from train edges only) and then count as
  available; without one, they are zeros *and* marked unavailable, so fusion masks them out.

A modality that no item has (Amazon Beauty has no images) is not used, and :meth:`ItemSide.info` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from mmbench.data.types import TrainGraph
from mmbench.errors import MMBenchError

FusionFactory = Callable[[Sequence[str], int], nn.Module]


def require_features(items: ItemSide | None, model: str, why: str, fix: str) -> ItemSide:
    """``items`` if it has at least one modality; else one error naming the model, why it needs them, the fix."""
    if items is None or not items.names:
        absent = f" (absent from every item: {', '.join(items.absent)})" if items is not None and items.absent else ""
        raise MMBenchError(f"{model} needs item features: {why}; the recipe has none{absent}. Fix: {fix}")
    return items


def offset_features(x: torch.Tensor, available: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Fine-tuned features as a learned ``offset``: ``x + offset`` on available rows, ``x`` on the others (the
    same values and gradients as ``torch.where``, in one pass over the table when every row is available)."""
    if bool(available.all()):
        return x + offset
    return torch.where(available[:, None], x + offset, x)


class ItemSide(nn.Module):
    """Per-modality item features with availability masks, modality dropout and an optional imputer."""

    def __init__(self, graph: TrainGraph, features: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
                 dropout: Mapping[str, float] | None = None, imputer: Callable[[int], nn.Module] | None = None,
                 fusion: FusionFactory | None = None, describe: Mapping[str, Any] | None = None) -> None:
        """Args:
            graph: the train graph (graph imputers read train edges from it).
            features: ``{modality: (values [n_items, d], available [n_items] bool)}``.
            dropout: train-time dropout rate per modality, plus ``all`` for every modality at once.
            imputer: builds one imputer per modality from the feature size; None masks instead.
            fusion: builds the recipe's fusion module from (modality names, dim), for models that fuse.
            describe: names of the recipe components (imputer, fusion) for the run record.
        """
        super().__init__()
        self.graph = graph
        self.n_items = graph.n_items
        self.names: list[str] = []
        self.absent: list[str] = []
        self.dims: dict[str, int] = {}
        for modality, (values, available) in features.items():
            values, available = np.asarray(values), np.asarray(available, dtype=bool)
            if values.ndim != 2 or values.shape[0] != graph.n_items or available.shape != (graph.n_items,):
                raise ValueError(f"features of modality {modality!r} have shape {values.shape} / mask "
                                 f"{available.shape}; expected ({graph.n_items}, d) / ({graph.n_items},)")
            if not available.any():
                self.absent.append(modality)
                continue
            self.names.append(modality)
            self.dims[modality] = int(values.shape[1])
            x = torch.as_tensor(np.where(available[:, None], values, 0.0), dtype=torch.float32)
            self.register_buffer(f"x_{modality}", x, persistent=False)
            self.register_buffer(f"a_{modality}", torch.as_tensor(available), persistent=False)
        rates = dict(dropout or {})
        unknown = sorted(set(rates) - set(features) - {"all"})
        if unknown:
            raise ValueError(f"modality_dropout names {unknown}, which have no features; "
                             f"modalities: {sorted(features)} (or 'all')")
        self.rates = {m: float(rates.get(m, 0.0)) for m in self.names}
        self.rate_all = float(rates.get("all", 0.0))
        self.imputers = nn.ModuleDict({m: imputer(self.dims[m]) for m in self.names}) if imputer else None
        self.fusion_factory = fusion
        self.describe = dict(describe or {})
        self._condition: dict[str, torch.Tensor] = {}
        self._generation = 0

    def raw(self, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A modality's encoder features and availability, before any dropout, mask or imputation."""
        return getattr(self, f"x_{modality}"), getattr(self, f"a_{modality}")

    def forward(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """``({modality: [n_items, d]}, {modality: [n_items] bool})`` as the model sees them now."""
        values: dict[str, torch.Tensor] = {}
        avail: dict[str, torch.Tensor] = {}
        # dropout draws come from the CPU generator whatever the device, so a seed drops the same items everywhere
        drop_all = (torch.rand(self.n_items) < self.rate_all) if self.training and self.rate_all > 0 else None
        for m in self.names:
            x, a = self.raw(m)
            if m in self._condition:
                a = a & self._condition[m].to(a.device)
            if self.training and self.rates[m] > 0:
                a = a & ~(torch.rand(self.n_items) < self.rates[m]).to(a.device)
            if drop_all is not None:
                a = a & ~drop_all.to(a.device)
            if self.imputers is not None:
                x = self.imputers[m].impute(x, a, self.graph)
                a = torch.ones_like(a)
            elif not bool(a.all()):  # all available: the stored features as they are (read-only), no copy
                x = torch.where(a[:, None], x, torch.zeros((), dtype=x.dtype))
            values[m], avail[m] = x, a
        return values, avail

    def frozen(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """What :meth:`forward` returns in eval mode (no dropout), whatever the mode: for frozen structures."""
        was = self.training
        self.training = False  # this module only: the imputers' own mode is not touched
        try:
            with torch.no_grad():
                return self()
        finally:
            self.training = was

    def keep(self, modality: str) -> torch.Tensor:
        """Items that keep ``modality`` under the current robustness condition (all of them by default)."""
        cond = self._condition.get(modality)
        return cond if cond is not None else torch.ones(self.n_items, dtype=torch.bool)

    def condition_key(self) -> int:
        """Changes whenever :meth:`masked` sets or lifts a condition (models cache condition-dependent graphs)."""
        return self._generation

    @contextmanager
    def masked(self, keep: Mapping[str, torch.Tensor]) -> Iterator[None]:
        """Evaluate under a missing-modality condition: ``keep[m]`` is False for items that lose ``m``."""
        old = self._condition
        self._condition = {m: torch.as_tensor(v, dtype=torch.bool) for m, v in keep.items() if m in self.names}
        self._generation += 1
        try:
            yield
        finally:
            self._condition = old
            self._generation += 1

    @contextmanager
    def imputing(self, imputer: Callable[[int], nn.Module] | None) -> Iterator[None]:
        """Evaluate with another imputer (robustness per imputer); ``None`` masks missing modalities instead.

        Only for parameter-free imputers: a trained imputer stays with the model it was trained with.
        """
        old = self.imputers
        self.imputers = nn.ModuleDict({m: imputer(self.dims[m]) for m in self.names}) if imputer else None
        self._generation += 1
        try:
            yield
        finally:
            self.imputers = old
            self._generation += 1

    def info(self) -> dict[str, Any]:
        """What the run record says about the item side: modalities used and absent, dropout, imputer."""
        used = {}
        for m in self.names:
            a = self.raw(m)[1]
            used[m] = {"dim": self.dims[m], "available": int(a.sum()), "share": round(float(a.float().mean()), 6)}
        return {"used": used, "absent": list(self.absent),
                "absent_note": (f"{', '.join(self.absent)}: no item has this modality; the model runs without it"
                                if self.absent else None),
                "dropout": {**{m: r for m, r in self.rates.items() if r}, **({"all": self.rate_all}
                                                                               if self.rate_all else {})},
                **self.describe}
