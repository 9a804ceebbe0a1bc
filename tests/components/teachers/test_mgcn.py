"""MGCN teacher: its similarity k-NN graph by hand, scores and loss against a NumPy re-derivation, any modality set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmbench.components._items import ItemSide
from mmbench.components.teachers import mgcn
from mmbench.components._graph import similarity_knn
from mmbench.components.teachers.mgcn import MGCNTeacher
from mmbench.data.types import TrainGraph
from mmbench.errors import MMBenchError

# 3 users × 4 items; user 2 has one item, item 3 one user
EDGES = [(0, 0), (0, 1), (1, 1), (1, 2), (1, 3), (2, 0)]
GRAPH = TrainGraph(3, 4, np.array([u for u, _ in EDGES]), np.array([i for _, i in EDGES]))
# 2-d features whose cosines are easy: x1 = (2, 1) is 2/√5 from x0, 1/√5 from x2, -2/√5 from x3
IMAGE = np.array([[1, 0], [2, 1], [0, 1], [-1, 0]], dtype=np.float32)
TEXT = np.array([[0, 1], [1, 2], [1, 0], [2, -1]], dtype=np.float32)  # no ties among the top 2 cosines
AUDIO = np.array([[1, 2], [3, 1], [-1, 1], [0, 2]], dtype=np.float32)


def side(*names: str, avail: dict[str, np.ndarray] | None = None) -> ItemSide:
    data = {"image": IMAGE, "text": TEXT, "audio": AUDIO}
    avail = avail or {}
    return ItemSide(GRAPH, {m: (data[m], avail.get(m, np.ones(4, bool))) for m in names})


def build(*names: str, avail: dict[str, np.ndarray] | None = None, **params) -> MGCNTeacher:
    torch.manual_seed(0)
    model = MGCNTeacher(GRAPH, side(*names, avail=avail), dim=3, knn_k=2, **params)
    with torch.no_grad():  # offsets start at zero: give them a value so that they are part of the check
        for p in model.feature_offset.values():
            p.normal_(0, 0.3)
    return model


def knn_dense(values: np.ndarray, avail: torch.Tensor, k: int) -> np.ndarray:
    r, c, w = similarity_knn(torch.as_tensor(values), avail, k)
    out = np.zeros((len(values), len(values)))
    np.add.at(out, (r.numpy(), c.numpy()), w.numpy())
    return out


def test_similarity_knn_by_hand():
    r5 = math.sqrt(5)
    d0, d2 = 1 + 2 / r5, 1 + 1 / r5  # row sums of the kept cosines (self included); d1 = d0, d3 = 1 + 0
    expected = np.zeros((4, 4))
    expected[0, 0] = expected[1, 1] = 1 / d0
    expected[0, 1] = expected[1, 0] = (2 / r5) / d0
    expected[2, 2] = 1 / d2
    expected[2, 1] = (1 / r5) / math.sqrt(d2 * d0)
    expected[3, 3] = 1.0  # item 3's second neighbour is item 2 with cosine 0: an edge of weight 0
    got = knn_dense(IMAGE, torch.ones(4, dtype=torch.bool), 2)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # item 1 lacks the modality: a self-loop of weight 1, nobody's neighbour; item 2 falls back on item 0 (cos 0)
    avail = torch.tensor([True, False, True, True])
    got = knn_dense(IMAGE, avail, 2)
    np.testing.assert_allclose(got[1], [0, 1, 0, 0], atol=1e-7)
    assert not got[[0, 2, 3], 1].any()
    np.testing.assert_allclose(got[0], [1, 0, 0, 0], atol=1e-7)  # (cos 0 to item 2, -1 to item 3)


def _knn(x: np.ndarray, avail: np.ndarray, k: int) -> np.ndarray:
    n = len(x)
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = xn @ xn.T
    sim[:, ~avail] = -np.inf
    a = np.zeros((n, n))
    for r in range(n):
        if avail[r]:
            top = np.argsort(-sim[r], kind="stable")[:k]
            a[r, top] = sim[r, top]
        else:
            a[r, r] = 1.0
    d = a.sum(1) ** -0.5
    return d[:, None] * a * d[None, :]


def reference(model: MGCNTeacher, avail: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MGCN's (content, side) over users then items, re-derived densely in NumPy from the model's weights."""
    p = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    lin = lambda name, x: x @ p[f"{name}.weight"].T + p.get(f"{name}.bias", 0)  # noqa: E731
    nu, names = 3, model.items.names
    r = np.zeros((3, 4))
    r[GRAPH.user, GRAPH.item] = 1
    a = np.block([[np.zeros((3, 3)), r], [r.T, np.zeros((4, 4))]])
    d = a.sum(1) ** -0.5
    a = d[:, None] * a * d[None, :]
    ego = np.concatenate([p["user.weight"], p["item.weight"]])
    content = (ego + a @ ego + a @ a @ ego) / 3
    data = {"image": IMAGE, "text": TEXT, "audio": AUDIO}
    views = []
    for m in names:
        ok = np.ones(4, bool) if avail is None or m not in avail else avail[m]
        x = np.where(ok[:, None], data[m] + p[f"feature_offset.{m}"], 0)
        h = p["item.weight"] * sig(lin(f"gate.{m}", lin(f"proj.{m}", x)))
        h = _knn(np.where(ok[:, None], data[m], 0), ok, 2) @ h
        views.append(np.concatenate([a[:nu, nu:] @ h, h]))
    if len(names) == 1:
        return content, views[0] / 2
    q = np.stack([lin("query.2", np.tanh(lin("query.0", v))) for v in views])
    w = np.exp(q) / np.exp(q).sum(0)
    common = sum(w[k] * v for k, v in enumerate(views))
    spec = sum(sig(lin(f"prefer.{m}", content)) * (views[k] - common) for k, m in enumerate(names))
    return content, (common + spec) / (len(names) + 1)


@pytest.mark.parametrize("names", [("image", "text"), ("text",), ("image", "text", "audio")])
def test_scores_match_the_numpy_reference(names):
    model = build(*names).eval()
    content, side_ = reference(model)
    final = content + side_
    expected = final[:3] @ final[3:].T
    np.testing.assert_allclose(model.score(torch.arange(3)).numpy(), expected, atol=1e-6)
    assert (model.query is None) == (len(names) == 1) and len(model.prefer) == (len(names) if len(names) > 1 else 0)


def test_missing_modality_rebuilds_the_graph_and_zeroes_the_features():
    model = build("image", "text").eval()
    before = model.score(torch.arange(3))
    keep = np.array([True, False, True, True])
    with model.items.masked({"image": torch.as_tensor(keep)}):
        masked = model.score(torch.arange(3))
        np.testing.assert_allclose(masked.numpy(), (lambda c, s: (c + s)[:3] @ (c + s)[3:].T)(
            *reference(model, {"image": keep})), atol=1e-6)
    assert not torch.allclose(masked, before)
    np.testing.assert_allclose(model.score(torch.arange(3)).numpy(), before.numpy(), atol=1e-7)


def test_loss_by_hand():
    model = build("image", "text", reg_weight=0.3, cl_loss=0.7, temperature=0.5)
    users, pos, neg = torch.tensor([0, 1, 1, 2]), torch.tensor([1, 2, 3, 0]), torch.tensor([3, 0, 0, 2])
    content, side_ = (torch.as_tensor(t, dtype=torch.float32) for t in reference(model))
    final = content + side_
    u, i_p, i_n = final[users], final[3 + pos], final[3 + neg]
    bpr = -torch.log(torch.sigmoid((u * i_p).sum(1) - (u * i_n).sum(1))).mean()
    reg = 0.5 * (u.square().sum() + i_p.square().sum() + i_n.square().sum()) / 4

    def info_nce(a, b):
        a, b = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
        return (-torch.log(torch.exp((a * b).sum(1) / 0.5) / torch.exp(a @ b.T / 0.5).sum(1))).mean()

    cl = info_nce(side_[3 + pos], content[3 + pos]) + info_nce(side_[users], content[users])
    np.testing.assert_allclose(model.loss(users, pos, neg).item(), float(bpr + 0.3 * reg + 0.7 * cl), rtol=1e-6)


@pytest.mark.parametrize("names", [("image", "text"), ("text",), ("image", "text", "audio")])
def test_gradients_reach_every_parameter(names):
    model = build(*names).train()
    model.loss(torch.tensor([0, 1, 2]), torch.tensor([1, 3, 0]), torch.tensor([2, 0, 3])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_no_feature_tuning_and_no_item_hops():
    model = build("image", "text", tune_features=False, n_mm_layers=0)
    assert len(model.feature_offset) == 0
    u, i = model.embeddings()
    assert u.shape == (3, 3) and i.shape == (4, 3) and torch.isfinite(i).all()


def test_every_bad_parameter_is_named_once():
    with pytest.raises(ValueError) as err:
        MGCNTeacher(GRAPH, side("text"), dim=0, knn_k=0, n_mm_layers=-1, n_ui_layers=-1, reg_weight=-1,
                    cl_loss=-1, temperature=0)
    for bad in ["dim=0", "knn_k=0", "n_mm_layers=-1", "n_ui_layers=-1", "reg_weight=-1", "cl_loss=-1",
                "temperature=0"]:
        assert bad in str(err.value)
    with pytest.raises(MMBenchError, match="mgcn needs item features"):
        MGCNTeacher(GRAPH, None)


def test_defaults_follow_mmrec():
    model = MGCNTeacher(GRAPH, side("image", "text"))
    assert (model.user.weight.shape[1], model.knn_k, model.n_mm_layers, model.n_ui_layers) == (64, 10, 1, 2)
    assert (model.reg_weight, model.cl_loss, model.temperature) == (1e-4, 0.001, 0.2)
    assert mgcn.MGCNTeacher.search_space["cl_loss"].values == (0.001, 0.01, 0.1)
