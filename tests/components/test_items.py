"""The item side: availability, item-level modality dropout, imputation, robustness masks, the record."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmbench.components._items import ItemSide
from mmbench.components.imputers.mean import MeanImputer
from mmbench.data.types import TrainGraph

N = 2000


def _side(**kw) -> ItemSide:
    graph = TrainGraph(3, N, np.array([0, 1, 2]), np.array([0, 1, 2]))
    rng = np.random.default_rng(0)
    text = rng.normal(size=(N, 4)).astype(np.float32)
    image = rng.normal(size=(N, 3)).astype(np.float32)
    has_image = np.arange(N) % 2 == 0
    return ItemSide(graph, {"text": (text, np.ones(N, bool)), "image": (image, has_image),
                            "audio": (np.zeros((N, 2), np.float32), np.zeros(N, bool))}, **kw)


def test_eval_mode_sees_the_encoder_availability_and_zeros_for_missing_rows():
    side = _side().eval()
    values, avail = side()
    assert set(values) == {"text", "image"} and side.absent == ["audio"]
    assert avail["text"].all() and torch.equal(avail["image"], torch.arange(N) % 2 == 0)
    assert (values["image"][1::2] == 0).all() and (values["image"][0::2] != 0).any()
    info = side.info()
    assert info["used"]["image"] == {"dim": 3, "available": N // 2, "share": 0.5}
    assert info["absent"] == ["audio"] and "audio: no item has this modality" in info["absent_note"]


def test_dropout_is_item_level_per_modality_at_the_recipe_rate_and_only_in_training():
    side = _side(dropout={"text": 0.3, "all": 0.1}).train()
    torch.manual_seed(0)
    _, avail = side()
    kept_text = avail["text"].float().mean().item()
    assert kept_text == pytest.approx(0.7 * 0.9, abs=0.03)
    # 'all' drops every modality of the same items: an image-less item never shows an image
    assert not (avail["image"] & ~(torch.arange(N) % 2 == 0)).any()
    # redrawn at every call, reproducible from the seed
    torch.manual_seed(0)
    _, again = side()
    assert torch.equal(again["text"], avail["text"])
    _, other = side()
    assert not torch.equal(other["text"], avail["text"])
    side.eval()
    assert side()[1]["text"].all()
    assert side.info()["dropout"] == {"text": 0.3, "all": 0.1}


def test_unknown_dropout_modality_is_a_clear_error():
    with pytest.raises(ValueError, match="modality_dropout names \\['video'\\]"):
        _side(dropout={"video": 0.5})


def test_imputer_fills_missing_rows_which_then_count_as_available():
    side = _side(imputer=lambda dim: MeanImputer(dim)).eval()
    values, avail = side()
    assert avail["image"].all()
    x, a = side.raw("image")
    torch.testing.assert_close(values["image"][1], x[a].mean(0))
    torch.testing.assert_close(values["image"][0], x[0])


def test_masked_condition_is_item_level_and_restored():
    side = _side().eval()
    keep = torch.ones(N, dtype=torch.bool)
    keep[:10] = False
    key = side.condition_key()
    with side.masked({"text": keep, "audio": keep}):
        values, avail = side()
        assert not avail["text"][:10].any() and avail["text"][10:].all()
        assert (values["text"][:10] == 0).all()
        assert side.condition_key() != key and torch.equal(side.keep("text"), keep)
    assert side()[1]["text"].all() and side.condition_key() != key
