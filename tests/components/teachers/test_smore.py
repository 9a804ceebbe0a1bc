"""SMORE: its similarity k-NN and max-fused graphs by hand, score and loss against a dense reference, modality sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmbench.components._items import ItemSide
from mmbench.components.teachers import smore
from mmbench.components.teachers.smore import SMORETeacher, max_union, similarity_knn
from mmbench.data.types import TrainGraph
from mmbench.kinds import TEACHERS

# 3 users × 4 items; 2-d features with distinct similarities (no top-k ties) and all positive for text
GRAPH = TrainGraph(3, 4, np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 2, 3, 0]))
IMAGE = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]], np.float32)
TEXT = np.array([[3.0, 1.0], [1.0, 2.0], [2.0, 3.0], [1.0, 4.0]], np.float32)
ALL = np.ones(4, bool)


def build(features: dict[str, np.ndarray], graph: TrainGraph = GRAPH, **params) -> SMORETeacher:
    torch.manual_seed(0)
    n = graph.n_items
    side = ItemSide(graph, {m: (x, np.ones(n, bool)) if not isinstance(x, tuple) else x for m, x in features.items()})
    return SMORETeacher(graph, side, **params)


def dense(op) -> np.ndarray:
    return op.matrix.to_dense().double().numpy()


def test_similarity_knn_by_hand():
    # cosines: 01 .8, 02 0, 03 .6, 12 .6, 13 .96, 23 .8; k=2 keeps itself (1) and its nearest other item
    kept = {0: {0: 1.0, 1: 0.8}, 1: {1: 1.0, 3: 0.96}, 2: {2: 1.0, 3: 0.8}, 3: {3: 1.0, 1: 0.96}}
    deg = {r: sum(row.values()) for r, row in kept.items()}  # row sums of the kept similarities
    expected = np.zeros((4, 4))
    for r, row in kept.items():
        for c, s in row.items():
            expected[r, c] = s / math.sqrt(deg[r] * deg[c])
    r, c, w = similarity_knn(torch.as_tensor(IMAGE), torch.as_tensor(ALL), 2)
    got = np.zeros((4, 4))
    got[r.numpy(), c.numpy()] = w.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert expected[0, 1] == pytest.approx(0.8 / math.sqrt(1.8 * 1.96))
    # an item without the modality: a self-loop only, and nobody's neighbour (item 1 was everyone's favourite)
    r, c, w = similarity_knn(torch.as_tensor(IMAGE), torch.tensor([True, False, True, True]), 2)
    got = np.zeros((4, 4))
    got[r.numpy(), c.numpy()] = w.numpy()
    assert got[1].tolist() == [0, 1, 0, 0] and got[:, 1].tolist() == [0, 1, 0, 0]
    assert got[0, 3] == pytest.approx(0.6 / math.sqrt(1.6 * 1.8))  # item 0 falls back to 3, and 3 to 2 (.8)


def test_max_union_keeps_every_edge_with_its_largest_weight():
    a = (torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1]), torch.tensor([0.5, 0.2, 0.7]))
    b = (torch.tensor([0, 1, 2]), torch.tensor([1, 1, 0]), torch.tensor([0.4, 0.1, 0.3]))
    np.testing.assert_allclose(dense(max_union([a, b], 3)), [[0.5, 0.4, 0], [0, 0.7, 0], [0.3, 0, 0]], atol=1e-7)


def _reference(model: SMORETeacher, feats: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense float64 SMORE for dim 2: rfft/irfft (orthonormal) over 2 entries is the Hadamard map, where the
    spectra are real, so a complex filter acts through its real parts only. Returns (side, content)."""
    p = {k: v.detach().double() for k, v in model.state_dict().items()}
    H = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64) / math.sqrt(2)
    lin = lambda x, pre: x @ p[f"{pre}.weight"].T + p.get(f"{pre}.bias", 0)  # noqa: E731
    sig = lambda x, pre: torch.sigmoid(lin(x, pre))  # noqa: E731
    spec = {m: lin(torch.as_tensor(x).double() + p[f"feature_offset.{m}"], f"proj.{m}") @ H for m, x in feats.items()}
    a = torch.zeros(7, 7, dtype=torch.float64)
    a[GRAPH.user, 3 + GRAPH.item] = a[3 + GRAPH.item, GRAPH.user] = 1
    deg = a.sum(1)
    a = a / torch.sqrt(deg[:, None] * deg[None, :])
    ego = torch.cat([p["user.weight"], p["item.weight"]])
    content = (ego + a @ ego) / 2  # n_ui_layers 1
    knn = {m: torch.as_tensor(dense(model.item_graphs()[0][m])) for m in feats}
    for m, x in feats.items():  # the k-NN graphs by the formula: top-2 similarities, sym-normalised by row sums
        xn = torch.nn.functional.normalize(torch.as_tensor(x).double(), dim=1)
        s = xn @ xn.T
        s = torch.where(s >= s.topk(2, dim=1).values[:, 1:], s, 0)
        d = s.sum(1)
        torch.testing.assert_close(knn[m], s / torch.sqrt(d[:, None] * d[None, :]), atol=1e-6, rtol=0)

    def view(g: torch.Tensor, conv: torch.Tensor, gate: str) -> torch.Tensor:
        h = g @ (p["item.weight"] * sig(conv, gate))  # n_mm_layers 1
        return torch.cat([a[:3, 3:] @ h, h])

    fused_spec = math.prod(spec.values())
    fused = view(torch.maximum(*knn.values()), (fused_spec * p["fusion_filter"][0, :, 0]) @ H, "fusion_gate.0")
    sides = []
    for m in feats:
        v = view(knn[m], (spec[m] * p[f"filters.{m}"][0, :, 0]) @ H, f"gates.{m}.0")
        att = torch.softmax(lin(torch.tanh(lin(fused, f"queries.{m}.0")), f"queries.{m}.2"), dim=-1)
        sides.append(sig(content, f"prefer.{m}.0") * att * v)
    sides.append(sig(content, "fusion_prefer.0") * fused)
    return sum(sides) / len(sides), content


def test_score_and_loss_match_a_dense_reference():
    feats = {"image": IMAGE, "text": TEXT}
    model = build(feats, dim=2, n_ui_layers=1, n_mm_layers=1, knn_k=2, reg_weight=0.3, cl_loss=0.7,
                  temperature=0.5)
    with torch.no_grad():
        for prm in model.parameters():
            prm.normal_(0, 0.8)
    side, content = _reference(model, feats)
    final = content + side
    torch.testing.assert_close(model.eval().score(torch.arange(3)).double(), final[:3] @ final[3:].T,
                               atol=1e-5, rtol=0)
    users, pos, neg = torch.tensor([0, 1, 2, 2]), torch.tensor([1, 2, 3, 0]), torch.tensor([2, 0, 1, 1])
    u, i_p, i_n = final[users], final[3 + pos], final[3 + neg]
    bpr = -torch.log(torch.sigmoid((u * i_p).sum(1) - (u * i_n).sum(1))).mean()
    reg = 0.3 * 0.5 * (u.square().sum() + i_p.square().sum() + i_n.square().sum()) / 4

    def nce(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sim = torch.exp(torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(y, dim=1).T / 0.5)
        return (-torch.log(sim.diagonal() / sim.sum(1))).mean()

    cl = nce(side[3 + pos], content[3 + pos]) + nce(side[users], content[users])
    torch.testing.assert_close(model.train().loss(users, pos, neg).double(), bpr + reg + 0.7 * cl, atol=1e-5, rtol=0)


def test_every_bad_parameter_is_named_in_one_error():
    with pytest.raises(ValueError) as err:
        build({"text": TEXT}, dim=0, n_ui_layers=-1, knn_k=0, image_knn_k=0, temperature=0.0, dropout_rate=1.0,
              cl_loss=-1.0)
    for name in ("dim=0", "n_ui_layers=-1", "knn_k=0", "image_knn_k=0", "temperature=0.0", "dropout_rate=1.0",
                 "cl_loss=-1.0"):
        assert name in str(err.value)
    assert "reg_weight" not in str(err.value) and "text_knn_k" not in str(err.value)


def test_knn_k_per_modality_keeps_official_names():
    feats = {"image": IMAGE, "text": TEXT, "audio": TEXT[::-1].copy()}
    model = build(feats, knn_k=3, image_knn_k=1, text_knn_k=2)
    assert model.knn_k == {"image": 1, "text": 2, "audio": 3}
    graphs, _ = model.item_graphs()
    assert [(dense(graphs[m]) > 0).sum(1).tolist() for m in ("image", "text", "audio")] == [[1] * 4, [2] * 4,
                                                                                          [3] * 4]
    assert build({"text": TEXT}, image_knn_k=1).knn_k == {"text": 10}  # an absent modality's override is unused


def test_one_modality_fuses_with_itself():
    model = build({"text": TEXT}, dim=4, knn_k=2)
    graphs, fused = model.item_graphs()
    np.testing.assert_array_equal(dense(fused), dense(graphs["text"]))
    assert list(model.filters) == ["text"] and len(model.prefer) == 1
    assert torch.isfinite(model.loss(torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([3, 3])))
    assert model.eval().score(torch.arange(3)).shape == (3, 4)


def _grad_check(model: SMORETeacher) -> None:
    model.train()
    loss = model.loss(torch.tensor([0, 1, 2]), torch.tensor([1, 2, 3]), torch.tensor([2, 3, 1]))
    loss.backward()
    for name, prm in model.named_parameters():
        assert prm.grad is not None and torch.isfinite(prm.grad).all(), name
        assert prm.grad.abs().sum() > 0, f"{name} gets no gradient"


def test_three_modalities_fuse_all_graphs_and_every_parameter_learns():
    feats = {"image": IMAGE, "text": TEXT, "audio": np.array([[1, 2], [2, 1], [1, 1], [3, 1]], np.float32)}
    model = build(feats, dim=8, knn_k=2, dropout_rate=0.1)
    graphs, fused = model.item_graphs()
    np.testing.assert_allclose(dense(fused), np.maximum.reduce([dense(g) for g in graphs.values()]))
    _grad_check(model)


def test_two_modalities_every_parameter_learns_and_dropout_only_trains():
    model = build({"image": IMAGE, "text": TEXT}, dim=8, knn_k=2, dropout_rate=0.1)
    _grad_check(model)
    with torch.no_grad():
        torch.manual_seed(1)
        a = model.embeddings()[1]
        torch.manual_seed(2)
        assert not torch.allclose(a, model.embeddings()[1])
        model.eval()
        torch.testing.assert_close(model.embeddings()[1], model.embeddings()[1])
    still = build({"image": IMAGE, "text": TEXT}, dim=8, knn_k=2)
    with torch.no_grad():
        torch.testing.assert_close(still.embeddings()[1], still.eval().embeddings()[1])


def test_missing_modality_isolates_the_item_and_gets_no_offset_gradient():
    avail = np.array([True, True, False, True])
    model = build({"image": (IMAGE * avail[:, None], avail), "text": TEXT}, dim=4, knn_k=2)
    graphs, _ = model.item_graphs()
    assert dense(graphs["image"])[2].tolist() == [0, 0, 1, 0] and dense(graphs["image"])[:, 2].tolist() == [0, 0, 1, 0]
    _loss = model.loss(torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([3, 0]))
    _loss.backward()
    grad = model.feature_offset["image"].grad
    assert grad[2].abs().sum() == 0 and grad[[0, 1, 3]].abs().sum() > 0
    # a robustness mask rebuilds the graphs, lifting it restores them
    before = dense(graphs["text"])
    with model.items.masked({"text": torch.tensor([True, False, True, True])}):
        assert dense(model.item_graphs()[0]["text"])[1].tolist() == [0, 1, 0, 0]
    np.testing.assert_array_equal(dense(model.item_graphs()[0]["text"]), before)


def test_registered_and_defaults_follow_mmrec():
    assert TEACHERS.get("smore") is smore.SMORETeacher
    model = build({"image": IMAGE, "text": TEXT})
    assert model.user.weight.shape[1] == 64 and model.n_ui_layers == 3 and model.n_mm_layers == 1
    assert (model.reg_weight, model.cl_loss, model.temperature, model.dropout_rate) == (1e-5, 0.01, 0.2, 0.0)
    assert SMORETeacher.search_space["n_ui_layers"].values == (3, 4)
    assert SMORETeacher.search_space["image_knn_k"].values == (10, 15, 20, 40)
