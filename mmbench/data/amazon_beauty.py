"""Amazon Beauty 2014 5-core, embedded: 22,363 users, 12,101 items, 198,502 timestamped reviews.

Shipped inside the package (see ``embedded/amazon_beauty/PROVENANCE.md`` for sources, checks and license
notes), so it loads with no network. Item text is brand, category names and title keywords; the dataset has
no images, and the image modality is reported as absent for every item, never filled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmbench.data.raw import (EMBEDDED_FIX, Preprocess, RawData, check_columns, embedded_dir, read_int_columns,
                              read_table)
from mmbench.errors import DataError
from mmbench.kinds import register_dataset

EXPECTED_COLUMNS = ("user_id", "item_id", "timestamp")
_FIX = EMBEDDED_FIX
__all__ = ["AmazonBeautyDataset", "embedded_dir", "read_interactions"]


def read_interactions(path: Path) -> pd.DataFrame:
    """Read an interactions CSV with ``user_id,item_id,timestamp`` integer columns, or raise DataError."""
    return read_int_columns(path, EXPECTED_COLUMNS, _FIX)


@register_dataset("amazon-beauty")
class AmazonBeautyDataset:
    """Amazon Beauty 2014 5-core (embedded, offline): real timestamped reviews, brand/category/keyword text."""

    def __init__(self, *, max_users: int | None = None, k_core: int = 0) -> None:
        """Args:
            max_users: keep only users with id ≤ this (smoke tests); part of the dataset's key.
            k_core: re-apply an iterative k-core after ``max_users`` (0 = as shipped, already 5-core).
        """
        if max_users is not None and max_users < 1:
            raise DataError(f"amazon-beauty: max_users must be ≥ 1, got {max_users}")
        self.max_users, self.k_core = max_users, k_core

    def sources(self) -> list[Path]:
        return [embedded_dir() / "interactions.csv.gz", embedded_dir() / "items.csv"]

    def load(self) -> RawData:
        inter_path, items_path = self.sources()
        df = read_interactions(inter_path)
        if self.max_users is not None:
            df = df[df.user_id <= self.max_users]
        items = read_table(items_path, fix=_FIX, dtype={"asin": str, "title_keywords": str, "brand": str})
        check_columns(items, ("item_id", "asin", "title_keywords", "brand", "categories"), items_path, _FIX)
        items = items.rename(columns={"item_id": "item"})[["item", "asin", "title_keywords", "brand", "categories"]]
        items["categories"] = items.categories.str.replace("|", ", ", regex=False)
        inter = pd.DataFrame({"user": df.user_id.to_numpy(), "item": df.item_id.to_numpy(),
                              "timestamp": df.timestamp.to_numpy(np.int64)})
        return RawData(inter, items, text_fields=("title_keywords", "brand", "categories"), image_field=None,
                       preprocess=Preprocess(k_core=self.k_core),
                       notes={"image": "the Amazon Beauty 2014 5-core copy ships no images or image features"},
                       interactions_source=str(inter_path), items_source=str(items_path))

    def external_ids(self) -> dict[str, dict[str, str]]:
        """The Amazon ids behind this copy's integer ids, as strings: ``{"users": {user_id: reviewerID},
        "items": {item_id: ASIN}}`` (``users.csv``, ``items.csv``), for exports served by the ids Amazon uses."""
        users = read_table(embedded_dir() / "users.csv", fix=_FIX, dtype=str)
        items = read_table(embedded_dir() / "items.csv", fix=_FIX, dtype=str)
        check_columns(users, ("user_id", "reviewer_id"), embedded_dir() / "users.csv", _FIX)
        return {"users": dict(zip(users.user_id, users.reviewer_id)), "items": dict(zip(items.item_id, items.asin))}
