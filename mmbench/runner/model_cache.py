"""Trained-model reuse: a model trained without KD is a pure function of its inputs, so train it once.

A suite trains the same teacher and the same no-KD student in many recipes (one KD recipe per distillation
loss, dropout ablations, sweeps over the student's KD settings). With deterministic kernels and a per-model
seed (:func:`mmbench.runner.train.seed_everything` runs before every model), a model trained without KD ends
in the same weights whichever recipe trains it, as long as everything it depends on is equal: the code, the
data and split, the seed, the component and its params, its training and selection settings, and (for a
model that reads item features) the features themselves and the item side (dropout, imputer, fusion).
:func:`model_key` hashes exactly that; the runner stores the selected weights and the training curve under
the cache root and later recipes load them instead of training again. Test evaluation, latency and
robustness always run afresh, and the record says the model was reused and from which key.

The CPU thread count is deliberately not part of the key (a sweep's worker processes use fewer threads than
a single run): retraining with another count can differ in the last digits, through the floating-point
reduction order of multi-threaded kernels.

A KD student's key adds its teacher's key and every distillation setting, so it is reused only with the
very same teacher and losses (e.g. a sweep's trial and the recipe it selected). Entries are written atomically (weights first,
the JSON that marks an entry complete last) and read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmbench.cachedir import cache_root
from mmbench.runner.train import FitResult, Log

CACHE_VERSION = 1


# Package parts that never touch how a model is built, trained or selected: reporting, the command line,
# test-time evaluation under missing modalities, latency, interop, run tracking, exporting and serving trained
# models. Editing them keeps trained models valid; everything else (new modules included) is part of the
# fingerprint.
NOT_TRAINING = ("cli.py", "cli_*.py", "results/*", "interop/*", "tracking/*", "runner/sweep.py",
                "runner/robustness.py", "runner/provenance.py", "metrics/latency.py", "metrics/robustness.py",
                "recipe/sweep.py", "export/*", "serve/*")


def _code_of(source: bytes) -> bytes:
    """The code of a module without its docstrings and comments (the AST), or the bytes if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False).encode()


def source_fingerprint(root: Path, exclude: tuple[str, ...] = ()) -> str:
    """A hash of the code of every ``*.py`` under ``root`` but ``exclude`` (globs relative to ``root``).

    Docstrings, comments and layout do not count: editing them keeps trained models valid.
    """
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if any(fnmatch.fnmatch(rel, pattern) for pattern in exclude):
            continue
        h.update(rel.encode())
        h.update(_code_of(path.read_bytes()))
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the package code that builds, trains and selects models (all but :data:`NOT_TRAINING`)."""
    return source_fingerprint(Path(__file__).resolve().parents[1], NOT_TRAINING)


def tensor_digest(*tensors: torch.Tensor) -> str:
    """A content hash of tensors (shape, dtype and bytes)."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}|{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def model_key(parts: dict[str, Any]) -> str:
    """The cache key of one trained model: a hash of ``parts`` (JSON) and the code fingerprint."""
    blob = json.dumps({"v": CACHE_VERSION, "code": code_fingerprint(), **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_dir() -> Path:
    """Where trained models are kept: ``<cache root>/models``."""
    return cache_root() / "models"


def load_model(key: str, model: nn.Module, log: Log) -> FitResult | None:
    """Load the weights and training summary stored under ``key`` into ``model``; None when absent or stale."""
    meta_path, weights_path = cache_dir() / f"{key}.json", cache_dir() / f"{key}.pt"
    if not meta_path.exists() or not weights_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # a damaged entry is a cache miss, never a failed run
        log(f"  trained-model cache entry {key} is unreadable ({type(exc).__name__}: {exc}); training instead")
        return None
    model.eval()
    fit = meta["fit"]
    return FitResult(fit["best_epoch"], fit["epochs_run"], fit["stopped"], fit["valid"], fit["history"],
                     fit["seconds"], fit.get("resumed_from", 0))


def save_model(key: str, model: nn.Module, fitted: FitResult, source: dict[str, Any]) -> None:
    """Store ``model``'s weights and its training summary under ``key`` (atomically; the JSON last)."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, folder / f"{key}.pt")
    meta = {"version": CACHE_VERSION, "key": key, "source": source,
            "fit": {"best_epoch": fitted.best_epoch, "epochs_run": fitted.epochs_run, "stopped": fitted.stopped,
                    "valid": fitted.valid, "history": fitted.history, "seconds": fitted.seconds,
                    "resumed_from": fitted.resumed_from}}
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, folder / f"{key}.json")
