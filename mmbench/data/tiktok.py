"""TikTok micro-videos (MMSSL/DiffMM release), embedded: 9,308 users, 6,710 items, 68,722 interactions.

Shipped inside the package (see ``embedded/tiktok/PROVENANCE.md`` for the source commit, blob SHAs and
license notes). Items carry real precomputed 128-d visual and 128-d acoustic features; there is no text, no
raw media and no time, so the dataset's own train/valid/test split (``given``) is the one to use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmbench.data.raw import (EMBEDDED_FIX, Preprocess, RawData, check_columns, embedded_dir, indexed_feature,
                              read_int_columns)
from mmbench.kinds import register_dataset

_FIX = EMBEDDED_FIX


@register_dataset("tiktok")
class TikTokDataset:
    """TikTok micro-videos (embedded, offline): given split, real visual + acoustic features, no text."""

    def __init__(self, *, k_core: int = 0) -> None:
        """Args:
            k_core: apply an iterative k-core (0 = as released). The released split is *not* a k-core:
                users and items with a single interaction exist, and 465 items occur only in valid/test.
        """
        self.k_core = k_core

    def sources(self) -> list[Path]:
        folder = embedded_dir("tiktok")
        return [folder / "interactions.csv.gz", folder / "image_feat.npy", folder / "audio_feat.npy"]

    def load(self) -> RawData:
        inter_path, image_path, audio_path = self.sources()
        df = read_int_columns(inter_path, ("user_id", "item_id"))
        check_columns(df, ("split",), inter_path, _FIX)
        # the item id is the row index into both .npy files, so every id up to the largest needs a row
        n_items = int(df.item_id.max()) + 1 if len(df) else 0
        features = {"visual": indexed_feature(image_path, "image", n_items),
                    "acoustic": indexed_feature(audio_path, "audio", n_items)}
        inter = pd.DataFrame({"user": df.user_id.to_numpy(np.int64), "item": df.item_id.to_numpy(np.int64),
                              "split": df.split.astype(str).to_numpy()})
        return RawData(inter, None, features=features, preprocess=Preprocess(k_core=self.k_core),
                       notes={"text": "TikTok ships no text features in this release",
                              "image": "only precomputed visual features; no raw images or video frames"},
                       interactions_source=str(inter_path))
