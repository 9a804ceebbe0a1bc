"""Bring your own data: an interactions CSV/TSV plus an optional item table and precomputed feature files.

A user with their own data writes only a recipe::

    dataset:
      name: csv
      params:
        path: data/ratings.csv            # user, item, optional timestamp / rating / split columns
        user_col: reviewerID
        item_col: asin
        timestamp_col: unixReviewTime     # unix seconds or ms, or ISO-8601 dates
        items: data/items.csv             # optional: one row per item
        text_cols: [title, brand]
        image_col: image_path             # file paths or URLs
        features: {image-clip: data/clip.npy}   # row r belongs to the item table's row r

Relative paths are resolved against the working directory. Feature names are ``<modality>`` or
``<modality>-<source>`` (``image-clip`` is an image feature); a mapping ``{path: ..., modality: ...}`` says it
explicitly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmbench.data.raw import (FeatureTable, Preprocess, RawData, check_columns, load_npy, parse_timestamps,
                              read_table, require_file)
from mmbench.errors import DataError
from mmbench.kinds import register_dataset

_FIX_PATH = "check dataset.params.path (relative paths start at the working directory)"


@register_dataset("csv")
class CSVDataset:
    """Your own interactions CSV/TSV, optional item table (text, image paths/URLs) and .npy item features."""

    def __init__(self, *, path: str, user_col: str = "user_id", item_col: str = "item_id",
                 timestamp_col: str | None = None, rating_col: str | None = None, weight_col: str | None = None,
                 split_col: str | None = None, sep: str | None = None, header: bool = True,
                 columns: list[str] | None = None, items: str | None = None, item_id_col: str | None = None,
                 text_cols: list[str] | None = None, image_col: str | None = None,
                 features: dict[str, str | dict[str, str]] | None = None, k_core: int = 0,
                 min_rating: float | None = None, start: str | None = None, end: str | None = None) -> None:
        """Args:
            path: interactions file (.csv, .tsv, optionally .gz); one row per interaction.
            user_col: column holding user ids.
            item_col: column holding item ids.
            timestamp_col: column holding times (unix s/ms or ISO dates); needed by time-based splits.
            rating_col: column holding ratings (for ``min_rating``).
            weight_col: column holding interaction weights such as play counts.
            split_col: column holding a given split (train/valid/test) for split ``given``.
            sep: field separator; default tab for .tsv, comma otherwise.
            header: whether the first line names the columns; if not, give ``columns``.
            columns: column names for a file without a header line.
            items: item table file with one row per item.
            item_id_col: the item table's id column (default: ``item_col``).
            text_cols: item table columns holding item text.
            image_col: item table column holding image file paths or URLs.
            features: ``{name: path.npy}`` item feature matrices whose rows follow the item table's rows.
            k_core: iterative k-core on users and items (0 = off).
            min_rating: drop interactions rated below this.
            start: drop interactions before this ISO date.
            end: drop interactions on or after this ISO date.
        """
        if not header and not columns:
            raise DataError(f"{path}: header=false needs `columns` (the column names); fix: add columns: [...]")
        if (text_cols or image_col or features) and not items:
            raise DataError(f"{path}: text_cols / image_col / features need an item table; fix: set `items`")
        self.path, self.user_col, self.item_col = path, user_col, item_col
        self.timestamp_col, self.rating_col, self.weight_col, self.split_col = (timestamp_col, rating_col,
                                                                                weight_col, split_col)
        self.sep, self.header, self.columns = sep, header, columns
        self.items, self.item_id_col = items, item_id_col or item_col
        self.text_cols, self.image_col, self.features = list(text_cols or []), image_col, dict(features or {})
        self.preprocess = Preprocess(min_rating=min_rating, start=start, end=end, k_core=k_core)
        require_file(self.path, _FIX_PATH)  # now, so that `mmbench validate` reports a wrong path
        if self.items:
            require_file(self.items, "check dataset.params.items")

    def _feature_specs(self) -> dict[str, tuple[str, str]]:
        out = {}
        for name, spec in self.features.items():
            if isinstance(spec, str):
                out[name] = (spec, name.split("-", 1)[0])
            elif isinstance(spec, dict) and "path" in spec:
                out[name] = (spec["path"], spec.get("modality", name.split("-", 1)[0]))
            else:
                raise DataError(f"features.{name}: expected a path or {{path: ..., modality: ...}}, got {spec!r}")
        return out

    def sources(self) -> list[Path]:
        paths = [require_file(self.path, _FIX_PATH)]
        if self.items:
            paths.append(require_file(self.items, "check dataset.params.items"))
        paths += [require_file(p, f"check dataset.params.features.{n}") for n, (p, _) in self._feature_specs().items()]
        return paths

    def _interactions(self) -> pd.DataFrame:
        df = read_table(self.path, sep=self.sep, header=self.header, names=self.columns, fix=_FIX_PATH,
                        dtype={self.user_col: str, self.item_col: str})
        mapping = {"user": self.user_col, "item": self.item_col, "timestamp": self.timestamp_col,
                   "rating": self.rating_col, "weight": self.weight_col, "split": self.split_col}
        used = {k: v for k, v in mapping.items() if v}
        check_columns(df, list(used.values()), self.path,
                      "set user_col / item_col / timestamp_col / ... to the file's column names")
        out = pd.DataFrame({k: df[v] for k, v in used.items()})
        if "timestamp" in out:
            out["timestamp"] = parse_timestamps(out.timestamp, self.path, self.timestamp_col or "")
        for k in ("rating", "weight"):
            if k in out and not pd.api.types.is_numeric_dtype(out[k]):
                bad = out[k][pd.to_numeric(out[k], errors="coerce").isna()].iloc[0]
                raise DataError(f"{self.path}: column {used[k]!r} must be numeric, found {bad!r}; fix: clean the "
                                f"column or leave {k}_col unset")
        if "split" in out:
            out["split"] = out.split.astype(str).str.strip().str.lower()
        return out

    def _item_table(self) -> pd.DataFrame:
        assert self.items is not None
        table = read_table(self.items, fix="check dataset.params.items", dtype={self.item_id_col: str})
        wanted = [self.item_id_col, *self.text_cols, *([self.image_col] if self.image_col else [])]
        check_columns(table, wanted, self.items, "set item_id_col / text_cols / image_col to the table's columns")
        return table[list(dict.fromkeys(wanted))].rename(columns={self.item_id_col: "item"})

    def load(self) -> RawData:
        inter = self._interactions()
        table = self._item_table() if self.items else None
        feats = {}
        for name, (path, modality) in self._feature_specs().items():
            values = load_npy(path, f"check dataset.params.features.{name}")
            assert table is not None
            if len(values) != len(table):
                raise DataError(f"{path}: {len(values)} feature rows but the item table {self.items} has "
                                f"{len(table)} rows; fix: save one row per item-table row, in the same order")
            feats[name] = FeatureTable(modality, values, table["item"].to_numpy(), str(path))
        if table is not None:
            table = table.copy()
            for col in self.text_cols + ([self.image_col] if self.image_col else []):
                table[col] = table[col].astype("string")
        return RawData(inter, table, tuple(self.text_cols), self.image_col, feats, self.preprocess,
                       interactions_source=str(self.path), items_source=str(self.items or ""))

