"""Fusion modules: the fusion contract for every registered fusion, masking that is exact, clear errors."""

from __future__ import annotations

import pytest
import torch

import mmbench.components  # noqa: F401  every built-in fusion, so the contract tests cover them all
from mmbench.components.fusion.concat import ConcatFusion
from mmbench.components.fusion.cross_attention import CrossAttentionFusion
from mmbench.components.fusion.gated import GatedFusion
from mmbench.kinds import FUSIONS
from mmbench.params import check_params

OURS = {"concat": ConcatFusion, "gated": GatedFusion, "cross-attention": CrossAttentionFusion}
NAMES = FUSIONS.names()
MODALITIES = ("text", "image", "audio")
N, DIM = 7, 16


def inputs(seed: int = 0, n: int = N, modalities=MODALITIES):
    """Random tokens and masks; every modality has both available and unavailable items."""
    gen = torch.Generator().manual_seed(seed)
    tokens = {k: torch.randn(n, DIM, generator=gen) for k in ("id", *modalities)}
    available = {}
    for m in modalities:
        mask = torch.rand(n, generator=gen) < 0.5
        mask[0], mask[1] = True, False
        available[m] = mask
    return tokens, available


def build(name: str, modalities=MODALITIES, **params):
    torch.manual_seed(0)
    return FUSIONS.get(name)(list(modalities), DIM, **params)


def test_our_fusions_are_registered():
    for name, cls in OURS.items():
        entry = FUSIONS.entry(name)
        assert entry.obj is cls and entry.summary and entry.summary == cls.__doc__.strip().splitlines()[0]
        assert check_params(cls, {}, name)[1] == []  # defaults alone are a valid recipe


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_with_defaults(name):
    fusion = build(name)
    tokens, available = inputs()
    tokens = {k: v.requires_grad_() for k, v in tokens.items()}
    out = fusion(tokens, available)
    assert out.shape == (N, DIM) and out.dtype == torch.float32 and torch.isfinite(out).all()
    out.square().sum().backward()
    for pname, p in fusion.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname
    assert tokens["id"].grad.abs().sum(1).gt(0).all()
    for m in MODALITIES:
        grad = tokens[m].grad
        assert torch.equal(grad[~available[m]], torch.zeros_like(grad[~available[m]])), m  # masked: no gradient
        if name in OURS:
            assert grad[available[m]].abs().sum(1).gt(0).all(), m


@pytest.mark.parametrize("name", NAMES)
def test_zero_modalities_uses_the_id_token_only(name):
    fusion = build(name, modalities=())
    tokens = {"id": torch.randn(N, DIM, requires_grad=True)}
    out = fusion(tokens, {})
    assert out.shape == (N, DIM)
    out.sum().backward()
    assert tokens["id"].grad is not None
    assert not torch.equal(fusion({"id": tokens["id"] + 1}, {}), out)
    assert torch.equal(fusion({"id": tokens["id"]}, {"id": torch.ones(N, dtype=torch.bool)}), out)


@pytest.mark.parametrize("garbage", [1e30, -3e38, float("inf"), float("nan")])
@pytest.mark.parametrize("grad_mode", [True, False], ids=["train", "eval-no-grad"])
@pytest.mark.parametrize("name", NAMES)
def test_masked_token_values_change_nothing(name, grad_mode, garbage):
    fusion = build(name)
    fusion.train(grad_mode)
    tokens, available = inputs()
    with torch.set_grad_enabled(grad_mode):
        before = fusion(tokens, available)
        changed = dict(tokens)
        for m in MODALITIES:
            changed[m] = torch.where(available[m].unsqueeze(1), tokens[m], torch.full_like(tokens[m], garbage))
        after = fusion(changed, available)
    assert torch.equal(before, after)
    assert torch.isfinite(after).all()


@pytest.mark.parametrize("name", NAMES)
def test_available_tokens_matter_and_items_are_independent(name):
    fusion = build(name)
    tokens, available = inputs()
    out = fusion(tokens, available)
    everything = {m: torch.ones(N, dtype=torch.bool) for m in MODALITIES}
    full = fusion(tokens, everything)
    same = torch.stack([available[m] for m in MODALITIES]).all(0)
    assert torch.allclose(full[same], out[same], atol=1e-6) and not same.all()
    assert (full[~same] - out[~same]).abs().sum(1).gt(1e-6).all()  # unmasking changes each affected item
    moved = dict(tokens, text=tokens["text"] + torch.randn(N, DIM))  # not a constant shift: LayerNorm removes those
    changed = (fusion(moved, available) - out).abs().sum(1) > 1e-6
    assert torch.equal(changed, available["text"])  # exactly the items that have text move
    rows = torch.tensor([1, 4, 5])
    sub = fusion({k: v[rows] for k, v in tokens.items()}, {k: v[rows] for k, v in available.items()})
    assert torch.allclose(sub, out[rows], atol=1e-6)  # an item's output depends on its own tokens only


def _without_audio(name: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict of the same module built for text and image only (audio is the last modality)."""
    state = dict(state)
    if name == "concat":
        state["proj.weight"] = state["proj.weight"][:, : 3 * DIM]
    elif name == "gated":
        state = {k: v for k, v in state.items() if not k.startswith("gates.2.")}
    else:
        state["type_embedding"] = state["type_embedding"][:3]
    return state


@pytest.mark.parametrize("name", list(OURS))
def test_an_unavailable_modality_is_as_if_absent(name):
    """Masking audio for every item equals the same weights built without audio: masked means excluded."""
    fusion, smaller = build(name), build(name, modalities=MODALITIES[:2])
    smaller.load_state_dict(_without_audio(name, fusion.state_dict()))
    tokens, available = inputs()
    available["audio"] = torch.zeros(N, dtype=torch.bool)
    reduced = {k: v for k, v in tokens.items() if k != "audio"}
    expected = smaller(reduced, {k: v for k, v in available.items() if k != "audio"})
    assert torch.allclose(fusion(tokens, available), expected, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_clear_errors(name):
    fusion = build(name)
    tokens, available = inputs()
    with pytest.raises(ValueError, match=r"unknown modality 'video' in tokens.*built for \['text', 'image', 'audio'\]"):
        fusion({**tokens, "video": tokens["text"]}, available)
    with pytest.raises(ValueError, match="unknown modality 'video' in available"):
        fusion(tokens, {**available, "video": available["text"]})
    with pytest.raises(ValueError, match=r"missing inputs tokens\['image'\];"):
        fusion({k: v for k, v in tokens.items() if k != "image"}, available)
    with pytest.raises(ValueError, match=r"missing inputs available\['audio'\];"):
        fusion(tokens, {k: v for k, v in available.items() if k != "audio"})
    with pytest.raises(ValueError, match=r"missing inputs tokens\['id'\];"):
        fusion({k: v for k, v in tokens.items() if k != "id"}, available)
    with pytest.raises(ValueError, match=r"available\['text'\] must be a bool tensor"):
        fusion(tokens, {**available, "text": available["text"].float()})
    with pytest.raises(ValueError, match=r"tokens\['image'\] must be \[7, 16\]"):
        fusion({**tokens, "image": tokens["image"][:, :8]}, available)
    with pytest.raises(ValueError, match="'id' token is always available"):
        fusion(tokens, {**available, "id": available["text"]})


@pytest.mark.parametrize("name", NAMES)
def test_bad_construction_raises(name):
    cls = FUSIONS.get(name)
    with pytest.raises(ValueError, match="duplicate modality"):
        cls(["text", "text"], DIM)
    with pytest.raises(ValueError, match="invalid modality names"):
        cls(["id"], DIM)
    with pytest.raises(ValueError, match="sequence of names"):
        cls("text", DIM)
    with pytest.raises(ValueError, match="dim must be an integer"):
        cls(["text"], 0)


@pytest.mark.parametrize(("name", "params", "message"), [
    ("concat", {"activation": "swish"}, "activation must be one of"),
    ("gated", {"gate_bias": float("nan")}, "gate_bias must be a finite number"),
    ("cross-attention", {"heads": 5}, r"heads must be a positive integer that divides dim=16, got heads=5"),
    ("cross-attention", {"heads": 0}, "heads must be a positive integer"),
    ("cross-attention", {"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ("cross-attention", {"ffn_mult": 0}, "ffn_mult must be an integer ≥ 1"),
])
def test_bad_params_raise(name, params, message):
    with pytest.raises(ValueError, match=message):
        build(name, **params)


@pytest.mark.parametrize("params", [{"activation": "relu"}, {"activation": "gelu"}, {"activation": "tanh"}])
def test_concat_activation(params):
    tokens, available = inputs()
    linear = build("concat")(tokens, available)
    out = build("concat", **params)(tokens, available)
    assert out.shape == (N, DIM) and not torch.allclose(out, linear)
    if params["activation"] == "relu":
        assert torch.equal(out, linear.clamp_min(0))


def test_gated_is_the_documented_formula():
    fusion = build("gated", gate_bias=-1.0)
    tokens, available = inputs()
    expected = tokens["id"].clone()
    for gate, m in zip(fusion.gates, MODALITIES):
        g = torch.sigmoid(torch.cat([tokens["id"], tokens[m]], 1) @ gate.weight.T + gate.bias)
        expected += available[m].unsqueeze(1) * g * tokens[m]
    assert torch.allclose(fusion(tokens, available), expected, atol=1e-6)
    assert torch.equal(fusion.gates[0].bias, torch.full((DIM,), -1.0))
    no_modality = build("gated", modalities=())
    assert torch.equal(no_modality({"id": tokens["id"]}, {}), tokens["id"])  # the ID token as is


def test_cross_attention_dropout_is_active_in_training_only():
    fusion = build("cross-attention", dropout=0.5)
    tokens, available = inputs()
    torch.manual_seed(1)
    first = fusion(tokens, available)
    assert not torch.equal(first, fusion(tokens, available))
    fusion.eval()
    assert torch.equal(fusion(tokens, available), fusion(tokens, available))


def test_cross_attention_on_a_catalogue_sized_batch():
    fusion = build("cross-attention", modalities=("text", "image"))
    n = 12_000
    tokens = {k: torch.randn(n, DIM) for k in ("id", "text", "image")}
    available = {"text": torch.rand(n) < 0.8, "image": torch.rand(n) < 0.5}
    out = fusion(tokens, available)
    assert out.shape == (n, DIM) and torch.isfinite(out).all()
