"""What a dataset component hands to preprocessing: raw tables, feature files, and the filters to apply.

Also the shared readers every loader uses, so that a missing file, a misnamed column or an unparseable
timestamp gives the same one-line error (file, problem, fix) whatever the dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmbench.errors import DataError

RAW_COLUMNS = ("user", "item", "timestamp", "rating", "weight", "split")
EMBEDDED_FIX = "reinstall mmbench (`pip install -e .`) so its package data is complete"


@dataclass(frozen=True)
class Preprocess:
    """Filters applied in order: rating threshold, date range, dedupe, iterative k-core.

    ``start`` / ``end`` are ISO dates (``end`` exclusive); ``k_core`` ≤ 1 turns the k-core off.
    """

    min_rating: float | None = None
    start: str | None = None
    end: str | None = None
    k_core: int = 0

    def __post_init__(self) -> None:
        for label in ("start", "end"):
            if getattr(self, label) is not None:
                self.unix(label)
        if self.k_core < 0:
            raise DataError(f"k_core must be ≥ 0 (0 = off), got {self.k_core}")

    def unix(self, label: str) -> int:
        """``start`` or ``end`` as unix seconds (naive dates are UTC), or a DataError naming the param."""
        date = getattr(self, label)
        try:
            dt = datetime.fromisoformat(date)
        except (TypeError, ValueError):
            raise DataError(f"{label}={date!r} is not an ISO date; fix: write e.g. 2019-01-01") from None
        return int((dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp())


@dataclass(frozen=True)
class FeatureTable:
    """A precomputed feature file: ``values[r]`` belongs to the item whose raw id is ``item_keys[r]``."""

    modality: str
    values: np.ndarray
    item_keys: np.ndarray
    source: str


@dataclass(frozen=True)
class RawData:
    """A dataset as read from its files, before any filtering.

    ``interactions`` has columns ``user``, ``item`` and optionally ``timestamp`` (int64 unix seconds),
    ``rating``, ``weight`` and ``split`` (``train``/``valid``/``test``), in the source's row order.
    ``items`` (optional) has a unique ``item`` column plus the fields named by ``text_fields`` and
    ``image_field``. ``notes`` explains absent modalities for the card (e.g. ``{"image": "no images"}``);
    ``interactions_source`` / ``items_source`` name the files in preprocessing errors.
    """

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    text_fields: tuple[str, ...] = ()
    image_field: str | None = None
    features: dict[str, FeatureTable] = field(default_factory=dict)
    preprocess: Preprocess = Preprocess()
    notes: dict[str, str] = field(default_factory=dict)
    interactions_source: str = ""  # file (or hub path) the rows came from, named in preprocessing errors
    items_source: str = ""


def require_file(path: str | Path, fix: str) -> Path:
    """``path`` as a Path if it is a readable file, else a DataError naming it and ``fix``."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{p}: file not found; fix: {fix}")
    return p


def check_columns(df: pd.DataFrame, wanted: Sequence[str], path: str | Path, fix: str) -> None:
    """Raise one DataError listing every wanted column that ``df`` lacks, and what it has."""
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(map(str, df.columns))}; fix: {fix}")


def read_table(path: str | Path, *, sep: str | None = None, header: bool = True,
               names: Sequence[str] | None = None, fix: str = "check the file", **kwargs: Any) -> pd.DataFrame:
    """Read a CSV/TSV (optionally gzip-compressed) with string-preserving defaults, or raise DataError."""
    p = require_file(path, fix)
    if sep is None:
        stem = p.name[:-3] if p.name.endswith(".gz") else p.name
        sep = "\t" if stem.endswith((".tsv", ".inter", ".item", ".user", ".dat")) else ","
    try:
        return pd.read_csv(p, sep=sep, header=0 if header else None, names=list(names) if names else None,
                           keep_default_na=False, na_values=[""], low_memory=False, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{p}: unreadable as a {'tab' if sep == chr(9) else repr(sep)}-separated table ({msg}); "
                        f"fix: {fix}") from None


def parse_timestamps(values: pd.Series, path: str | Path, column: str) -> np.ndarray:
    """Unix seconds (int64) from unix seconds / milliseconds or ISO-8601 strings, or a DataError.

    Integers above 10^11 are read as milliseconds (10^11 s is the year 5138).
    """
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise DataError(f"{path}: column {column!r} is empty at data row {row + 1}; fix: fill every timestamp "
                        f"or leave the timestamp column out and use a split that needs no time")
    if not pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().all():
            values = numbers
        elif numbers.notna().any():
            row = int(np.flatnonzero(numbers.isna().to_numpy())[0])
            raise DataError(f"{path}: column {column!r} mixes numeric timestamps with text (e.g. "
                            f"{values.iloc[row]!r} at data row {row + 1}); "
                            f"fix: write every timestamp in one format (unix seconds or ISO dates)")
    if pd.api.types.is_numeric_dtype(values):
        arr = values.to_numpy()
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{path}: column {column!r} holds non-finite timestamps; fix: use unix seconds")
        arr = arr.astype(np.float64)
        if len(arr) and np.nanmax(np.abs(arr)) > 1e11:
            arr = arr / 1000.0
        return np.floor(arr).astype(np.int64)
    try:
        parsed = pd.to_datetime(values.astype(str), utc=True, format="ISO8601")
    except (ValueError, TypeError):
        bad = next((v for v in values.astype(str) if pd.isna(pd.to_datetime(v, errors="coerce", utc=True))), "?")
        raise DataError(f"{path}: column {column!r} has non-numeric timestamps that are not ISO-8601 dates "
                        f"(e.g. {bad!r}); fix: write unix seconds or ISO dates like 2014-07-23T10:00:00") from None
    return ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def load_npy(path: str | Path, fix: str) -> np.ndarray:
    """A 2-d numeric array from a ``.npy`` file, never unpickling anything."""
    p = require_file(path, fix)
    try:
        arr = np.load(p, allow_pickle=False, mmap_mode=None)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{p}: not a readable .npy array without pickle ({exc}); fix: {fix}") from None
    if arr.ndim != 2 or arr.dtype.kind not in "fiu":
        raise DataError(f"{p}: expected a 2-d numeric feature matrix, found shape {arr.shape} dtype {arr.dtype}; "
                        f"fix: save one row per item with numpy.save")
    return arr


def embedded_dir(folder: str = "amazon_beauty") -> Path:
    """Folder of an embedded dataset's files (package data under ``mmbench/data/embedded``)."""
    return Path(str(resources.files("mmbench.data.embedded") / folder))


def read_int_columns(path: Path, columns: Sequence[str], fix: str = EMBEDDED_FIX, **kwargs: object) -> pd.DataFrame:
    """A CSV whose ``columns`` must exist and hold integers (ids, counts), or one DataError."""
    df = read_table(path, fix=fix, **kwargs)
    check_columns(df, columns, path, fix)
    for col in columns:
        if not pd.api.types.is_integer_dtype(df[col]):
            raise DataError(f"{path}: column {col!r} must hold integers, found dtype {df[col].dtype}; fix: {fix}")
        if len(df) and df[col].min() < 0:
            raise DataError(f"{path}: column {col!r} holds negative values; fix: {fix}")
    return df


def indexed_feature(path: Path, modality: str, n_items: int, fix: str = EMBEDDED_FIX) -> FeatureTable:
    """A feature matrix whose row ``r`` belongs to item id ``r``; its row count must equal ``n_items``.

    A length mismatch would silently shift every vector onto the wrong item (row order is the only join
    key), so it is an error rather than a partial alignment.
    """
    values = load_npy(path, fix)
    if values.shape[0] != n_items:
        raise DataError(f"{path}: {values.shape[0]} feature rows but {n_items} items (row r must belong to "
                        f"item_id r); fix: {fix}")
    return FeatureTable(modality, values, np.arange(n_items), str(path))
