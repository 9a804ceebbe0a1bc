"""The feature stage: inputs from real data, the cache (a re-run extracts nothing), masks, contract checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.data.load import load_dataset
from mmbench.errors import EncoderError
from mmbench.kinds import register_encoder
from mmbench.recipe.schema import EncoderSpec
from mmbench.runner import features as stage

CALLS: list[int] = []


class CountingTextEncoder:
    """Test encoder: a deterministic 4-d hash of each text, counting every encode() call."""

    def __init__(self, *, scale: float = 1.0, dtype: str = "float32") -> None:
        self.scale, self.dtype = scale, dtype
        self.stats: dict[str, int] = {"encoded": 0}

    def identity(self) -> dict[str, Any]:
        return {"encoder": "acme/test-text", "scale": self.scale}

    def encode(self, inputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        CALLS.append(len(inputs))
        out = np.zeros((len(inputs), 4), self.dtype)
        ok = np.array([t is not None for t in inputs], bool)
        for i, t in enumerate(inputs):
            if t is not None:
                out[i] = [len(t), t.count(" "), sum(map(ord, t)) % 97, self.scale]
        self.stats["encoded"] += int(ok.sum())
        return out, ok


@pytest.fixture
def test_encoder(isolated_registries):
    register_encoder("acme/test-text", CountingTextEncoder, consumes="text")
    CALLS.clear()
    yield


@pytest.fixture(scope="module")
def beauty():
    return load_dataset("amazon-beauty", {"max_users": 300})


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def quiet(_: str) -> None:
    return None


def test_second_run_is_a_cache_hit_and_extracts_nothing(test_encoder, beauty, cache):
    spec = EncoderSpec(name="acme/test-text")
    first = stage.extract("text", spec, beauty, progress=False, log=quiet)
    n = beauty.interactions.n_items
    assert first.values.shape == (n, 4) and first.values.dtype == np.float32 and first.available.all()
    assert first.info["cache"] == "miss" and sum(CALLS) == n and max(CALLS) <= stage.CHUNK
    assert first.info["template"] == "[{title_keywords}][. {brand}][. {categories}]"
    CALLS.clear()
    again = stage.extract("text", spec, beauty, progress=False, log=quiet)
    assert again.info["cache"] == "hit" and CALLS == []
    np.testing.assert_array_equal(again.values, first.values)
    assert again.info["key"] == first.info["key"] and again.info["stats"] == {"encoded": n}
    assert list((cache / "features" / "acme__test-text").iterdir())


def test_key_changes_with_template_params_and_data(test_encoder, beauty, cache):
    keys = {stage.extract("text", spec, beauty, progress=False, log=quiet).info["key"] for spec in (
        EncoderSpec(name="acme/test-text"),
        EncoderSpec(name="acme/test-text", template="{title_keywords}"),
        EncoderSpec(name="acme/test-text", params={"scale": 2.0}))}
    other = load_dataset("amazon-beauty", {"max_users": 200})
    keys.add(stage.extract("text", EncoderSpec(name="acme/test-text"), other, progress=False, log=quiet).info["key"])
    assert len(keys) == 4


def test_refresh_and_no_cache_re_extract(test_encoder, beauty, cache):
    spec = EncoderSpec(name="acme/test-text")
    stage.extract("text", spec, beauty, progress=False, log=quiet)
    CALLS.clear()
    assert stage.extract("text", spec, beauty, refresh=True, progress=False, log=quiet).info["cache"] == "miss"
    assert stage.extract("text", spec, beauty, use_cache=False, progress=False, log=quiet).info["cache"] == "off"
    assert sum(CALLS) == 2 * beauty.interactions.n_items


def test_missing_text_is_masked_not_invented(test_encoder, beauty, cache):
    data = beauty
    items = data.items.copy()
    items.loc[[0, 5], "title_keywords"] = None
    patched = type(data)(**{**data.__dict__, "items": items})
    out = stage.extract("text", EncoderSpec(name="acme/test-text", template="{title_keywords}"), patched,
                        progress=False, log=quiet)
    assert out.available.tolist()[:6] == [False, True, True, True, True, False]
    assert not out.values[[0, 5]].any() and out.info["available"] == data.interactions.n_items - 2


def test_chunking_does_not_change_features(test_encoder, beauty, cache, monkeypatch):
    a = stage.extract("text", EncoderSpec(name="acme/test-text"), beauty, use_cache=False, progress=False, log=quiet)
    monkeypatch.setattr(stage, "CHUNK", 37)
    b = stage.extract("text", EncoderSpec(name="acme/test-text"), beauty, use_cache=False, progress=False, log=quiet)
    np.testing.assert_array_equal(a.values, b.values)


def test_contract_breaking_encoder_is_refused(test_encoder, beauty, cache):
    with pytest.raises(EncoderError, match="broke its contract"):
        stage.extract("text", EncoderSpec(name="acme/test-text", params={"dtype": "float64"}), beauty,
                      use_cache=False, progress=False, log=quiet)


def test_dataset_without_images_gives_an_all_missing_modality(isolated_registries, beauty, cache):
    seen = []

    class ImageProbe:
        def __init__(self) -> None:
            pass

        def identity(self) -> dict[str, Any]:
            return {"encoder": "probe"}

        def encode(self, inputs):
            seen.extend(inputs)
            return np.zeros((len(inputs), 3), np.float32), np.array([x is not None for x in inputs], bool)

    register_encoder("acme/image-probe", ImageProbe, consumes="image")
    logs: list[str] = []
    out = stage.extract("image", EncoderSpec(name="acme/image-probe"), beauty, progress=False, log=logs.append)
    assert out.values.shape == (beauty.interactions.n_items, 3) and not out.available.any()
    assert set(seen) == {None} and out.info["images"]["no_source"] == beauty.interactions.n_items
    assert any("absent in this run" in line for line in logs)


def test_cli_features_extracts_then_hits_and_lists(tmp_path, cache):
    recipe = tmp_path / "tt.yaml"
    recipe.write_text("schema_version: 1\ndataset: {name: tiktok, split: given}\n"
                      "encoders:\n  image: {name: precomputed, params: {feature: visual}}\n"
                      "  audio: {name: precomputed, params: {feature: acoustic}}\nstudent: {name: pop}\n")
    runner = CliRunner()
    first = runner.invoke(main, ["features", str(recipe)], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "| image      | precomputed |   6,710 |   128 | 6,710 (100.0%) | miss" in first.output
    second = runner.invoke(main, ["features", str(recipe)], catch_exceptions=False)
    assert second.output.count("| hit ") == 2
    listed = runner.invoke(main, ["features", "--list"], catch_exceptions=False).output
    assert listed.count("precomputed") == 2 and "tiktok" in listed
    assert "removed 2 cached feature set(s)" in runner.invoke(main, ["features", "--clear"]).output
    no_enc = tmp_path / "none.yaml"
    no_enc.write_text("schema_version: 1\ndataset: {name: tiktok, split: given}\nstudent: {name: pop}\n")
    result = runner.invoke(main, ["features", str(no_enc)])
    assert result.exit_code == 2 and "nothing to extract" in result.output


def test_run_records_feature_provenance(tmp_path, cache):
    from mmbench.recipe.load import load_recipe
    from mmbench.results.store import load_records
    from mmbench.runner.run import run_recipe

    path = tmp_path / "tt.yaml"
    path.write_text("schema_version: 1\ndataset: {name: tiktok, split: given}\n"
                    "encoders:\n  image: {name: precomputed, params: {feature: visual}}\nstudent: {name: pop}\n")
    run_recipe(load_recipe(path), results_dir=tmp_path / "res", log=quiet)
    (record,) = load_records(tmp_path / "res")
    image = record.features["image"]
    assert image["encoder"] == "precomputed" and image["shape"] == [6710, 128] and image["available"] == 6710
    assert image["identity"]["source"] == "dataset-feature:visual" and len(image["key"]) == 16
    assert record.timings["features_s"] >= 0


def test_images_are_keyed_by_content_and_a_late_image_is_a_miss(isolated_registries, beauty, cache, tmp_path):
    """Features cached while an image was unusable must not stand in once it is there (e.g. back online)."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    class ImageSize:
        def identity(self) -> dict[str, Any]:
            return {"encoder": "size"}

        def encode(self, inputs):
            out = np.zeros((len(inputs), 2), np.float32)
            for i, p in enumerate(inputs):
                if p is not None:
                    out[i] = Image.open(p).size
            return out, np.array([p is not None for p in inputs], bool)

    register_encoder("acme/image-size", ImageSize, consumes="image")
    photo = load_sample_image("china.jpg")
    paths = [str(tmp_path / f"img{i}.jpg") for i in range(3)]
    Image.fromarray(photo).save(paths[0])
    Image.fromarray(photo[:100, :50]).save(paths[1])
    items = beauty.items.head(3).assign(image=paths)
    data = type(beauty)(**{**beauty.__dict__, "items": items, "image_field": "image"})
    spec = EncoderSpec(name="acme/image-size")
    first = stage.extract("image", spec, data, progress=False, log=quiet)
    assert first.available.tolist() == [True, True, False] and first.values[1].tolist() == [50, 100]
    assert first.info["images"]["failed"] == {"missing-file": 1}
    assert stage.extract("image", spec, data, progress=False, log=quiet).info["cache"] == "hit"
    Image.fromarray(photo[:10, :20]).save(paths[2])
    late = stage.extract("image", spec, data, progress=False, log=quiet)
    assert late.info["cache"] == "miss" and late.available.all() and late.values[2].tolist() == [20, 10]
    Image.fromarray(photo[:30, :30]).save(paths[0])  # same path, new content
    assert stage.extract("image", spec, data, progress=False, log=quiet).values[0].tolist() == [30, 30]


def test_item_images_from_urls_through_efficientnet(beauty, cache):
    """Real photos served on 127.0.0.1 plus broken ones: failures are missing items, never dropped rows."""
    import io
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from PIL import Image
    from sklearn.datasets import load_sample_image

    def jpeg(name: str) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(load_sample_image(name)).save(buf, format="JPEG", quality=90)
        return buf.getvalue()

    bodies = {"/china.jpg": jpeg("china.jpg"), "/flower.jpg": jpeg("flower.jpg")}
    bodies["/broken.jpg"] = bodies["/china.jpg"][:3000]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = bodies.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        urls = [f"{base}/china.jpg", f"{base}/flower.jpg", f"{base}/broken.jpg", f"{base}/gone.jpg", None,
                f"{base}/china.jpg"]
        items = beauty.items.head(6).assign(image_url=urls)
        data = type(beauty)(**{**beauty.__dict__, "items": items, "image_field": "image_url"})
        logs: list[str] = []
        out = stage.extract("image", EncoderSpec(name="efficientnet-lite0"), data, progress=False, log=logs.append)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert out.values.shape == (6, 1280) and out.available.tolist() == [True, True, False, False, False, True]
    np.testing.assert_array_equal(out.values[0], out.values[5])
    assert not out.values[2:5].any()
    report = out.info["images"]
    assert report["downloaded"] == 3 and report["no_source"] == 1
    assert report["failed"] == {"http-404": 1, "undecodable": 1}
    assert any("images: 3/6 usable (50.0%)" in line for line in logs)
    assert out.info["stats"]["encoded"] == 3


def test_feature_rows_with_nan_are_reported_not_silently_missing(beauty, cache, tmp_path):
    values = np.ones((len(beauty.items), 4), np.float32)
    values[[0, 5, 7]] = np.nan
    np.save(tmp_path / "feats.npy", values)
    logs: list[str] = []
    got = stage.extract("image", EncoderSpec(name="precomputed", params={"path": str(tmp_path / "feats.npy")}), beauty,
                        progress=False, log=logs.append)
    assert got.available.sum() == len(beauty.items) - 3 and got.info["stats"]["non_finite_rows"] == 3
    (warning,) = [line for line in logs if "warning" in line]
    assert f"3 of {len(beauty.items):,} items" in warning and "NaN/inf" in warning and "fix:" in warning
    logs.clear()  # a cache hit says it again
    stage.extract("image", EncoderSpec(name="precomputed", params={"path": str(tmp_path / "feats.npy")}), beauty,
                  progress=False, log=logs.append)
    assert any("warning" in line and "3 of" in line for line in logs)
