"""Amazon Beauty 2014 5-core, embedded: 22,363 users, 12,101 items, 198,502 timestamped reviews.

Shipped inside the package (see ``embedded/amazon_beauty/PROVENANCE.md`` for sources, checks and license
notes), so it loads with no network. Item text (brand, categories, title keywords) is kept beside it; the
dataset has no images.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from mmbench.data.types import Interactions
from mmbench.errors import DataError
from mmbench.kinds import register_dataset

EXPECTED_COLUMNS = ("user_id", "item_id", "timestamp")


def embedded_dir() -> Path:
    """Folder of the embedded Amazon Beauty files."""
    return Path(str(resources.files("mmbench.data.embedded") / "amazon_beauty"))


def read_interactions(path: Path) -> pd.DataFrame:
    """Read an interactions CSV with ``user_id,item_id,timestamp`` integer columns, or raise DataError."""
    if not path.is_file():
        raise DataError(f"{path}: file not found; fix: reinstall mmbench (`pip install -e .`) so package data is present")
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise DataError(f"{path}: unreadable ({exc}); fix: reinstall mmbench to restore the file") from None
    missing = [c for c in EXPECTED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    for col in EXPECTED_COLUMNS:
        if not pd.api.types.is_integer_dtype(df[col]):
            raise DataError(f"{path}: column {col!r} must hold integers, found dtype {df[col].dtype}")
    return df


@register_dataset("amazon-beauty")
class AmazonBeautyDataset:
    """Amazon Beauty 2014 5-core (embedded, offline): real timestamped reviews, brand/category/keyword text."""

    def __init__(self, *, max_users: int | None = None) -> None:
        """Args:
            max_users: keep only users with id ≤ this (smoke tests); part of the dataset's key.
        """
        if max_users is not None and max_users < 1:
            raise DataError(f"amazon-beauty: max_users must be ≥ 1, got {max_users}")
        self.max_users = max_users

    def load(self) -> Interactions:
        path = embedded_dir() / "interactions.csv.gz"
        df = read_interactions(path)
        if self.max_users is not None:
            df = df[df.user_id <= self.max_users]
        user_codes, user_ids = pd.factorize(df.user_id, sort=True)
        item_codes, item_ids = pd.factorize(df.item_id, sort=True)
        return Interactions(
            name="amazon-beauty",
            user=user_codes.astype(np.int64),
            item=item_codes.astype(np.int64),
            timestamp=df.timestamp.to_numpy(np.int64),
            user_ids=np.asarray(user_ids),
            item_ids=np.asarray(item_ids),
            source_files=(str(path),),
        )
