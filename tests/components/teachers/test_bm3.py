"""BM3 teacher: scores and loss pinned by hand on 3 users × 4 items, target dropout, modality sets, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmbench.components._items import ItemSide
from mmbench.components.teachers import bm3
from mmbench.components.teachers.bm3 import BM3Teacher
from mmbench.data.types import TrainGraph
from mmbench.errors import MMBenchError
from mmbench.search_space import Choice

# users 0: items {0, 1}; 1: {1, 2}; 2: {3}.  Degrees: users 2, 2, 1; items 1, 2, 1, 1
GRAPH = TrainGraph(3, 4, np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 2, 3]))
USERS = np.array([[1.0, 0.0], [0.5, -1.0], [1.0, 0.0]])
ITEMS = np.array([[0.0, 1.0], [1.0, 1.0], [-1.0, 0.5], [0.0, 1.0]])
W, B = np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([1.0, -1.0])
TEXT = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, -1.0]], np.float32)
IMAGE = np.array([[0.5, 1.0], [1.0, 0.0], [2.0, 1.0], [-1.0, 1.0]], np.float32)
PROJ = {"text": (np.array([[1.0, 2.0], [0.0, -1.0]]), np.array([0.5, 0.0])),
        "image": (np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([0.0, 0.25]))}


def hand_model(image_avail: np.ndarray | None = None, **params) -> BM3Teacher:
    avail = np.ones(4, bool) if image_avail is None else image_avail
    items = ItemSide(GRAPH, {"text": (TEXT, np.ones(4, bool)), "image": (IMAGE, avail)})
    model = BM3Teacher(GRAPH, items, **{"dim": 2, "n_layers": 1, **params})
    with torch.no_grad():
        model.user.weight.copy_(torch.tensor(USERS))
        model.item.weight.copy_(torch.tensor(ITEMS))
        model.predictor.weight.copy_(torch.tensor(W))
        model.predictor.bias.copy_(torch.tensor(B))
        for m, (w, b) in PROJ.items():
            model.proj[m].weight.copy_(torch.tensor(w))
            model.proj[m].bias.copy_(torch.tensor(b))
    return model


def hand_online() -> tuple[np.ndarray, np.ndarray]:
    """One LightGCN layer over D^-1/2 A D^-1/2, mean with the ego layer, plus the item ID embedding."""
    a = np.zeros((3, 4))
    a[GRAPH.user, GRAPH.item] = 1.0
    a = a / np.sqrt(a.sum(1)[:, None] * a.sum(0)[None, :])
    return (USERS + a @ ITEMS) / 2, (ITEMS + a.T @ USERS) / 2 + ITEMS


def cos(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cosine similarity; 0 against an all-zero row (a target row the dropout removed entirely), as in torch."""
    return (x * y).sum(-1) / np.maximum(np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1), 1e-8)


def hand_loss(users, pos, masks=None, image_avail=np.ones(4, bool), reg=0.1, cl=2.0) -> float:
    """The BM3 loss written out; ``masks`` are the dropout multipliers of the user, item, text, image tables."""
    u, i = hand_online()
    feats = {"text": TEXT @ PROJ["text"][0].T + PROJ["text"][1],
             "image": np.where(image_avail[:, None], IMAGE, 0) @ PROJ["image"][0].T + PROJ["image"][1]}
    mu, mi, mt, mv = masks if masks is not None else (1, 1, 1, 1)
    targets = {"text": (feats["text"] * mt)[pos], "image": (feats["image"] * mv)[pos]}
    p = lambda x: x @ W.T + B  # noqa: E731
    ut, it = (u * mu)[users], (i * mi)[pos]
    total = (1 - cos(p(u[users]), it).mean()) + (1 - cos(p(i[pos]), ut).mean())
    total += reg * (np.linalg.norm(u) + np.linalg.norm(i)) / 4
    for m, keep in (("text", np.ones(4, bool)), ("image", image_avail)):
        f = p(feats[m][pos])
        total += cl * ((1 - (cos(f, it) * keep[pos]).mean()) + (1 - (cos(f, targets[m]) * keep[pos]).mean()))
    return float(total)


BATCH = (torch.tensor([0, 1, 2, 0]), torch.tensor([1, 2, 3, 1]), torch.tensor([3, 0, 0, 2]))


def test_score_is_the_predictor_product_by_hand():
    model = hand_model().eval()
    u, i = hand_online()
    expected = (u @ W.T + B) @ (i @ W.T + B).T
    np.testing.assert_allclose(model.score(torch.arange(3)).numpy(), expected, rtol=1e-6)
    # user 2 and item 3 only meet each other: u' = (.5, .5), i' = (.5, 1.5); p(u') = (2, -.5), p(i') = (2, .5)
    assert model.score(torch.tensor([2]))[0, 3].item() == pytest.approx(3.75)


def test_loss_by_hand_without_dropout():
    model = hand_model(dropout=0.0).train()
    assert model.loss(*BATCH).item() == pytest.approx(hand_loss(BATCH[0].numpy(), BATCH[1].numpy()), rel=1e-6)


def test_loss_ignores_negatives():
    model = hand_model(dropout=0.0).train()
    users, pos, neg = BATCH
    torch.testing.assert_close(model.loss(users, pos, neg), model.loss(users, pos, neg.flip(0)))


def test_target_dropout_masks_whole_tables_in_order_users_items_modalities():
    model = hand_model(dropout=0.5).train()
    torch.manual_seed(7)
    got = model.loss(*BATCH).item()
    torch.manual_seed(7)
    masks = [F.dropout(torch.ones(n, 2), 0.5).numpy() for n in (3, 4, 4, 4)]  # users, items, text, image
    assert got == pytest.approx(hand_loss(BATCH[0].numpy(), BATCH[1].numpy(), masks), rel=1e-6)
    assert got != pytest.approx(hand_loss(BATCH[0].numpy(), BATCH[1].numpy()), rel=1e-3)  # dropout is on
    torch.manual_seed(8)
    assert model.loss(*BATCH).item() != pytest.approx(got, rel=1e-4)


def test_item_lacking_a_modality_counts_as_cosine_zero_there():
    avail = np.array([True, False, True, True])  # item 1 (twice in the batch) has no image
    model = hand_model(image_avail=avail, dropout=0.0).train()
    expected = hand_loss(BATCH[0].numpy(), BATCH[1].numpy(), image_avail=avail)
    assert model.loss(*BATCH).item() == pytest.approx(expected, rel=1e-6)


def test_scores_do_not_depend_on_features():
    model = hand_model().eval()
    before = model.score(torch.arange(3)).clone()
    with model.items.masked({"image": torch.zeros(4, dtype=torch.bool), "text": torch.zeros(4, dtype=torch.bool)}):
        torch.testing.assert_close(model.score(torch.arange(3)), before)


def test_defaults_and_search_space_follow_mmrec():
    model = BM3Teacher(GRAPH, ItemSide(GRAPH, {"text": (TEXT, np.ones(4, bool))}))
    assert (model.n_layers, model.dropout, model.reg_weight, model.cl_weight) == (1, 0.5, 0.1, 2.0)
    assert model.user.weight.shape == (3, 64) and model.embeddings()[1].shape == (4, 64)
    assert BM3Teacher.search_space == {"n_layers": Choice(1, 2), "dropout": Choice(0.3, 0.5),
                                       "reg_weight": Choice(0.1, 0.01)}
    assert bm3.BM3Teacher is BM3Teacher


def test_bad_parameters_are_named_in_one_error():
    items = ItemSide(GRAPH, {"text": (TEXT, np.ones(4, bool))})
    with pytest.raises(ValueError, match=r"dim=0.*n_layers=-1.*dropout=1\.0.*reg_weight=-0\.1.*cl_weight=-1"):
        BM3Teacher(GRAPH, items, dim=0, n_layers=-1, dropout=1.0, reg_weight=-0.1, cl_weight=-1.0)
    with pytest.raises(MMBenchError, match="bm3 needs item features"):
        BM3Teacher(GRAPH, None)


def _random_items(dims: dict[str, int]) -> ItemSide:
    rng = np.random.default_rng(0)
    return ItemSide(GRAPH, {m: (rng.normal(size=(4, d)).astype(np.float32), np.array([True, True, True, d != 3]))
                            for m, d in dims.items()})


@pytest.mark.parametrize("dims", [{"text": 5}, {"image": 3, "text": 5, "audio": 4}], ids=["one", "three"])
def test_any_modality_set_trains_and_gradients_reach_every_parameter(dims):
    torch.manual_seed(0)
    model = BM3Teacher(GRAPH, _random_items(dims), dim=8).train()
    assert sorted(model.proj) == sorted(model.feature_offset) == sorted(dims)
    loss = model.loss(*BATCH)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} gets no gradient"
    # the offset learns only the batch's items that have the modality (item 3 lacks the 3-d one)
    for m, offset in model.feature_offset.items():
        learned = offset.grad.abs().sum(1) > 0
        assert learned.tolist() == [False, True, True, dims[m] != 3], m
    # a modality's terms move the loss: cl_weight 0 changes it
    model.cl_weight = 0.0
    torch.manual_seed(1)
    without = model.loss(*BATCH)
    model.cl_weight = 2.0
    torch.manual_seed(1)
    assert model.loss(*BATCH).item() > without.item()


def test_frozen_features_have_no_offset():
    model = BM3Teacher(GRAPH, _random_items({"text": 5}), dim=8, tune_features=False)
    assert len(model.feature_offset) == 0
    model.loss(*BATCH).backward()
    assert model.proj["text"].weight.grad.abs().sum() > 0
