"""The offline check in front of hub downloads: fast, honest about proxies and HF's own switches."""

from __future__ import annotations

import socket

import pytest

from mmbench.components.encoders import _hub
from mmbench.errors import EncoderError


@pytest.fixture
def listening():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        yield srv.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_ENDPOINT", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)


def test_endpoint_reachability(monkeypatch, listening):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listening}")
    assert _hub.hub_reachable(timeout=1)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    assert not _hub.hub_reachable(timeout=1)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listening}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not _hub.hub_reachable(timeout=1)


def test_behind_a_proxy_the_proxy_is_what_must_answer(monkeypatch, listening):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")  # unresolvable on its own
    monkeypatch.setenv("https_proxy", f"http://user:pw@127.0.0.1:{listening}")
    assert _hub.hub_reachable(timeout=1)
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{closed_port()}")
    assert not _hub.hub_reachable(timeout=1)


def test_ensure_hub_accepts_local_folders_and_names_alternatives(monkeypatch, tmp_path):
    monkeypatch.setattr(_hub, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr(_hub, "in_hub_cache", lambda *a, **k: False)
    _hub.ensure_hub(str(tmp_path), encoder="bert", revision=None, cached_files=(), alternatives="minilm")
    with pytest.raises(EncoderError, match=r"'acme/model'.*cannot be reached.*offline encoder: minilm"):
        _hub.ensure_hub("acme/model", encoder="bert", revision=None, cached_files=(), alternatives="minilm")


def test_files_digest_follows_content(tmp_path):
    (tmp_path / "a.safetensors").write_bytes(b"one")
    first = _hub.files_digest(_hub.weight_files(tmp_path))
    (tmp_path / "a.safetensors").write_bytes(b"two!")
    assert _hub.files_digest(_hub.weight_files(tmp_path)) != first and len(first) == 16
    with pytest.raises(EncoderError, match="no weight files"):
        _hub.weight_files(tmp_path / "empty")


def test_missing_backend_names_the_extra():
    with pytest.raises(EncoderError, match=r"pip install 'mmbench\[image\]'"):
        _hub.require("no_such_module_xyz", "image", "encoder 'x'")
