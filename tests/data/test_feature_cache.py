"""The on-disk feature cache: keys, atomic entries, checksums, no pickles."""

from __future__ import annotations

import numpy as np
import pytest

from mmbench.data import feature_cache as fc


def _entry(n: int = 5, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)).astype(np.float32), np.array([True, False, True, True, False][:n])


def test_key_depends_on_encoder_identity_and_inputs():
    base = fc.feature_key("minilm", {"weights": "w1", "max_length": 256}, "h1")
    assert base == fc.feature_key("minilm", {"max_length": 256, "weights": "w1"}, "h1")  # order-free
    assert len({base, fc.feature_key("bert", {"weights": "w1", "max_length": 256}, "h1"),
                fc.feature_key("minilm", {"weights": "w2", "max_length": 256}, "h1"),
                fc.feature_key("minilm", {"weights": "w1", "max_length": 128}, "h1"),
                fc.feature_key("minilm", {"weights": "w1", "max_length": 256}, "h2")}) == 5


def test_round_trip_and_layout(tmp_path):
    values, available = _entry()
    key = fc.feature_key("acme/enc", {"w": 1}, "h")
    folder = fc.store("acme/enc", key, values, available, {"dataset": "toy", "modality": "text"}, root=tmp_path)
    assert folder == tmp_path / "features" / "acme__enc" / key[:16]
    assert sorted(p.name for p in folder.iterdir()) == ["available.npy", "manifest.json", "meta.json", "values.npy"]
    hit = fc.load("acme/enc", key, root=tmp_path)
    np.testing.assert_array_equal(hit.values, values)
    np.testing.assert_array_equal(hit.available, available)
    assert hit.meta["dataset"] == "toy" and hit.meta["key"] == key
    assert fc.load("acme/enc", fc.feature_key("acme/enc", {"w": 2}, "h"), root=tmp_path) is None
    assert [r["encoder"] for r in fc.describe(tmp_path)] == ["acme/enc"]
    assert not list((tmp_path / "features" / "acme__enc").glob(".tmp-*"))


@pytest.mark.parametrize("damage", ["flip-values", "truncate-mask", "drop-meta", "pickle"])
def test_corrupt_entry_warns_and_reads_as_absent(tmp_path, damage):
    values, available = _entry()
    key = fc.feature_key("enc", {}, "h")
    folder = fc.store("enc", key, values, available, {}, root=tmp_path)
    if damage == "flip-values":
        raw = bytearray((folder / "values.npy").read_bytes())
        raw[-1] ^= 0xFF
        (folder / "values.npy").write_bytes(bytes(raw))
    elif damage == "truncate-mask":
        (folder / "available.npy").write_bytes((folder / "available.npy").read_bytes()[:20])
    elif damage == "drop-meta":
        (folder / "meta.json").unlink()
    else:  # an object array saved with pickling, checksummed so that only allow_pickle=False stops it
        np.save(folder / "values.npy", np.array([object()], dtype=object), allow_pickle=True)
        import hashlib
        import json

        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["values.npy"] = hashlib.sha256((folder / "values.npy").read_bytes()).hexdigest()
        (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(fc.FeatureCacheWarning, match="re-extracting"):
        assert fc.load("enc", key, root=tmp_path) is None
    assert not folder.exists()


def test_store_refuses_wrong_dtype(tmp_path):
    with pytest.raises(ValueError, match="float32"):
        fc.store("enc", "k" * 64, np.zeros((2, 3)), np.ones(2, bool), {}, root=tmp_path)


def test_cache_root_follows_env(monkeypatch, tmp_path):
    from mmbench.cachedir import cache_root

    monkeypatch.setenv("MMBENCH_CACHE_DIR", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x"
    monkeypatch.delenv("MMBENCH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if __import__("sys").platform.startswith("linux"):
        assert cache_root() == tmp_path / "xdg" / "mmbench"
