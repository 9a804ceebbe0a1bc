"""One entry point from a dataset name and params to a :class:`PreparedData`, through the processed cache."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mmbench.data import cache
from mmbench.data.prepare import preprocess
from mmbench.data.types import PreparedData
from mmbench.errors import DataError
from mmbench.kinds import DATASETS
from mmbench.params import check_params, format_loc

PREP_VERSION = 1  # bump when preprocessing changes what it produces, so old cache entries are not reused


def hash_sources(sources: Sequence[str | Path]) -> str:
    """sha256 over each source: a Path by its bytes (and file name), a string as an immutable identifier."""
    h = hashlib.sha256()
    for src in sources:
        if isinstance(src, Path):
            if not src.is_file():
                raise DataError(f"{src}: file not found; fix: check the dataset's path params")
            h.update(src.name.encode() + b"\0")
            with open(src, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        else:
            h.update(str(src).encode() + b"\0")
    return h.hexdigest()


def resolve_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset's params with defaults filled in, or one DataError listing every problem."""
    resolved, issues = check_params(DATASETS.get(name), params, f"dataset {name!r}")
    if issues:
        lines = "; ".join(f"{format_loc('params', loc)}: {msg}" for loc, msg in issues)
        raise DataError(f"dataset {name!r}: bad params ({lines}); fix: see `mmbench ls datasets`")
    return resolved


def load_dataset(name: str, params: Mapping[str, Any] | None = None, *, use_cache: bool = True,
                 root: Path | None = None, log: Callable[[str], None] | None = None) -> PreparedData:
    """Prepare dataset ``name`` with ``params``: from the cache when the raw files and params are unchanged."""
    resolved = resolve_params(name, params or {})
    ds = DATASETS.get(name)(**resolved)
    sources = list(ds.sources())
    raw_hash = hash_sources(sources)
    key = hashlib.sha256(json.dumps({"dataset": name, "params": resolved, "raw": raw_hash,
                                     "prep": PREP_VERSION, "format": cache.FORMAT_VERSION},
                                    sort_keys=True, default=str).encode()).hexdigest()
    root = root or cache.cache_root()
    if use_cache:
        hit = cache.load(root, name, key)
        if hit is not None:
            if log:
                log(f"{name}: loaded from cache {cache.entry_dir(root, name, key)}")
            return hit
    data = preprocess(name, ds.load(), raw_hash=raw_hash[:16], cache_key=key,
                      source_files=tuple(str(s) for s in sources))
    if use_cache:
        try:
            where = cache.store(root, data)
            if log:
                log(f"{name}: prepared and cached at {where}")
        except OSError as exc:  # an unwritable cache must not stop a run
            import warnings

            warnings.warn(f"could not write the dataset cache under {root} ({exc}); set MMBENCH_CACHE_DIR to a "
                          f"writable folder", cache.DataCacheWarning, stacklevel=2)
    return data
