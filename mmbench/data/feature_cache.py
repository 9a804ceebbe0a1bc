"""The feature cache: extracted item features on disk, keyed by what determines them.

Key = sha256 over (encoder name, the encoder's ``identity()`` — weights identity and output-changing params —
and the content hash of its inputs: rendered texts, image bytes, or the dataset's raw hash). A re-run with
the same key extracts nothing. Layout: ``<cache root>/features/<encoder>/<key16>/`` holding
``values.npy`` (float32 [n, d]), ``available.npy`` (bool [n]), ``meta.json`` and ``manifest.json`` (sha256
of the others). Entries are written to a temporary folder and renamed into place; on load every file is
checked against the manifest and a corrupt entry is re-extracted with a warning. Nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmbench.cachedir import cache_root, sha256_file

FORMAT_VERSION = 1


class FeatureCacheWarning(UserWarning):
    """A cached feature entry was unusable and is being re-extracted."""


@dataclass(frozen=True)
class CachedFeatures:
    """Features of one (encoder, inputs) key: values, availability mask and the metadata stored with them."""

    values: np.ndarray
    available: np.ndarray
    meta: dict[str, Any]


def feature_key(encoder: str, identity: Mapping[str, Any], inputs_hash: str) -> str:
    """The cache key (64 hex digits) of an encoder's output on given inputs."""
    blob = json.dumps({"format": FORMAT_VERSION, "encoder": encoder, "identity": identity, "inputs": inputs_hash},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def entry_dir(encoder: str, key: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / "features" / encoder.replace("/", "__") / key[:16]


def store(encoder: str, key: str, values: np.ndarray, available: np.ndarray, meta: Mapping[str, Any],
          root: Path | None = None) -> Path:
    """Write one entry atomically; returns its folder."""
    if values.ndim != 2 or values.dtype != np.float32 or available.shape != (len(values),):
        raise ValueError(f"features must be float32 [n, d] with a bool [n] mask, got {values.dtype} "
                         f"{values.shape} and {available.shape}")
    final = entry_dir(encoder, key, root)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    np.save(tmp / "values.npy", np.ascontiguousarray(values), allow_pickle=False)
    np.save(tmp / "available.npy", np.ascontiguousarray(available, dtype=bool), allow_pickle=False)
    (tmp / "meta.json").write_text(json.dumps({"format": FORMAT_VERSION, "encoder": encoder, "key": key,
                                               **meta}, indent=1, sort_keys=True, default=str))
    files = ("values.npy", "available.npy", "meta.json")
    (tmp / "manifest.json").write_text(json.dumps({f: sha256_file(tmp / f) for f in files}, indent=1))
    for f in (*files, "manifest.json"):
        with open(tmp / f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():  # a concurrent writer or a corrupt entry: replace it whole
        shutil.rmtree(final, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not final.exists():
            raise
    return final


def load(encoder: str, key: str, root: Path | None = None) -> CachedFeatures | None:
    """The cached entry, or ``None`` when absent; a corrupt entry warns, is removed and reads as absent."""
    folder = entry_dir(encoder, key, root)
    if not folder.exists():
        return None
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        for name, digest in manifest.items():
            if sha256_file(folder / name) != digest:
                raise ValueError(f"{name} does not match its manifest checksum")
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
            raise ValueError(f"format {meta.get('format')} / key mismatch")
        values = np.load(folder / "values.npy", allow_pickle=False)
        available = np.load(folder / "available.npy", allow_pickle=False)
        if values.dtype != np.float32 or values.ndim != 2 or available.shape != (len(values),):
            raise ValueError("arrays have the wrong dtype or shape")
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        warnings.warn(f"feature cache entry {folder} is unusable ({exc}); re-extracting", FeatureCacheWarning,
                      stacklevel=2)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return CachedFeatures(values, available, meta)


def describe(root: Path | None = None) -> list[dict[str, Any]]:
    """One row per cached entry (encoder, key, shape, availability, size), for ``mmbench features --list``."""
    base = (root or cache_root()) / "features"
    rows = []
    for meta_path in sorted(base.glob("*/*/meta.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        size = sum(f.stat().st_size for f in meta_path.parent.iterdir() if f.is_file())
        rows.append({"encoder": meta.get("encoder"), "key": meta_path.parent.name, "dataset": meta.get("dataset"),
                     "modality": meta.get("modality"), "shape": meta.get("shape"),
                     "available": meta.get("available"), "MB": round(size / 2**20, 1)})
    return rows
