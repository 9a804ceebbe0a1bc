"""Test slices: metrics on the test pairs whose item is *cold* (no train interaction) and on the *warm* rest.

A cold item has no edge in the training graph, so an ID-only model knows nothing of it but its random initial
embedding (and the negative samples that pushed it down); only a model that reads item content can rank it.
The slices split the test pairs by their item; a user's metric on a slice ranks that user's slice targets
among every item the user has not interacted with, the user's test items of the other slice being masked like
history (neither targets nor candidates). A user with test items in both slices is counted in both. The clean
metric of the whole test part is unchanged (PROTOCOL rule 13).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mmbench.data.types import Split
from mmbench.runner.evaluate import Scorer, evaluate_users

SLICES = ("cold", "warm")


def cold_items(split: Split) -> np.ndarray:
    """``[n_items]`` bool: items without any interaction in the train part (valid and test do not count)."""
    trained = np.zeros(split.n_items, dtype=bool)
    trained[split.train.item] = True
    return ~trained


def slice_masks(split: Split) -> dict[str, np.ndarray]:
    """``{slice: [len(test)] bool}``: the test pairs on cold items, and on warm ones."""
    cold = cold_items(split)[split.test.item]
    return {"cold": cold, "warm": ~cold}


def describe(split: Split) -> dict[str, dict[str, int]]:
    """Pairs and users of each slice of the test part (a slice without pairs is left out)."""
    out = {}
    for name, keep in slice_masks(split).items():
        if keep.any():
            out[name] = {"pairs": int(keep.sum()), "users": int(len(np.unique(split.test.user[keep])))}
    return out


def evaluate_slices(score: Scorer, split: Split, *, metrics: Sequence[str], ks: Sequence[int],
                    batch_size: int = 4096) -> dict[str, dict[str, Any]]:
    """Test metrics on each non-empty slice: ``{slice: {"pairs": n, "users": n, "metrics": {col: mean}}}``.

    Only when the test part has both cold and warm pairs: with one slice empty, the other is the whole test
    part and adds nothing to the clean metrics (an empty dict then).
    """
    sizes = describe(split)
    if len(sizes) < len(SLICES):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, keep in slice_masks(split).items():
        _, values = evaluate_users(score, split, "test", metrics=metrics, ks=ks, batch_size=batch_size, keep=keep)
        out[name] = {**sizes[name], "metrics": {col: float(v.mean()) for col, v in values.items()}}
    return out
