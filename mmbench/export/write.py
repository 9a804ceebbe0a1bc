"""``mmbench export``: a recorded model's served tables, raw id maps, seen items and manifest, as one folder.

The folder is written under a temporary name beside ``out``, read back through the serving loader
(:class:`~mmbench.serve.recommender.Recommender`), re-evaluated on the test part, and renamed to ``out`` only if it
reproduces the record's test metrics (:mod:`mmbench.export.verify`): a reader never sees a partial or an
unverified export. The format is :mod:`mmbench.serve.format`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from mmbench import __version__
from mmbench.data.types import Split
from mmbench.errors import ExportError
from mmbench.export.cold import cold_item_map
from mmbench.export.ids import served_ids
from mmbench.export.locate import Located
from mmbench.export.rebuild import Rebuilt, rebuild, rerun_fix
from mmbench.export.verify import TOLERANCE, check_reproduces, reevaluate
from mmbench.runner import model_cache
from mmbench.serve import format as fmt
from mmbench.serve.recommender import Recommender

Log = Callable[[str], None]
SCORE_RULE = {"rule": "dot", "formula": "score(u, i) = users[u] · items[i] (float32 tables of tables.safetensors)",
              "served": "the model's served tables: folded() (adapter offsets, chosen cold-item rows) then tables()"}


def seen_csr(split: Split) -> tuple[np.ndarray, np.ndarray]:
    """Each user's distinct train ∪ valid items, sorted: ``(indptr [n_users + 1], items [nnz])`` int64."""
    users = np.concatenate([split.train.user, split.valid.user]).astype(np.int64)
    items = np.concatenate([split.train.item, split.valid.item]).astype(np.int64)
    keys = np.unique(users * split.n_items + items)
    indptr = np.searchsorted(keys, np.arange(split.n_users + 1, dtype=np.int64) * split.n_items)
    return indptr.astype(np.int64), (keys % split.n_items).astype(np.int64)


def _manifest(located: Located, built: Rebuilt, users: np.ndarray, items: np.ndarray, nnz: int) -> dict[str, Any]:
    rec, res = located.record, built.result
    return {
        "format": fmt.FORMAT, "format_version": fmt.FORMAT_VERSION, "mmbench_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": {"run_id": rec.run_id, "seed": rec.seed, "created_at": rec.created_at, "record": str(located.path),
                "git": rec.git},
        "recipe": {"name": rec.recipe.name, "hash": rec.recipe.hash, "path": rec.recipe.path,
                   "resolved": rec.recipe.resolved},
        "dataset": {"name": rec.dataset.name, "key": rec.dataset.key, "split": rec.dataset.split,
                    "content_hash": rec.dataset.content_hash, "split_hash": rec.dataset.split_hash},
        "model": {"role": res.role, "component": res.component, "params": res.params, "cache_key": res.cache_key,
                  "without_kd_of": res.without_kd_of, "distill": res.distill, "served": res.served,
                  "best_epoch": res.best_epoch, "size": res.size},
        "metrics": {"valid": res.metrics["valid"], "test": res.metrics["test"], "slices": res.slices},
        "score": SCORE_RULE,
        "counts": {"users": int(len(users)), "items": int(len(items)), "dim": int(users.shape[1]),
                   "seen_pairs": int(nnz)},
        "seen": {"parts": ["train", "valid"], "rule": "what --exclude-seen removes: the items the evaluator masks "
                                                      "when it ranks the test part"},
    }


def _write_json(path: Path, data: Any, indent: int | None = 2) -> None:
    path.write_text(json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")


def _write_files(tmp: Path, located: Located, built: Rebuilt, ann: bool, log: Log) -> dict[str, Any]:
    """Every file but the manifest into ``tmp``; returns the manifest (files listed with their sha256)."""
    users, items = (np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32) for t in built.served.tables())
    indptr, seen = seen_csr(built.split)
    ids, ids_note = served_ids(built.recipe, built.data.interactions)
    save_file({"users": users, "items": items}, str(tmp / fmt.TABLES))
    _write_json(tmp / fmt.IDS, ids, indent=None)
    save_file({"indptr": indptr, "items": seen}, str(tmp / fmt.SEEN))
    manifest = _manifest(located, built, users, items, len(seen))
    manifest["ids"] = ids_note
    tensors, spec, why = cold_item_map(built.model, built.result.component, built.recipe, located.record)
    if tensors is not None:
        save_file(tensors, str(tmp / fmt.COLD))
    manifest.update(cold_items=spec, cold_items_note=why)
    manifest["ann"] = None
    if ann:
        from mmbench.serve.ann import HnswIndex

        log("building the HNSW index (faiss, inner product) ...")
        index = HnswIndex.build(items)
        index.write(tmp / fmt.ANN)
        manifest["ann"] = {"kind": "faiss-hnsw-flat", "metric": "inner_product", "file": fmt.ANN,
                           "items": index.ntotal, **index.params}
    mask = os.umask(0o022)
    os.umask(mask)
    for p in tmp.iterdir():  # safetensors writes 0600; an export is meant to be copied and shared
        p.chmod(0o666 & ~mask)
    manifest["files"] = {p.name: {"sha256": fmt.sha256_of(p), "bytes": p.stat().st_size}
                         for p in sorted(tmp.iterdir())}
    return manifest


def _publish(tmp: Path, out: Path, force: bool) -> None:
    """Rename ``tmp`` to ``out`` (an existing ``out`` replaced only with ``force``)."""
    if not out.exists():
        os.rename(tmp, out)
        return
    if not force:
        raise ExportError(f"{out} exists; fix: choose another --out, or pass --force to replace it")
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def export_model(located: Located, index: int, out: Path, *, ann: bool = False, force: bool = False,
                 tolerance: float = TOLERANCE, log: Log = print) -> dict[str, Any]:
    """Export ``located.record.models[index]`` to the folder ``out`` and return its manifest (see the module)."""
    out = Path(out)
    if out.exists() and not force:
        raise ExportError(f"{out} exists; fix: choose another --out, or pass --force to replace it")
    if ann:  # before the rebuild: a missing faiss is known at once
        from mmbench.serve.ann import require_faiss

        require_faiss()
    built = rebuild(located.record, index, log)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        manifest = _write_files(tmp, located, built, ann, log)
        _write_json(tmp / fmt.MANIFEST, manifest)
        rec = Recommender.load(tmp)  # the files as a server reads them
        res = built.result
        what = f"the {res.role} {res.component} of run {located.record.run_id}"
        fix = (f"delete the cache entry {model_cache.cache_dir() / (str(res.cache_key) + '.*')} and "
               f"{rerun_fix(located.record)}, then export the new record")
        log(f"re-evaluating the exported tables on the test part ({len(built.split.test)} pairs) ...")
        manifest["verification"] = check_reproduces(reevaluate(rec, built.split, built.recipe), res.metrics["test"],
                                                    what, fix, tolerance)
        _write_json(tmp / fmt.MANIFEST, manifest)
        _publish(tmp, out, force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest
