"""Hand-made export folders (format v1) for the serving tests, written without the exporter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from mmbench.serve.format import FORMAT, FORMAT_VERSION, sha256_of


def write_export(folder: Path, users: np.ndarray, items: np.ndarray, seen: list[list[int]],
                 user_ids: list[str] | None = None, item_ids: list[str] | None = None) -> Path:
    """A hand-made export folder (format v1), written without the exporter."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"users": users.astype(np.float32), "items": items.astype(np.float32)}, str(folder / "tables.safetensors"))
    ids = {"users": user_ids or [f"u{i}" for i in range(len(users))],
           "items": item_ids or [f"i{i}" for i in range(len(items))]}
    (folder / "ids.json").write_text(json.dumps(ids))
    indptr = np.concatenate([[0], np.cumsum([len(s) for s in seen])]).astype(np.int64)
    flat = np.asarray([i for s in seen for i in sorted(s)], dtype=np.int64)
    save_file({"indptr": indptr, "items": flat}, str(folder / "seen.safetensors"))
    rehash(folder, {"format": FORMAT, "format_version": FORMAT_VERSION, "mmbench_version": "test",
                    "dataset": {"key": "hand-made"}, "cold_items": None, "ann": None})
    return folder


def rehash(folder: Path, manifest: dict | None = None) -> None:
    """(Re)write the manifest with the sha256 of the folder's files as they are now."""
    manifest = manifest or json.loads((folder / "manifest.json").read_text())
    manifest["files"] = {p.name: {"sha256": sha256_of(p)} for p in sorted(folder.iterdir())
                         if p.name != "manifest.json"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
