"""A seeded synthetic interaction log of any size, for scale benchmarks (time and memory against data size).

Nothing is shipped or downloaded: the rows are generated from the params on load (and then cached like any
dataset), the same rows for the same params on every machine. Shaped like real implicit feedback, not uniform:
item popularity follows a Zipf law (``item_alpha``) and user activity a log-normal (``user_sigma``), so there
are heavy users and a long tail of rarely seen items. There is no item content and no time; use split
``ratio-8-1-1``. These rows carry no signal beyond popularity and co-occurrence of popular items: use them for
time and memory, never for accuracy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmbench.data.raw import RawData
from mmbench.errors import DataError
from mmbench.kinds import register_dataset

VERSION = 1  # bump when the generator changes what it produces


def generate(interactions: int, items: int, users: int, seed: int, item_alpha: float = 0.8,
             user_sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``interactions`` distinct (user, item) pairs, int64, sorted by user then item.

    Users are drawn with log-normal weights and items with Zipf weights ``(rank + 1) ** -item_alpha`` (item ids in
    random order, so that id is not popularity); duplicate pairs are dropped and the draw repeats until there
    are enough. Peak memory is a few times the output (no users × items structure).
    """
    if not 0 < interactions <= users * items:
        raise DataError(f"synthetic: interactions must be in 1..users × items ({users * items}), got "
                        f"{interactions}; fix: lower interactions or raise users / items")
    rng = np.random.default_rng(seed)
    p_user = rng.lognormal(0.0, user_sigma, users)
    p_user /= p_user.sum()
    p_item = (np.arange(1, items + 1, dtype=np.float64) ** -item_alpha)[rng.permutation(items)]
    p_item /= p_item.sum()
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < interactions:
        n = int((interactions - len(keys)) * 1.1) + 16
        new = rng.choice(users, n, p=p_user).astype(np.int64) * items + rng.choice(items, n, p=p_item)
        keys = np.unique(np.concatenate([keys, new]))
    keep = np.sort(rng.choice(len(keys), interactions, replace=False))
    keys = keys[keep]
    return keys // items, keys % items


@register_dataset("synthetic")
class SyntheticDataset:
    """A seeded synthetic implicit-feedback log (Zipf items, log-normal users) of any size; for scale benchmarks."""

    def __init__(self, *, interactions: int = 1_000_000, items: int = 100_000, users: int | None = None,
                 seed: int = 0, item_alpha: float = 0.8, user_sigma: float = 1.0) -> None:
        """Args:
            interactions: distinct (user, item) pairs.
            items: catalogue size (items never drawn do not appear in the prepared data).
            users: number of users (default: interactions / 20, at least 1).
            seed: generator seed; the same params give the same rows everywhere.
            item_alpha: Zipf exponent of item popularity.
            user_sigma: log-normal sigma of user activity.
        """
        users = max(1, interactions // 20) if users is None else users
        problems = [f"{k} must be ≥ 1, got {v}" for k, v in (("interactions", interactions), ("items", items),
                                                              ("users", users)) if v < 1]
        if item_alpha < 0 or user_sigma < 0:
            problems.append("item_alpha and user_sigma must be ≥ 0")
        if problems:
            raise DataError(f"synthetic: {'; '.join(problems)}; fix: correct the dataset params")
        self.params = {"interactions": interactions, "items": items, "users": users, "seed": seed,
                       "item_alpha": item_alpha, "user_sigma": user_sigma}

    def sources(self) -> list[str]:
        # no file: the generator's version and params identify the rows (and key the processed cache)
        return [f"synthetic:v{VERSION}:" + ",".join(f"{k}={v}" for k, v in self.params.items())]

    def load(self) -> RawData:
        user, item = generate(**self.params)
        return RawData(pd.DataFrame({"user": user, "item": item}), None,
                       notes={"text": "synthetic: no item content", "image": "synthetic: no item content"},
                       interactions_source=self.sources()[0])
