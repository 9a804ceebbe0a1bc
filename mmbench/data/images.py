"""Item images as local files: local paths used in place, http(s) URLs fetched concurrently into a cache.

The feature stage hands the item table's image column to :func:`fetch_images` and gets back a list aligned
with it: a decodable local file per item, or ``None`` (the item is then marked missing, never dropped).
Downloads live at ``<cache_dir>/<sha[:2]>/<sha256(url)><ext>``; each is streamed into a dot-named temporary
file in the same folder, decode-checked, then renamed into place, so an interrupted run never leaves a half
file that a later run would count as cached. Failures are not cached: the next run tries them again.
"""

from __future__ import annotations

import hashlib
import http.client
import mimetypes
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pandas as pd

from mmbench import __version__
from mmbench.errors import DataError

_RETRYABLE = ("timeout", "connection", "http-429")  # plus every http-5xx
_FORMAT_EXT = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}


@dataclass(frozen=True)
class FetchReport:
    """What became of each input; every count is per input, so they sum to ``total``."""

    total: int
    no_source: int
    local: int
    cached: int
    downloaded: int
    failed: dict[str, int]
    examples: dict[str, list[str]]

    @property
    def available(self) -> int:
        return self.local + self.cached + self.downloaded

    @property
    def unavailable(self) -> int:
        return self.total - self.available

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "available": self.available, "unavailable": self.unavailable}

    def summary(self) -> str:
        pct = f" ({100 * self.available / self.total:.1f}%)" if self.total else ""
        line = f"images: {self.available:,}/{self.total:,} usable{pct}"
        missing = ([f"{self.no_source:,} no URL"] if self.no_source else []) + \
                  [f"{n:,} {reason}" for reason, n in self.failed.items()]
        return line + (f"; missing: {', '.join(missing)}" if missing else "")


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise DataError("fetching item images needs Pillow, which is not installed; "
                        "fix: pip install 'mmbench[image]'") from None
    return Image


def _decode(path: Path) -> tuple[str | None, str]:
    """``(PIL format, "")`` when ``path`` fully decodes (``load()`` catches truncation), else ``(None, reason)``."""
    Image = _pil()
    try:
        with Image.open(path) as im:
            im.load()
            return im.format or "unknown", ""
    except Image.DecompressionBombError:  # more pixels than PIL's MAX_IMAGE_PIXELS guard allows
        return None, "too-large"
    except Exception:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, struct.error... on bad data
        return None, "undecodable"


def _blank(src: object) -> bool:
    if isinstance(src, (str, os.PathLike)):
        return not str(src).strip()
    try:  # None, NaN, pd.NA, NaT: whatever pandas put in an empty cell of the image column
        return bool(pd.isna(src))
    except (TypeError, ValueError):  # not a scalar: _classify reports it as a bad URL
        return False


def _classify(src: str | os.PathLike) -> tuple[str, str]:
    """``("url", url)``, ``("local", absolute path)`` or ``("bad-url", source)``."""
    if isinstance(src, os.PathLike):
        return "local", str(Path(src).expanduser().absolute())
    if not isinstance(src, str):
        return "bad-url", str(src)
    text = src.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if len(scheme) <= 1:  # no scheme, or a Windows drive letter (C:\...): a plain path
        return "local", str(Path(text).expanduser().absolute())
    if scheme == "file" and parts.netloc in ("", "localhost"):
        return "local", str(Path(urllib.request.url2pathname(unquote(parts.path))).absolute())
    if scheme in ("http", "https") and parts.netloc:
        return "url", text
    return "bad-url", text


def _check_local(path: str) -> tuple[Path | None, str]:
    p = Path(path)
    if not p.is_file():
        return None, "missing-file"
    fmt, reason = _decode(p)
    return (p, "local") if fmt else (None, reason)


class _HostBreaker:
    """Gives up on a host after ``limit`` URLs in a row failed to connect (offline, or the host is down), so an
    offline run does not pay retries and backoff for each of 10,000 URLs of one CDN; any answer resets it."""

    def __init__(self, limit: int) -> None:
        self.limit, self.fails, self.lock = limit, Counter[str](), threading.Lock()

    def is_open(self, host: str) -> bool:
        with self.lock:
            return self.limit > 0 and self.fails[host] >= self.limit

    def record(self, host: str, reason: str) -> None:
        with self.lock:
            self.fails[host] = self.fails[host] + 1 if reason in ("connection", "timeout") else 0


@dataclass(frozen=True)
class _Fetcher:
    """One download policy, shared by the worker threads (it holds no mutable state)."""

    cache_dir: Path
    opener: urllib.request.OpenerDirector
    headers: dict[str, str]
    timeout: float
    retries: int
    backoff: float
    max_bytes: int
    breaker: _HostBreaker

    def __call__(self, url: str) -> tuple[Path | None, str]:
        sha = hashlib.sha256(url.encode("utf-8")).hexdigest()
        folder = self.cache_dir / sha[:2]
        # temporary files start with "." so this glob never mistakes a half-written file for a cached one
        for old in sorted(folder.glob(f"{sha}.*")):
            if _decode(old)[0]:
                return old, "cached"
            old.unlink(missing_ok=True)  # corrupt (disk damage, a foreign writer): fetch it again
        host = urlsplit(url).netloc.lower()
        if self.breaker.is_open(host):
            return None, "host-unreachable"
        for attempt in range(self.retries + 1):
            path, reason = self._attempt(url, folder, sha)
            if path is not None or not (reason in _RETRYABLE or reason.startswith("http-5")):
                break
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** attempt)
        self.breaker.record(host, reason)
        return path, reason

    def _attempt(self, url: str, folder: Path, sha: str) -> tuple[Path | None, str]:
        request = urllib.request.Request(url, headers=self.headers)
        try:
            with self.opener.open(request, timeout=self.timeout) as resp:
                return self._receive(resp, folder, sha)
        except urllib.error.HTTPError as exc:
            exc.close()  # frees the connection of an error response we never read
            return None, f"http-{exc.code}"
        except urllib.error.URLError as exc:
            return None, "timeout" if isinstance(exc.reason, TimeoutError) else "connection"
        except TimeoutError:  # the socket timed out while the body was being read
            return None, "timeout"
        except (OSError, http.client.HTTPException):
            return None, "connection"
        except ValueError:  # http.client.InvalidURL and friends: a URL urllib cannot even send
            return None, "bad-url"

    def _receive(self, resp: Any, folder: Path, sha: str) -> tuple[Path | None, str]:
        mime = resp.headers.get_content_type()
        if not (mime.startswith("image/") or mime == "application/octet-stream"):
            return None, "not-an-image"
        length = resp.headers.get("Content-Length", "").strip()
        declared = int(length) if length.isdigit() else None
        if declared is not None and declared > self.max_bytes:
            return None, "too-large"  # refused before a single body byte is read
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{sha}.", suffix=".part")
        tmp, kept = Path(tmp_name), False
        try:
            size = 0
            with os.fdopen(fd, "wb") as fh:
                # counted while streaming: servers lie about, or omit, Content-Length
                while chunk := resp.read(1 << 16):
                    size += len(chunk)
                    if size > self.max_bytes:
                        return None, "too-large"
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            if declared is not None and size < declared:
                return None, "connection"  # read(n) does not raise on a cut transfer; retrying may complete it
            fmt, reason = _decode(tmp)
            if fmt is None:
                # octet-stream is accepted only for bytes that are an image; for image/* they are a broken one
                return None, "not-an-image" if reason == "undecodable" and mime.startswith("application/") \
                    else reason
            ext = (mimetypes.guess_extension(mime) if mime.startswith("image/") else None) \
                or _FORMAT_EXT.get(fmt, f".{fmt.lower()}")
            final = folder / f"{sha}{ext}"
            os.replace(tmp, final)
            kept = True
            return final, "downloaded"
        finally:
            if not kept:
                tmp.unlink(missing_ok=True)


def fetch_images(sources: Sequence[str | os.PathLike | None], cache_dir: Path, *, workers: int = 16,
                 timeout: float = 10.0, retries: int = 2, backoff: float = 0.5, max_bytes: int = 20_000_000,
                 host_fail_limit: int = 20,
                 progress: Callable[[int], None] | None = None) -> tuple[list[Path | None], FetchReport]:
    """Local image files for ``sources`` (paths, ``file://`` or http(s) URLs); ``None`` where unusable.

    Args:
        sources: one entry per item; ``None``/empty/NaN means the item has no image.
        cache_dir: where downloads are kept between runs.
        workers: concurrent downloads (and local decode checks).
        timeout: seconds each socket operation of a request may block.
        retries: extra attempts after a timeout, a connection error, HTTP 429 or 5xx.
        backoff: the n-th retry (from 0) waits ``backoff * 2**n`` seconds.
        max_bytes: larger images are refused ("too-large").
        host_fail_limit: after this many URLs of one host in a row fail to connect, the host's remaining URLs
            fail at once as "host-unreachable" (0 disables this).
        progress: called from the calling thread with the number of inputs just finished.

    Returns:
        The paths, aligned 1:1 with ``sources``, and a :class:`FetchReport`.
    """
    _pil()  # fail before any network traffic when Pillow is missing
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    out: list[Path | None] = [None] * len(sources)
    status: list[str] = ["no-source"] * len(sources)
    tasks: dict[tuple[str, str], list[int]] = {}  # each distinct URL / path is checked once
    for i, src in enumerate(sources):
        if not _blank(src):
            kind, key = _classify(src)  # type: ignore[arg-type]
            if kind == "bad-url":
                status[i] = "bad-url"
            else:
                tasks.setdefault((kind, key), []).append(i)
    if progress and len(sources) > sum(map(len, tasks.values())):
        progress(len(sources) - sum(map(len, tasks.values())))
    # a fresh opener reads the proxy environment now, not when urllib's global opener was first built
    fetcher = _Fetcher(cache_dir, urllib.request.build_opener(), {"User-Agent": f"mmbench/{__version__}"},
                       timeout, retries, backoff, max_bytes, _HostBreaker(host_fail_limit))
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="mmbench-images")
    try:
        futures = {pool.submit(fetcher if kind == "url" else _check_local, key): idx
                   for (kind, key), idx in tasks.items()}
        for fut in as_completed(futures):
            path, reason = fut.result()
            for i in futures[fut]:
                out[i], status[i] = path, reason
            if progress:
                progress(len(futures[fut]))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C must not wait for thousands of queued URLs
        raise
    pool.shutdown()
    return out, _report(sources, status)


def _report(sources: Sequence[Any], status: list[str]) -> FetchReport:
    counts = Counter(status)
    ok = ("no-source", "local", "cached", "downloaded")
    failed = {r: n for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if r not in ok}
    examples: dict[str, list[str]] = {r: [] for r in failed}
    for src, reason in zip(sources, status):
        seen = examples.get(reason)
        if seen is not None and len(seen) < 3 and str(src) not in seen:  # distinct: a repeated URL shows once
            seen.append(str(src))
    return FetchReport(total=len(sources), no_source=counts["no-source"], local=counts["local"],
                       cached=counts["cached"], downloaded=counts["downloaded"], failed=failed, examples=examples)

