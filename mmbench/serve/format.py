"""The export format (version 1): the files of an exported model, and the checked reader of a folder.

An export folder holds (``DEVELOPERS.md``, "The export format", is the full specification):

- ``manifest.json``: what the model is (recipe, dataset, role, run, metrics, score rule), every other file's
  sha256, and the format name and version;
- ``tables.safetensors``: ``users`` [n_users, d] and ``items`` [n_items, d] float32, the served tables:
  ``score(u, i) = users[u] · items[i]``;
- ``ids.json``: ``{"users": [...], "items": [...]}``, the dataset's raw ids (strings) in row order;
- ``seen.safetensors``: ``indptr`` [n_users + 1] and ``items`` [nnz] int64, each user's train ∪ valid items
  (CSR, sorted, distinct): what ``--exclude-seen`` removes;
- ``cold.safetensors`` (optional): the item-side map from features to an item vector, ``<modality>.weight``
  [d, d_m] and ``<modality>.bias`` [d], for items the model never saw (see :mod:`mmbench.serve.cold`);
- ``ann.faiss`` (optional): an inner-product faiss index over ``items`` (see :mod:`mmbench.serve.ann`).

This module reads with numpy, json and safetensors only: serving needs neither torch nor the dataset.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from mmbench.errors import ExportFormatError

FORMAT = "mmbench-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TABLES = "tables.safetensors"
IDS = "ids.json"
SEEN = "seen.safetensors"
COLD = "cold.safetensors"
ANN = "ann.faiss"
REQUIRED = (TABLES, IDS, SEEN)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class ExportData:
    """An export folder's contents, checked against each other and against the manifest."""

    folder: Path
    manifest: dict[str, Any]
    users: np.ndarray
    items: np.ndarray
    user_ids: list[str]
    item_ids: list[str]
    seen_indptr: np.ndarray
    seen_items: np.ndarray
    cold: dict[str, np.ndarray] | None


def _bad(folder: Path, problem: str) -> ExportFormatError:
    return ExportFormatError(f"{folder}: {problem}; fix: export the model again (`mmbench export ... --out "
                             f"{folder} --force`), or copy the whole folder as it was written")


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an export folder, after checking that this mmbench reads its format and version."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ExportFormatError(f"{folder}: no such export folder; fix: write one with `mmbench export ... --out "
                                f"{folder}`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _bad(folder, f"{MANIFEST} is missing (not an mmbench export, or an incomplete copy)") from None
    except (OSError, ValueError) as exc:
        raise _bad(folder, f"{MANIFEST} is unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _bad(folder, f"{MANIFEST} does not describe an {FORMAT} folder")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ExportFormatError(
            f"{folder}: export format version {version!r}, but this mmbench reads version {FORMAT_VERSION}; "
            f"fix: export the run again with this mmbench (`mmbench export`), or serve it with the mmbench "
            f"{manifest.get('mmbench_version', '?')} that wrote it")
    return manifest


def _tensors(folder: Path, name: str, want: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        out = load_file(str(folder / name))
    except (SafetensorError, OSError, ValueError) as exc:
        raise _bad(folder, f"{name} is unreadable ({exc})") from None
    missing = [k for k in want if k not in out]
    if missing:
        raise _bad(folder, f"{name} lacks the tensor(s) {', '.join(missing)}")
    return out


def _ids(folder: Path, n_users: int, n_items: int) -> tuple[list[str], list[str]]:
    try:
        ids = json.loads((folder / IDS).read_text(encoding="utf-8"))
        users, items = ids["users"], ids["items"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _bad(folder, f"{IDS} is unreadable or lacks 'users' / 'items' ({type(exc).__name__}: {exc})") from None
    for label, got, n in (("users", users, n_users), ("items", items, n_items)):
        if not isinstance(got, list) or not all(isinstance(x, str) for x in got):
            raise _bad(folder, f"{IDS}: '{label}' must be a list of strings")
        if len(got) != n:
            raise _bad(folder, f"the {label} table has {n} rows but {IDS} maps {len(got)} {label}")
        if len(set(got)) != len(got):
            raise _bad(folder, f"{IDS}: '{label}' repeats an id")
    return users, items


def _check_seen(folder: Path, indptr: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> None:
    if indptr.shape != (n_users + 1,) or indptr[0] != 0 or indptr[-1] != len(items) or np.any(np.diff(indptr) < 0):
        raise _bad(folder, f"{SEEN}: indptr must hold {n_users + 1} non-decreasing offsets from 0 to "
                           f"{len(items)} (got shape {indptr.shape})")
    if len(items) and (items.min() < 0 or items.max() >= n_items):
        raise _bad(folder, f"{SEEN}: an item index lies outside 0..{n_items - 1}")


def load_export(folder: Path, *, verify: bool = True) -> ExportData:
    """Read and check an export folder: format version, files present (and their sha256 with ``verify``), table
    shapes against the id maps, finite scores, a well-formed seen-items CSR. Any problem is one
    :class:`~mmbench.errors.ExportFormatError` naming the file."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    files = manifest.get("files") or {}
    for name in (*REQUIRED, *(k for k in files if k not in REQUIRED)):
        if not (folder / name).is_file():
            raise _bad(folder, f"{name} is missing")
        if verify and name in files and sha256_of(folder / name) != files[name].get("sha256"):
            raise _bad(folder, f"{name} does not match the sha256 in {MANIFEST} (changed or damaged)")
    tables = _tensors(folder, TABLES, ("users", "items"))
    users, items = tables["users"], tables["items"]
    if users.ndim != 2 or items.ndim != 2 or users.shape[1] != items.shape[1]:
        raise _bad(folder, f"{TABLES}: users {users.shape} and items {items.shape} must be [n, d] with one d")
    if users.dtype != np.float32 or items.dtype != np.float32:
        raise _bad(folder, f"{TABLES}: tables must be float32 (got {users.dtype} / {items.dtype})")
    if not (np.isfinite(users).all() and np.isfinite(items).all()):
        raise _bad(folder, f"{TABLES}: a table holds NaN or inf")
    user_ids, item_ids = _ids(folder, len(users), len(items))
    seen = _tensors(folder, SEEN, ("indptr", "items"))
    _check_seen(folder, seen["indptr"], seen["items"], len(users), len(items))
    cold = _tensors(folder, COLD, ()) if COLD in files else None
    return ExportData(folder, manifest, users, items, user_ids, item_ids, seen["indptr"].astype(np.int64),
                      seen["items"].astype(np.int64), cold)
