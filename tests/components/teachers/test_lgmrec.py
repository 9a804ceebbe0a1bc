"""LGMRec: scores and loss by hand on 3 users × 4 items, the Gumbel noise, any modality set, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmbench.components._items import ItemSide
from mmbench.components.teachers import lgmrec
from mmbench.components.teachers.lgmrec import LGMRecTeacher
from mmbench.data.types import TrainGraph

# u0: items 0, 2; u1: item 1; u2: items 0, 1, 3
R = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1]], dtype=np.float64)
X = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float32)  # items 0, 2 → hyperedge 0; 1, 3 → hyperedge 1
USERS = np.array([[0.1, 0.2], [-0.3, 0.1], [0.2, -0.1]])
ITEMS = np.array([[0.3, 0.1], [-0.1, 0.2], [0.05, -0.2], [0.2, 0.25]])
W = np.array([[0.5, -0.2], [0.1, 0.4]])
H = np.array([[100.0, 0.0], [0.0, 100.0]])  # logit gaps of ≥ 100 / τ: one-hot memberships whatever the noise


def hand_model(**params) -> LGMRecTeacher:
    u, i = np.nonzero(R)
    graph = TrainGraph(3, 4, u, i)
    items = ItemSide(graph, {"text": (X, np.ones(4, dtype=bool))})
    model = LGMRecTeacher(graph, items, **{"dim": 2, "n_ui_layers": 1, "n_mm_layers": 1, "n_hyper_layer": 1,
                                           "hyper_num": 2, "keep_rate": 1.0, "alpha": 0.5, **params})
    with torch.no_grad():
        for p, v in [(model.user.weight, USERS), (model.item.weight, ITEMS), (model.proj["text"], W),
                     (model.hyper["text"], H)]:
            p.copy_(torch.as_tensor(v))
    return model


def rows_normalized(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def hand_tables() -> tuple[np.ndarray, np.ndarray]:
    """The LGMRec formula with one layer everywhere and alpha 0.5, written out in numpy."""
    deg = np.concatenate([R.sum(1), R.sum(0)])
    adj = np.block([[np.zeros((3, 3)), R], [R.T, np.zeros((4, 4))]]) / np.sqrt(np.outer(deg, deg))
    ego = np.concatenate([USERS, ITEMS])
    cge = (ego + adj @ ego) / 2
    feats = X @ W
    local = adj @ np.concatenate([R @ feats / R.sum(1, keepdims=True), feats])
    item_edge = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float64)
    user_edge = np.array([[1, 0], [0, 1], [0, 1]], dtype=np.float64)  # u2's logits: 100 vs 200
    edges = item_edge.T @ cge[3:]
    glob = np.concatenate([user_edge @ edges, item_edge @ edges])
    out = cge + rows_normalized(local) + 0.5 * rows_normalized(glob)
    return out[:3], out[3:]


def test_scores_by_hand():
    users, items = hand_tables()
    got = hand_model().eval().score(torch.arange(3))
    np.testing.assert_allclose(got.numpy(), users @ items.T, atol=1e-5)


def test_loss_by_hand_one_modality_has_no_contrastive_term():
    users, items = hand_tables()
    u, p, n = np.array([0, 2, 1]), np.array([2, 3, 1]), np.array([1, 2, 3])
    diff = (users[u] * (items[p] - items[n])).sum(1)
    bpr = -np.log(1 / (1 + np.exp(-diff))).mean()
    norms = sum(np.linalg.norm(t) for t in (users[u], items[p], items[n])) / 3  # plain Frobenius norms
    model = hand_model(cl_weight=0.7, reg_weight=0.01).train()
    got = model.loss(torch.as_tensor(u), torch.as_tensor(p), torch.as_tensor(n))
    assert got.item() == pytest.approx(bpr + 0.01 * norms, rel=1e-5)


def graph_and_features(names: tuple[str, ...], seed: int = 0, n_users: int = 12, n_items: int = 10):
    rng = np.random.default_rng(seed)
    keys = rng.choice(n_users * n_items, 50, replace=False)
    graph = TrainGraph(n_users, n_items, keys // n_items, keys % n_items)
    dims = {"image": 6, "text": 5, "audio": 4}
    avail = np.ones(n_items, dtype=bool)
    return graph, {m: (rng.normal(size=(n_items, dims[m])).astype(np.float32), avail) for m in names}


def build(names: tuple[str, ...] = ("text", "image"), **params) -> LGMRecTeacher:
    graph, feats = graph_and_features(names)
    torch.manual_seed(0)
    return LGMRecTeacher(graph, ItemSide(graph, feats), **{"dim": 8, **params})


def batch(n: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.tensor([0, 3, 3, 5, 7, 11][:n]), torch.tensor([1, 2, 9, 0, 4, 4][:n]), torch.tensor([5, 6, 7, 8, 0, 1])


def info_nce(anchor: torch.Tensor, other: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """MMRec's ssl_triple_loss as written there: -Σ log(exp(cos(a_r, o_r)/τ) / Σ_j exp(cos(a_r, o_j)/τ))."""
    a, o = F.normalize(anchor[rows]), F.normalize(other)
    pos = torch.exp((a * o[rows]).sum(1) / 0.2)
    return -torch.log(pos / torch.exp(a @ o.T / 0.2).sum(1)).sum()


@pytest.mark.parametrize("names", [("text", "image"), ("audio", "image", "text")])
def test_contrastive_term_sums_over_sorted_modality_pairs(names):
    model = build(names, cl_weight=0.3).train()
    torch.manual_seed(4)
    total = model.loss(*batch())
    model.cl_weight = 0.0
    torch.manual_seed(4)
    plain = model.loss(*batch())
    torch.manual_seed(4)
    _, hyper = model._forward()
    users, pos, _ = batch()
    pairs = {("text", "image"): [("image", "text")],  # MMRec: image embeddings are the anchors
             ("audio", "image", "text"): [("audio", "image"), ("audio", "text"), ("image", "text")]}[names]
    expected = sum(info_nce(hyper[a][0], hyper[b][0], users) + info_nce(hyper[a][1], hyper[b][1], pos)
                   for a, b in pairs)
    torch.testing.assert_close(total, plain + 0.3 * expected)


def test_eval_noise_is_fixed_and_training_noise_follows_the_global_rng():
    model = build().eval()
    scores = model.score(torch.arange(12))
    model.train()
    model.eval()
    torch.testing.assert_close(model.score(torch.arange(12)), scores)  # recomputed: the same draws
    logits = model.items()[0]["image"] @ model.hyper["image"]
    torch.manual_seed(lgmrec.EVAL_NOISE_SEED)  # the draws F.gumbel_softmax takes from the global RNG so seeded
    torch.testing.assert_close(lgmrec.gumbel_softmax(logits, 0.2, torch.Generator().manual_seed(0)),
                               F.gumbel_softmax(logits, 0.2, dim=1))
    model.train()
    losses = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        losses.append(model.loss(*batch()).item())
    assert losses[0] == losses[1] != losses[2]


@pytest.mark.parametrize("names", [("text",), ("image",), ("audio", "image", "text")])
def test_any_modality_set_trains_and_every_parameter_learns(names):
    model = build(names, cl_weight=0.1).train()
    assert sorted(model.proj) == sorted(model.hyper) == sorted(names)
    loss = model.loss(*batch())
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{pname} gets no gradient"
    users, items = model.eval().embeddings()
    assert users.shape == (12, 8) and items.shape == (10, 8)


def test_an_item_without_the_modality_joins_no_hyperedge_and_users_average_the_others():
    graph, feats = graph_and_features(("text", "image"))
    image, avail = feats["image"]
    avail = avail.copy()
    avail[3] = False
    torch.manual_seed(0)
    model = LGMRecTeacher(graph, ItemSide(graph, {**feats, "image": (image, avail)}), dim=8, n_mm_layers=0).eval()
    values, mask = model.items()
    local = model._local(values["image"], mask["image"], "image")
    r = torch.zeros(12, 10)
    r[graph.user, graph.item] = 1
    r[:, 3] = 0
    expected_users = r @ (values["image"] @ model.proj["image"]) / r.sum(1, keepdim=True).clamp(min=1)
    torch.testing.assert_close(local[:12], expected_users)
    with torch.no_grad():
        _, hyper = model._forward()
    # item 3's global image embedding is zero (it is in no image hyperedge); its text one is not
    assert hyper["image"][1][3].abs().sum() == 0 and hyper["text"][1][3].abs().sum() > 0
    assert hyper["image"][1][2].abs().sum() > 0


def test_defaults_are_mmrecs_baby_settings_and_the_space_is_the_union():
    model = build(("text",), dim=64)
    assert (model.n_ui_layers, model.n_mm_layers, model.n_hyper_layer, model.hyper["text"].shape[1]) == (2, 2, 1, 4)
    assert (model.keep_rate, model.alpha, model.cl_weight, model.reg_weight, model.tau) == (0.5, 0.3, 1e-4, 1e-6, 0.2)
    space = LGMRecTeacher.search_space
    assert space["keep_rate"].values == (0.5, 0.4, 0.2) and space["hyper_num"].values == (4, 64)


def test_every_bad_parameter_is_named_in_one_error():
    with pytest.raises(ValueError) as err:
        build(n_hyper_layer=0, keep_rate=0.0, alpha=-1.0, tau=0.0, hyper_num=0)
    message = str(err.value)
    for part in ("n_hyper_layer=0 (need ≥ 1)", "keep_rate=0.0 (need in (0, 1])", "alpha=-1.0 (need ≥ 0)",
                 "tau=0.0 (need > 0)", "hyper_num=0 (need ≥ 1)"):
        assert part in message
    assert "dim" not in message and "reg_weight" not in message


def test_hypergraph_rounds_by_hand():
    model = hand_model(n_hyper_layer=2)
    gen = torch.Generator().manual_seed(0)
    item_member, user_member, e = torch.rand(4, 2, generator=gen), torch.rand(3, 2, generator=gen), torch.rand(4, 2)
    users, items = model._hypergraph(item_member, user_member, e)
    edges = item_member.T @ (item_member @ (item_member.T @ e))  # the second round's hyperedge embeddings
    torch.testing.assert_close(items, item_member @ edges)
    torch.testing.assert_close(users, user_member @ edges)
