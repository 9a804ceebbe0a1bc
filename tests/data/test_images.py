"""Image fetching against a local HTTP server: real photos, broken responses, retries, the on-disk cache."""

from __future__ import annotations

import io
import json
import math
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from mmbench import __version__
from mmbench.data.images import FetchReport, fetch_images
from mmbench.errors import DataError

MAX_BYTES = 100_000  # above both JPEG photos (~61 kB and ~27 kB), below the PNG of china (~0.5 MB)
FAST = {"backoff": 0.01, "timeout": 5.0, "max_bytes": MAX_BYTES}


def encoded(name: str, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(load_sample_image(name)).save(buf, fmt)
    return buf.getvalue()


CHINA, FLOWER = encoded("china.jpg"), encoded("flower.jpg")
CHINA_PNG = encoded("china.jpg", "PNG")


def pixels(data: bytes | Path) -> np.ndarray:
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
        return np.asarray(im.convert("RGB"))


@dataclass
class Server:
    base: str
    hits: Counter = field(default_factory=Counter)
    agents: list = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


def send(h: BaseHTTPRequestHandler, body: bytes, ctype: str, status: int = 200, length: bool = True) -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    if length:
        h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    for i in range(0, len(body), 8192):  # in pieces, so a client that stops early is really streaming
        h.wfile.write(body[i:i + 8192])


def routes(hits: Counter) -> dict[str, Callable[[BaseHTTPRequestHandler], None]]:
    def flaky(h: BaseHTTPRequestHandler) -> None:
        if hits["/flaky.jpg"] == 1:
            send(h, b"busy", "text/plain", 503)
        else:
            send(h, FLOWER, "image/jpeg")

    def huge_claim(h: BaseHTTPRequestHandler) -> None:
        # claims far more than max_bytes, then sends a small photo: only a client that trusts the header
        # (and never reads the body) calls this too-large; one that reads gets a short body instead
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(50 * MAX_BYTES))
        h.end_headers()
        h.wfile.write(FLOWER)

    def slow(h: BaseHTTPRequestHandler) -> None:
        time.sleep(1.0)  # well past the client's 0.3 s timeout
        send(h, FLOWER, "image/jpeg")

    return {
        "/china.jpg": lambda h: send(h, CHINA, "image/jpeg"),
        "/flower.jpg": lambda h: send(h, FLOWER, "image/jpeg; charset=binary"),
        "/octet": lambda h: send(h, FLOWER, "application/octet-stream"),
        "/octet-text": lambda h: send(h, b"just bytes", "application/octet-stream"),
        "/truncated.jpg": lambda h: send(h, CHINA[: len(CHINA) // 2], "image/jpeg"),
        "/page.html": lambda h: send(h, b"<html><body>no image here</body></html>", "text/html"),
        "/missing.jpg": lambda h: send(h, b"not found", "text/plain", 404),
        "/broken.jpg": lambda h: send(h, b"oops", "text/plain", 500),
        "/throttled.jpg": lambda h: send(h, b"slow down", "text/plain", 429),
        "/flaky.jpg": flaky,
        "/big.png": lambda h: send(h, CHINA_PNG, "image/png"),
        "/stream.png": lambda h: send(h, CHINA_PNG, "image/png", length=False),
        "/huge-claim.jpg": huge_claim,
        "/slow.jpg": slow,
    }


@pytest.fixture
def server(monkeypatch) -> Iterator[Server]:
    """A ThreadingHTTPServer on 127.0.0.1:<free port>; counts hits per path and records User-Agents."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # the requests must reach the loopback server directly
    hits: Counter = Counter()
    agents: list = []
    table = routes(hits)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits[self.path] += 1
            agents.append(self.headers.get("User-Agent"))
            try:
                table[self.path](self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up on purpose (too-large, timeout)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", hits, agents)
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.jpg"


def test_mixed_inputs_are_aligned_and_every_failure_is_counted(server, tmp_path):
    local = tmp_path / "local.jpg"
    local.write_bytes(FLOWER)
    broken_local = tmp_path / "broken.jpg"
    broken_local.write_bytes(CHINA[:2000])
    u = server.url
    sources = [
        u("/china.jpg"), None, u("/flower.jpg"), float("nan"), u("/china.jpg"), "", u("/truncated.jpg"),
        u("/page.html"), u("/missing.jpg"), u("/broken.jpg"), u("/throttled.jpg"), u("/flaky.jpg"),
        u("/big.png"), u("/stream.png"), u("/octet"), u("/octet-text"), str(local), local.as_uri(),
        str(tmp_path / "nope.jpg"), str(broken_local), "ftp://example.com/a.jpg", closed_port_url(),
        u("/china.jpg"), u("/huge-claim.jpg"),
    ]
    done: list[int] = []
    out, report = fetch_images(sources, tmp_path / "cache", workers=8, retries=2, progress=done.append, **FAST)

    assert len(out) == len(sources) and sum(done) == len(sources)
    usable = {0, 2, 4, 11, 14, 16, 17, 22}
    assert [i for i, p in enumerate(out) if p is not None] == sorted(usable)
    assert out[0] == out[4] == out[22] and out[0].parent.parent == tmp_path / "cache"
    assert out[16] == out[17] == local  # used in place, not copied
    assert np.array_equal(pixels(out[0]), pixels(CHINA)) and out[0].read_bytes() == CHINA
    assert np.array_equal(pixels(out[2]), pixels(FLOWER))
    assert pixels(out[0]).shape == load_sample_image("china.jpg").shape
    assert out[0].suffix == out[11].suffix == ".jpg" and out[14].suffix == ".jpg"  # octet-stream: from PIL

    assert (report.total, report.no_source, report.local, report.cached) == (len(sources), 3, 2, 0)
    assert report.downloaded == 6  # china x3 (one fetch), flower, flaky, octet
    assert report.failed == {"http-404": 1, "http-500": 1, "http-429": 1, "too-large": 3, "undecodable": 2,
                             "not-an-image": 2, "missing-file": 1, "bad-url": 1, "connection": 1}
    assert report.available == len(usable) and report.unavailable == len(sources) - len(usable)
    assert set(report.examples["too-large"]) == {u("/big.png"), u("/stream.png"), u("/huge-claim.jpg")}
    assert report.examples["bad-url"] == ["ftp://example.com/a.jpg"]

    # each distinct URL once; retries only on 429 / 5xx
    assert server.hits["/china.jpg"] == 1
    assert server.hits["/flaky.jpg"] == 2
    assert server.hits["/missing.jpg"] == 1
    assert server.hits["/broken.jpg"] == server.hits["/throttled.jpg"] == 3  # retries + 1
    assert server.hits["/page.html"] == server.hits["/truncated.jpg"] == 1
    assert server.hits["/big.png"] == server.hits["/stream.png"] == server.hits["/huge-claim.jpg"] == 1
    assert set(server.agents) == {f"mmbench/{__version__}"}
    assert not list((tmp_path / "cache").rglob(".*.part"))  # failures leave no temporary files behind

    line = report.summary()
    assert line.startswith(f"images: {len(usable)}/{len(sources)} usable (")
    for reason in ("3 no URL", "3 too-large", "1 http-404", "1 http-500", "1 connection", "2 not-an-image"):
        assert reason in line
    assert json.loads(json.dumps(report.to_dict()))["failed"]["http-404"] == 1


def test_second_run_reads_the_cache_and_retries_failures(server, tmp_path):
    sources = [server.url(p) for p in ("/china.jpg", "/flower.jpg", "/flaky.jpg", "/missing.jpg")]
    first, r1 = fetch_images(sources, tmp_path, **FAST)
    hits = Counter(server.hits)
    second, r2 = fetch_images(sources, tmp_path, **FAST)

    assert r1.downloaded == 3 and r2.downloaded == 0 and r2.cached == r1.downloaded
    assert second == first and second[3] is None
    assert server.hits - hits == Counter({"/missing.jpg": 1})  # failures are not cached
    assert r2.failed == {"http-404": 1}


def test_corrupt_cache_file_and_leftover_partial_are_refetched(server, tmp_path):
    url = server.url("/china.jpg")
    (path,), _ = fetch_images([url], tmp_path, **FAST)
    path.write_bytes(CHINA[:5000])  # a damaged cache entry: opens as JPEG, fails a full decode
    (again,), report = fetch_images([url], tmp_path, **FAST)
    assert (report.cached, report.downloaded, server.hits["/china.jpg"]) == (0, 1, 2)
    assert np.array_equal(pixels(again), pixels(CHINA))

    # an interrupted download leaves only a dot-prefixed temporary file, never a cache hit (even one that
    # decodes: here another image, so picking it up would also show in the pixels)
    again.unlink()
    (again.parent / f".{again.stem}.abc.part").write_bytes(FLOWER)
    (third,), report = fetch_images([url], tmp_path, **FAST)
    assert (report.cached, report.downloaded, server.hits["/china.jpg"]) == (0, 1, 3)
    assert third == again and np.array_equal(pixels(third), pixels(CHINA))


def test_slow_server_times_out_after_each_attempt(server, tmp_path):
    (path,), report = fetch_images([server.url("/slow.jpg")], tmp_path, timeout=0.3, retries=1, backoff=0.01)
    assert path is None and report.failed == {"timeout": 1}
    assert server.hits["/slow.jpg"] == 2


def test_local_paths_and_file_urls_are_used_in_place(tmp_path):
    good = tmp_path / "a b.jpg"  # a space: file:// URLs are percent-encoded
    good.write_bytes(CHINA)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    sources = [good, str(good), good.as_uri(), str(corrupt), (tmp_path / "gone.jpg").as_uri(), str(tmp_path),
               math.nan, None]
    out, report = fetch_images(sources, tmp_path / "cache", workers=2)
    assert out[:3] == [good, good, good] and out[3:] == [None] * 5
    assert (report.local, report.no_source, report.downloaded) == (3, 2, 0)
    assert report.failed == {"missing-file": 2, "undecodable": 1}
    assert not any((tmp_path / "cache").iterdir())  # nothing copied


def test_empty_input_and_report_summary(tmp_path):
    out, report = fetch_images([], tmp_path)
    assert out == [] and report.summary() == "images: 0/0 usable"

    report = FetchReport(total=1300, no_source=10, local=0, cached=1200, downloaded=34,
                         failed={"http-404": 40, "timeout": 16}, examples={"http-404": ["http://x/1.jpg"]})
    assert (report.available, report.unavailable) == (1234, 66)
    assert report.summary() == "images: 1,234/1,300 usable (94.9%); missing: 10 no URL, 40 http-404, 16 timeout"
    assert report.to_dict()["unavailable"] == 66


def test_missing_pillow_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `from PIL import Image` raise ImportError
    with pytest.raises(DataError, match=r"pip install 'mmbench\[image\]'"):
        fetch_images(["http://127.0.0.1/x.jpg"], tmp_path)


def test_unreachable_host_stops_being_tried(tmp_path):
    """Offline, thousands of URLs of one CDN must not each pay for retries: the host is given up on."""
    base = closed_port_url()
    urls = [f"{base}/{i}.jpg" for i in range(60)]
    calls = []
    paths, report = fetch_images(urls, tmp_path / "c", workers=4, timeout=0.5, retries=1, backoff=0.01,
                                 host_fail_limit=5, progress=calls.append)
    assert paths == [None] * 60 and sum(calls) == 60
    assert report.failed["host-unreachable"] >= 60 - 5 - 4  # at most the limit plus the in-flight workers tried
    assert report.failed.get("connection", 0) + report.failed["host-unreachable"] == 60
    assert "host-unreachable" in report.summary()
    unlimited = fetch_images(urls[:8], tmp_path / "d", workers=2, timeout=0.5, retries=0, host_fail_limit=0)[1]
    assert unlimited.failed == {"connection": 8}
