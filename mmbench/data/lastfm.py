"""Last.fm HetRec-2011 2K with multimodal features, embedded: 1,858 users, 1,425 artists, 56,345 plays.

Shipped inside the package (see ``embedded/lastfm/PROVENANCE.md`` for the source commit, blob SHAs and the
HetRec non-commercial terms in ``hetrec_readme.txt``). Items are artists with their name and tag text, one
cover image URL each, a 384-d MiniLM text embedding and two audio embeddings (VGGish 128-d, Whisper 512-d).
Every interaction carries the real play count as ``weight``; the split is upstream's random 80/10/10.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmbench.data.raw import (EMBEDDED_FIX, Preprocess, RawData, check_columns, embedded_dir, indexed_feature,
                              read_int_columns, read_table)
from mmbench.errors import DataError
from mmbench.kinds import register_dataset

_FIX = EMBEDDED_FIX
FEATURES = {  # feature name -> (file, modality)
    "text-minilm": ("text_all-MiniLM-L6-v2.npy", "text"),
    "audio-vggish": ("audio_vggish.npy", "audio"),
    "audio-whisper": ("audio_whisper.npy", "audio"),
}


def first_cover(path: Path) -> pd.DataFrame:
    """``artistID`` -> the first non-empty cover link in file order, as columns ``artist_id``, ``image_url``."""
    covers = read_table(path, fix=_FIX, dtype={"link_song": str})
    check_columns(covers, ("artistID", "link_song"), path, _FIX)
    covers = covers.dropna(subset=["link_song"])
    first = covers.drop_duplicates("artistID", keep="first")
    return pd.DataFrame({"artist_id": first.artistID.to_numpy(), "image_url": first.link_song.to_numpy()})


@register_dataset("lastfm")
class LastFMDataset:
    """Last.fm HetRec 2K multimodal (embedded, offline): given split, play counts, tags, text + audio features."""

    def __init__(self, *, k_core: int = 0) -> None:
        """Args:
            k_core: apply an iterative k-core (0 = as released; upstream already kept ≥ 5 plays per artist
                and ≥ 2 per user).
        """
        self.k_core = k_core

    def sources(self) -> list[Path]:
        folder = embedded_dir("lastfm")
        return [folder / "interactions.csv.gz", folder / "items.csv.gz", folder / "covers.tsv.gz",
                *(folder / file for file, _ in FEATURES.values())]

    def load(self) -> RawData:
        inter_path, items_path, covers_path, *feature_paths = self.sources()
        df = read_int_columns(inter_path, ("user_id", "item_id", "listen_count"))
        check_columns(df, ("split",), inter_path, _FIX)
        items = read_int_columns(items_path, ("item_id", "artist_id"), dtype={"name": str, "tags": str})
        check_columns(items, ("name", "tags"), items_path, _FIX)
        n_items = len(items)
        # item ids are row indices into the .npy files, so the item table must be exactly 0..n-1
        if not np.array_equal(items.item_id.to_numpy(), np.arange(n_items)):
            raise DataError(f"{items_path}: item_id must run 0..{n_items - 1} in order; fix: {_FIX}")
        if len(df) and df.item_id.max() >= n_items:
            raise DataError(f"{inter_path}: item_id {int(df.item_id.max())} has no row in {items_path.name} "
                            f"({n_items} items); fix: {_FIX}")
        items = items.merge(first_cover(covers_path), on="artist_id", how="left", validate="many_to_one")
        items = items.rename(columns={"item_id": "item"})[["item", "artist_id", "name", "tags", "image_url"]]
        features = {name: indexed_feature(path, modality, n_items)
                    for (name, (_, modality)), path in zip(FEATURES.items(), feature_paths)}
        inter = pd.DataFrame({"user": df.user_id.to_numpy(np.int64), "item": df.item_id.to_numpy(np.int64),
                              "weight": df.listen_count.to_numpy(np.float64),
                              "split": df.split.astype(str).to_numpy()})
        return RawData(inter, items, text_fields=("name", "tags"), image_field="image_url", features=features,
                       preprocess=Preprocess(k_core=self.k_core),
                       notes={"image": "cover image URLs only (not downloaded); no image features are shipped"},
                       interactions_source=str(inter_path), items_source=str(items_path))
