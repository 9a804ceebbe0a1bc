"""The processed-dataset cache: npz + parquet on disk, keyed by raw content and every preprocessing parameter.

Layout: ``<root>/datasets/<name>/<key16>/`` with ``interactions.npz``, ``features.npz``, ``items.parquet``,
``meta.json`` and ``manifest.json`` (sha256 of every other file). A cache entry is written into a temporary
folder and renamed into place, so readers never see half an entry. On load every file is checked against
the manifest; anything missing, corrupt or of another format version is rebuilt with a warning. Nothing is
unpickled: ``np.load(allow_pickle=False)``, parquet and JSON only.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmbench.cachedir import cache_root, sha256_file  # noqa: F401  (cache_root is re-exported)
from mmbench.data.types import Feature, Interactions, PreparedData

FORMAT_VERSION = 1
_OPTIONAL = ("timestamp", "rating", "weight", "given_split")


class DataCacheWarning(UserWarning):
    """A cached dataset was unusable and is being rebuilt."""




def entry_dir(root: Path, name: str, key: str) -> Path:
    return root / "datasets" / name.replace("/", "__") / key[:16]


def _ids(arr: np.ndarray) -> np.ndarray:
    """Ids as a pickle-free array: integers stay integers, anything else becomes fixed-width unicode."""
    return arr.astype(np.int64) if arr.dtype.kind in "iu" else arr.astype(str)


def store(root: Path, data: PreparedData) -> Path:
    """Write ``data`` atomically; returns the entry folder."""
    final = entry_dir(root, data.name, data.cache_key)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    inter = data.interactions
    arrays = {"user": inter.user, "item": inter.item, "user_ids": _ids(inter.user_ids),
              "item_ids": _ids(inter.item_ids)}
    arrays.update({k: getattr(inter, k) for k in _OPTIONAL if getattr(inter, k) is not None})
    np.savez(tmp / "interactions.npz", **arrays)
    feats: dict[str, np.ndarray] = {}
    for name, f in data.features.items():
        feats[f"values/{name}"], feats[f"available/{name}"] = f.values, f.available
    feats.update({f"modality/{k}": v for k, v in data.modalities.items()})
    np.savez(tmp / "features.npz", **feats)
    items = data.items.copy()
    items["item"] = _ids(items["item"].to_numpy())
    items.columns = [str(c) for c in items.columns]
    items.to_parquet(tmp / "items.parquet", index=False)
    meta = {"format": FORMAT_VERSION, "name": data.name, "text_fields": list(data.text_fields),
            "image_field": data.image_field, "card": data.card, "raw_hash": data.raw_hash,
            "cache_key": data.cache_key, "source_files": list(inter.source_files),
            "features": {k: {"modality": f.modality, "source": f.source} for k, f in data.features.items()}}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    manifest = {"format": FORMAT_VERSION, "files": {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    for p in tmp.iterdir():
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:  # another process stored the same entry first
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _read(entry: Path) -> PreparedData:
    manifest = json.loads((entry / "manifest.json").read_text())
    if manifest.get("format") != FORMAT_VERSION:
        raise ValueError(f"format {manifest.get('format')} != {FORMAT_VERSION}")
    for fname, digest in manifest["files"].items():
        if sha256_file(entry / fname) != digest:
            raise ValueError(f"{fname} does not match its checksum")
    meta = json.loads((entry / "meta.json").read_text())
    with np.load(entry / "interactions.npz", allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    inter = Interactions(meta["name"], a["user"], a["item"], a.get("timestamp"), a["user_ids"], a["item_ids"],
                         tuple(meta["source_files"]), a.get("rating"), a.get("weight"), a.get("given_split"))
    with np.load(entry / "features.npz", allow_pickle=False) as z:
        f = {k: z[k] for k in z.files}
    features = {k: Feature(v["modality"], f[f"values/{k}"], f[f"available/{k}"], v["source"])
                for k, v in meta["features"].items()}
    modalities = {k.split("/", 1)[1]: v for k, v in f.items() if k.startswith("modality/")}
    items = pd.read_parquet(entry / "items.parquet")
    return PreparedData(meta["name"], inter, items, tuple(meta["text_fields"]), meta["image_field"], features,
                        modalities, meta["card"], meta["raw_hash"], meta["cache_key"])


def load(root: Path, name: str, key: str) -> PreparedData | None:
    """The cached entry, or ``None`` when absent; a corrupt entry is removed with a warning."""
    entry = entry_dir(root, name, key)
    if not entry.exists():
        return None
    try:
        data = _read(entry)
        if data.cache_key != key:
            raise ValueError("entry belongs to another key")
        return data
    except Exception as exc:  # noqa: BLE001 - any defect in a cache entry means: rebuild it
        warnings.warn(f"dataset cache {entry} is unusable ({type(exc).__name__}: {exc}); rebuilding it",
                      DataCacheWarning, stacklevel=3)
        shutil.rmtree(entry, ignore_errors=True)
        return None


def describe(root: Path) -> list[dict[str, Any]]:
    """One row per cache entry (dataset, key, size in bytes)."""
    rows = []
    for entry in sorted((root / "datasets").glob("*/*")):
        if entry.is_dir() and not entry.name.startswith(".tmp"):
            size = sum(p.stat().st_size for p in entry.iterdir())
            rows.append({"dataset": entry.parent.name.replace("__", "/"), "key": entry.name, "bytes": size,
                         "path": str(entry)})
    return rows


__all__ = ["DataCacheWarning", "cache_root", "describe", "load", "store"]
