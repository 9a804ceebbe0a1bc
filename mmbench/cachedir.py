"""Where every mmbench cache lives: prepared datasets, extracted features, fetched images.

``$MMBENCH_CACHE_DIR`` overrides the platform cache directory (``$XDG_CACHE_HOME/mmbench`` or
``~/.cache/mmbench`` on Linux, ``~/Library/Caches/mmbench`` on macOS, ``%LOCALAPPDATA%\\mmbench`` on
Windows). Each cache keeps its own sub-folder (``datasets/``, ``features/``, ``images/``).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

ENV = "MMBENCH_CACHE_DIR"


def cache_root() -> Path:
    """The root folder of every mmbench cache (see the module docstring)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "mmbench"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "mmbench"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mmbench"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in chunks: how every cache checks and keys file content."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
