"""Gowalla check-ins, the LightGCN paper's exact split, embedded: 29,858 users, 40,981 items, 1,027,370 pairs.

Shipped inside the package (see ``embedded/gowalla/PROVENANCE.md`` for the source commit, blob SHAs and how the
train file was recovered). Items are location ids with no content of any modality and there is no time, so the
dataset's own train/test split (``given``) is the one to use; it is the split of the LightGCN and NGCF papers.

The release has no validation part. Those papers pick their epoch on test; mmbench selects on validation alone
(PROTOCOL rule 5), so this loader carves one out of train, seeded: per user, ``valid_per_user`` train pairs
drawn uniformly at random (``valid_seed``) become ``valid``, and a user keeps at least one train pair. The test
part is exactly the released one, and at test time the carved pairs are excluded from ranking like train pairs,
so every test item competes with the same candidates as in the papers. The model trains on the remaining train
pairs only (about 3.7 % fewer than the papers' with the default of one per user).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from mmbench.data.raw import EMBEDDED_FIX, RawData, embedded_dir, require_file
from mmbench.errors import DataError
from mmbench.kinds import register_dataset

_FIX = EMBEDDED_FIX


def read_user_lists(path: Path, fix: str = _FIX) -> tuple[np.ndarray, np.ndarray]:
    """``(user, item)`` int64 pairs from a ``user item item ...`` file (gzip or plain), in file order.

    A line holding only a user id contributes nothing; any token that is not a non-negative integer, or a
    user listed twice, is one DataError naming the file and line.
    """
    p = require_file(path, fix)
    opener = gzip.open if p.name.endswith(".gz") else open
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    seen: set[int] = set()
    try:
        with opener(p, "rt", encoding="ascii") as fh:
            for no, line in enumerate(fh, 1):
                tokens = line.split()
                if not tokens:
                    continue
                if not all(t.isdigit() for t in tokens):
                    bad = next(t for t in tokens if not t.isdigit())
                    raise DataError(f"{p}: line {no} holds {bad[:20]!r}, not a non-negative integer id; fix: {fix}")
                ids = np.array(tokens, dtype=np.int64)
                if int(ids[0]) in seen:
                    raise DataError(f"{p}: user {int(ids[0])} is listed twice (line {no}); fix: {fix}")
                seen.add(int(ids[0]))
                users.append(np.full(len(ids) - 1, ids[0]))
                items.append(ids[1:])
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: unreadable as a gzip/text `user item item ...` file ({exc}); fix: {fix}") from None
    if not users:
        raise DataError(f"{p}: no user lines; fix: {fix}")
    return np.concatenate(users), np.concatenate(items)


def carve_valid(user: np.ndarray, per_user: int, seed: int) -> np.ndarray:
    """A boolean mask over train rows: ``per_user`` seeded-random rows of each user, never all of a user's rows
    (a user with ``per_user`` or fewer train rows keeps them all in train)."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(user)), user))
    counts = np.bincount(user)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(user)) - starts[user[order]]  # position within the user's shuffled rows
    take = (rank < per_user) & (counts[user[order]] > per_user)
    mask = np.zeros(len(user), bool)
    mask[order[take]] = True
    return mask


@register_dataset("gowalla")
class GowallaDataset:
    """Gowalla (embedded, offline): the LightGCN paper's train/test split, a seeded validation carved from train."""

    def __init__(self, *, valid_per_user: int = 1, valid_seed: int = 0) -> None:
        """Args:
            valid_per_user: train pairs per user moved to ``valid`` (uniformly at random; a user keeps at least
                one train pair). Every Gowalla user has ≥ 8 train pairs, so each gets exactly this many.
            valid_seed: seed of that draw; the carve is part of the dataset's cache key and of every result key.
        """
        if valid_per_user < 1:
            raise DataError(f"gowalla: valid_per_user must be ≥ 1 (selection needs a validation part), got "
                            f"{valid_per_user}; fix: set it to 1 or more")
        self.valid_per_user, self.valid_seed = valid_per_user, valid_seed

    def sources(self) -> list[Path]:
        folder = embedded_dir("gowalla")
        return [folder / "train.txt.gz", folder / "test.txt.gz"]

    def load(self) -> RawData:
        train_path, test_path = self.sources()
        tr_u, tr_i = read_user_lists(train_path)
        te_u, te_i = read_user_lists(test_path)
        n_items = int(max(tr_i.max(), te_i.max())) + 1
        overlap = np.intersect1d(tr_u * n_items + tr_i, te_u * n_items + te_i)
        if len(overlap):
            u, i = divmod(int(overlap[0]), n_items)
            raise DataError(f"{test_path}: {len(overlap)} (user, item) pairs are in train too (e.g. user {u}, item "
                            f"{i}), so test would not be held out; fix: {_FIX}")
        valid = carve_valid(tr_u, self.valid_per_user, self.valid_seed)
        split = np.where(valid, "valid", "train")
        inter = pd.DataFrame({"user": np.concatenate([tr_u, te_u]), "item": np.concatenate([tr_i, te_i]),
                              "split": np.concatenate([split, np.full(len(te_u), "test")])})
        return RawData(inter, None,
                       notes={"text": "Gowalla items are location ids: no text", "image": "no images",
                              "split": f"given train/test (LightGCN paper); valid = {self.valid_per_user} seeded "
                                       f"random train pair(s) per user (valid_seed {self.valid_seed})"},
                       interactions_source=f"{train_path} + {test_path}")
