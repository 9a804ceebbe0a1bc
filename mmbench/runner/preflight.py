"""Checks of a recipe against its split, run before any feature is extracted or any model trained: a run that
cannot succeed fails in seconds, with one message that names the problem and the fix."""

from __future__ import annotations

import numpy as np

from mmbench.data.types import Split
from mmbench.errors import DataError, RecipeError
from mmbench.kinds import DISTILL_LOSSES
from mmbench.recipe.schema import Recipe


def check_split(recipe: Recipe, split: Split) -> None:
    """Raise when a part of the split is empty, or when the KD losses ask for more teacher-top items than a user
    has candidates for.

    Raises:
        DataError: train, valid or test holds no pair (too few users or interactions for this split).
        RecipeError: a distillation loss's ``top_k`` exceeds the items a user can be recommended.
    """
    parts = {"train": len(split.train), "valid": len(split.valid), "test": len(split.test)}
    empty = [name for name, n in parts.items() if n == 0]
    if empty:
        raise DataError(f"{recipe.dataset.name} split {split.name!r} leaves {' and '.join(empty)} empty "
                        f"({split.n_users} users, {split.n_items} items; train/valid/test "
                        f"{parts['train']}/{parts['valid']}/{parts['test']}); fix: use more data (e.g. raise "
                        "dataset.params.max_users) or a split that suits it (`mmbench data info` shows the counts)")
    if not recipe.distill:
        return
    most_seen = int(np.bincount(np.asarray(split.train.user), minlength=split.n_users).max())
    room = split.n_items - most_seen  # the fewest items a user can still be recommended
    for i, spec in enumerate(recipe.distill):
        n_top = int(getattr(DISTILL_LOSSES.get(spec.name)(8, 8, **spec.params), "n_top", 0))
        if n_top > room:
            raise RecipeError(recipe.name or "recipe", [
                f"distill.{i}.params.top_k: {spec.name} ranks each user's top {n_top} teacher items outside their "
                f"train items, but with {split.n_items} items a user with {most_seen} train items has only {room}; "
                f"fix: set distill[{i}].params.top_k to at most {max(room, 1)}, or use more data"])
