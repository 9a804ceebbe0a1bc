"""Missing-modality robustness: item-level masks, and the curve summaries (Δ at a rate, area under the curve).

**Masks** (PROTOCOL rule 9). For a mask seed, one random permutation of the items is drawn; at missing rate
``p`` the first ``round(p · n_items)`` items of that permutation lose the modality, everywhere in that
condition. The masks of one seed are therefore *nested* (the items missing at 25% also miss at 50%), and a
condition that drops several modalities (``all``) drops them from the same items, so curves are smooth in
``p`` and comparable across modalities. Masks depend only on the mask seed and the item count, never on the
run seed: every model of every run sees the same conditions (paired comparisons).

**Summaries**, relative to the clean run (``p = 0``):

- ``Δ`` at a rate: ``metric(p) / metric(0) - 1`` (``-0.12`` = 12% lower); 0 for an unaffected model.
- ``AUC``: the area under ``metric(p) / metric(0)`` over the evaluated rates (trapezoids), divided by the
  rate range: the mean relative metric over the range, **1.0 for a model that is unaffected**.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

ALL = "all"  # the condition in which every modality of the item is missing together
_SALT = 0x6D6D62  # keeps mask permutations apart from any other use of the same small seeds


def keep_mask(n_items: int, rate: float, mask_seed: int) -> torch.Tensor:
    """``[n_items]`` bool: True for items that keep the modality at missing ``rate`` under ``mask_seed``."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"missing rate must be in [0, 1], got {rate}")
    order = np.random.default_rng([_SALT, int(mask_seed)]).permutation(n_items)
    keep = np.ones(n_items, dtype=bool)
    keep[order[:int(round(rate * n_items))]] = False
    return torch.from_numpy(keep)


def condition_keep(modality: str, used: Sequence[str], n_items: int, rate: float,
                   mask_seed: int) -> dict[str, torch.Tensor]:
    """``{modality: keep}`` for an item side that uses ``used``: one modality, or every one for ``all``."""
    mask = keep_mask(n_items, rate, mask_seed)
    targets = list(used) if modality == ALL else [m for m in used if m == modality]
    return {m: mask for m in targets}


def seeds_for(rate: float, mask_seeds: int) -> list[int]:
    """The mask seeds a rate needs: all of them inside (0, 1); at 0 or 1 every seed gives the same mask."""
    return [0] if rate in (0.0, 1.0) else list(range(mask_seeds))


def relative(value: float, clean: float) -> float | None:
    """``value / clean - 1``; 0 when both are 0, None when only the clean value is 0 (undefined)."""
    if clean == 0:
        return 0.0 if value == 0 else None
    return value / clean - 1.0


def auc(rates: Sequence[float], values: Sequence[float], clean: float) -> float | None:
    """Mean of ``value / clean`` over the rate range (trapezoids); the clean point is ``p = 0``."""
    points = sorted({0.0: clean, **dict(zip(map(float, rates), map(float, values)))}.items())
    if clean == 0 or len(points) < 2:
        return None
    xs = np.array([p for p, _ in points])
    ys = np.array([v for _, v in points]) / clean
    return float(np.sum((ys[1:] + ys[:-1]) / 2 * np.diff(xs)) / (xs[-1] - xs[0]))


def summary_rate(rates: Sequence[float]) -> float:
    """The rate whose Δ the leaderboard shows: 0.5 if evaluated, else the evaluated rate nearest to it."""
    inner = [r for r in rates if r > 0] or [0.0]
    return min(inner, key=lambda r: (abs(r - 0.5), r))


def delta_column(metric: str, modality: str, rate: float, imputer: str | None = None) -> str:
    """Column name such as ``ΔNDCG@10[no-text@50%]`` (``|mean`` appended for a test-time imputer)."""
    return f"Δ{metric}[no-{modality}@{rate:.0%}{f'|{imputer}' if imputer else ''}]"


def auc_column(metric: str, modality: str, imputer: str | None = None) -> str:
    """Column name such as ``AUC-NDCG@10[no-text]``."""
    return f"AUC-{metric}[no-{modality}{f'|{imputer}' if imputer else ''}]"


def curve_summary(points: Sequence[Mapping[str, object]], columns: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """``{"auc": {col: …}, "delta": {rate: {col: …}}}`` for one curve (points with ``rate`` and ``metrics``)."""
    clean = next((p["metrics"] for p in points if p["rate"] == 0.0), None)
    if clean is None:
        raise ValueError("a robustness curve needs its clean point (rate 0)")
    rest = [p for p in points if p["rate"] > 0]
    out: dict[str, dict] = {"auc": {}, "delta": {}}
    for col in columns:
        out["auc"][col] = auc([p["rate"] for p in rest], [p["metrics"][col] for p in rest], clean[col])
    for p in rest:
        out["delta"][f"{p['rate']:g}"] = {col: relative(p["metrics"][col], clean[col]) for col in columns}
    return out
