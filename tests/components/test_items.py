"""The item side: availability, item-level modality dropout, imputation, robustness masks, the record."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmbench.components._items import ItemSide, offset_features
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


def test_test_time_imputer_swaps_in_and_restores():
    side = _side().eval()
    key = side.condition_key()
    with side.imputing(lambda dim: MeanImputer(dim)):
        assert side.condition_key() != key  # models rebuild condition-dependent tables and graphs
        values, avail = side()
        assert avail["image"].all()  # imputed rows count as available
        mean = side.raw("image")[0][0::2].mean(0)
        torch.testing.assert_close(values["image"][1], mean)
    values, avail = side()
    assert side.imputers is None and not avail["image"][1] and (values["image"][1] == 0).all()
    assert side.condition_key() != key


def test_frozen_view_has_no_dropout_even_in_training():
    side = _side(dropout={"text": 0.5, "all": 0.5}).train()
    torch.manual_seed(0)
    _, avail = side.frozen()
    assert avail["text"].all() and side.training  # no dropout, mode untouched
    with side.masked({"text": torch.arange(N) % 4 != 0}):
        _, avail = side.frozen()
        assert int((~avail["text"]).sum()) == N // 4


def test_knn_graph_follows_the_imputer():
    from mmbench.components._graph_cache import ModalityKNN

    side = _side().eval()
    knn = ModalityKNN(side, k=3, weights={"text": 0.5, "image": 0.5})
    eye = torch.eye(N)
    plain = knn.get() @ eye
    with side.imputing(lambda dim: MeanImputer(dim)):
        imputed = knn.get() @ eye
    # with the mean image imputed, image-less items get image neighbours: the graph differs
    assert not torch.equal(plain, imputed)
    torch.testing.assert_close(knn.get() @ eye, plain)  # and is rebuilt as before once the imputer is gone


@pytest.mark.parametrize("share", [1.0, 0.5, 0.0])
def test_offset_features_match_the_masked_sum_in_values_and_gradients(share):
    # fine-tuned features: x + offset on available rows, x elsewhere; one pass when every row is available
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 6, generator=g)
    available = torch.rand(50, generator=g) < share
    weight = torch.randn(6, 3, generator=g)
    ours = torch.randn(50, 6, generator=g).requires_grad_()
    ref = ours.detach().clone().requires_grad_()
    got = offset_features(x, available, ours)
    want = torch.where(available[:, None], x + ref, x)
    assert torch.equal(got, want)
    (got @ weight).square().sum().backward()
    (want @ weight).square().sum().backward()
    assert torch.equal(ours.grad, ref.grad) and (ours.grad[~available] == 0).all()


def test_all_available_features_are_served_as_stored():
    side = _side().eval()
    values, _ = side()
    assert torch.equal(values["text"], side.raw("text")[0])
    with side.masked({"text": torch.arange(N) >= 10}):
        masked, avail = side()
        assert (masked["text"][:10] == 0).all() and torch.equal(masked["text"][10:], side.raw("text")[0][10:])
