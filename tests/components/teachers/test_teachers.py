"""Teachers (mm-gnn, freedom, vbpr, bm3, mgcn, lgmrec, smore): contract on a tiny graph, FREEDOM's two graphs, VBPR's score, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmbench.components.fusion.cross_attention  # noqa: F401  registers mm-gnn's default fusion
from mmbench.components._graph import bipartite_adjacency
from mmbench.components._items import ItemSide
from mmbench.components.teachers import bm3, freedom, lgmrec, mgcn, mm_gnn, smore, vbpr  # noqa: F401  registers them
from mmbench.components.teachers.freedom import FreedomTeacher, modality_weights
from mmbench.components.teachers.vbpr import VBPRTeacher
from mmbench.data.load import load_dataset
from mmbench.data.splits import loo_time
from mmbench.data.types import Split, TrainGraph
from mmbench.errors import MMBenchError
from mmbench.kinds import TEACHERS
from mmbench.recipe.schema import EvalSpec, TrainSpec
from mmbench.runner.train import fit, seed_everything

NAMES = ["mm-gnn", "freedom", "vbpr", "bm3", "mgcn", "lgmrec", "smore"]
N_USERS, N_ITEMS = 30, 25


def tiny_graph(seed: int = 0) -> TrainGraph:
    keys = np.random.default_rng(seed).choice(N_USERS * N_ITEMS, 150, replace=False)
    return TrainGraph(N_USERS, N_ITEMS, keys // N_ITEMS, keys % N_ITEMS)


def tiny_features(seed: int = 0, image_share: float = 0.6) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    image_avail = np.zeros(N_ITEMS, dtype=bool)
    image_avail[rng.permutation(N_ITEMS)[:round(image_share * N_ITEMS)]] = True
    return {"text": (rng.normal(size=(N_ITEMS, 12)).astype(np.float32), np.ones(N_ITEMS, dtype=bool)),
            "image": (rng.normal(size=(N_ITEMS, 8)).astype(np.float32), image_avail)}


def build(name: str, image_share: float = 0.6, **params):
    torch.manual_seed(0)
    graph = tiny_graph()
    return TEACHERS.get(name)(graph, ItemSide(graph, tiny_features(image_share=image_share)), **params)


def triples(graph: TrainGraph, n: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    idx = torch.randperm(len(graph.user), generator=gen)[:n]
    neg = torch.randint(graph.n_items, (n,), generator=gen)
    return torch.as_tensor(graph.user)[idx].long(), torch.as_tensor(graph.item)[idx].long(), neg


@pytest.mark.parametrize("name", NAMES)
def test_loss_backward_reaches_every_parameter(name):
    model = build(name)
    if hasattr(model, "new_epoch"):
        model.new_epoch()
    if name == "mm-gnn":  # its modality map starts at zero (the ID-only model): give the fusion path a gradient
        with torch.no_grad():
            model.modal.weight.normal_(0, 0.1)
    loss = model.loss(*triples(model.graph))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} gets no gradient"


@pytest.mark.parametrize("name", NAMES)
def test_eval_score_is_the_embedding_product(name):
    model = build(name).eval()
    users = torch.tensor([0, 7, 7, 29])
    scores = model.score(users)
    assert scores.shape == (4, N_ITEMS) and torch.isfinite(scores).all()
    with torch.no_grad():
        u, i = model.embeddings()
    assert u.shape[0] == N_USERS and i.shape[0] == N_ITEMS and u.shape[1] == i.shape[1]
    torch.testing.assert_close(scores, u[users] @ i.T)


@pytest.mark.parametrize("name", NAMES)
def test_image_absent_for_every_item(name):
    model = build(name, image_share=0.0)
    assert model.items.info()["absent"] == ["image"] and model.items.names == ["text"]
    loss = model.loss(*triples(model.graph))
    assert torch.isfinite(loss)
    assert model.eval().score(torch.arange(3)).shape == (3, N_ITEMS)


@pytest.mark.parametrize("name", NAMES)
def test_without_features_is_a_clear_error(name):
    graph = tiny_graph()
    with pytest.raises(MMBenchError, match="encoders"):
        TEACHERS.get(name)(graph, None)


@pytest.mark.parametrize("name", ["freedom", "vbpr"])
def test_only_absent_modalities_is_a_clear_error(name):
    graph = tiny_graph()
    features = {"image": (np.ones((N_ITEMS, 4), np.float32), np.zeros(N_ITEMS, dtype=bool))}
    with pytest.raises(MMBenchError, match=r"needs item features.*absent from every item: image"):
        TEACHERS.get(name)(graph, ItemSide(graph, features))


# --- FREEDOM ---------------------------------------------------------------------------------------------

def _dense_pruned(model: FreedomTeacher) -> torch.Tensor:
    model.train()
    return model.user_item_graph().matrix.to_dense()


def test_freedom_prunes_the_expected_share_symmetrically_and_renormalises():
    model = build("freedom", dropout=0.8)
    graph = model.graph
    n_edges = len(set(zip(graph.user.tolist(), graph.item.tolist())))
    model.new_epoch()
    a = _dense_pruned(model)
    assert model.user_item_graph().transpose is model.user_item_graph().matrix  # symmetric operator
    torch.testing.assert_close(a, a.T)
    block = a[:N_USERS, N_USERS:]
    kept = block > 0
    assert int(kept.sum()) == int(n_edges * (1 - 0.8)) == 29  # MMRec's int(E * (1 - dropout)); 1 - 0.8 < 0.2
    assert not a[:N_USERS, :N_USERS].any() and not a[N_USERS:, N_USERS:].any()
    full = bipartite_adjacency(graph).matrix.to_dense()[:N_USERS, N_USERS:] > 0
    assert not (kept & ~full).any(), "only train edges are kept"
    deg_u, deg_i = kept.sum(1).double(), kept.sum(0).double()
    expected = kept / torch.sqrt(deg_u[:, None].clamp(min=1) * deg_i[None, :].clamp(min=1))
    torch.testing.assert_close(block.double(), expected)


def test_freedom_pruning_is_reproducible_and_resampled_every_epoch():
    model = build("freedom")
    torch.manual_seed(5)
    model.new_epoch()
    first = _dense_pruned(model)
    model.new_epoch()
    second = _dense_pruned(model)
    torch.manual_seed(5)
    model.new_epoch()
    assert torch.equal(_dense_pruned(model), first)
    assert not torch.equal(first, second)


def test_freedom_pruning_is_degree_sensitive():
    model = build("freedom", dropout=0.5)
    graph = model.graph
    deg_u = np.bincount(graph.user, minlength=N_USERS)
    deg_i = np.bincount(graph.item, minlength=N_ITEMS)
    weight = torch.as_tensor((deg_u[graph.user] * deg_i[graph.item]) ** -0.5)
    kept = torch.zeros(len(graph.user))
    torch.manual_seed(0)
    for _ in range(300):
        model.new_epoch()
        block = _dense_pruned(model)[:N_USERS, N_USERS:]
        kept += (block[graph.user, graph.item] > 0).float()
    order = torch.argsort(weight)
    quarter = len(order) // 4
    # edges between well-connected nodes (small 1/sqrt(d_u d_i)) are pruned more often
    assert kept[order[:quarter]].mean() < kept[order[-quarter:]].mean() - 30


def test_freedom_scores_on_the_full_graph_and_trains_on_the_pruned_one():
    model = build("freedom")
    model.new_epoch()
    train_u, _ = model.embeddings()
    model.new_epoch()
    assert not torch.allclose(model.embeddings()[0], train_u)
    model.eval()
    assert model.user_item_graph() is model.adj
    before = model.score(torch.arange(N_USERS))
    model.train()
    model.new_epoch()
    model.eval()
    torch.testing.assert_close(model.score(torch.arange(N_USERS)), before)
    # no dropout: training sees the same graph as scoring
    assert build("freedom", dropout=0.0).train().user_item_graph().matrix.values().numel() == \
        model.adj.matrix.values().numel()


def _dense_knn(x: np.ndarray, avail: np.ndarray, k: int) -> np.ndarray:
    """FREEDOM's k-NN graph, by hand: top-k cosine neighbours, D^-1/2 A D^-1/2; a missing item: self-loop."""
    n = len(x)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = xn @ xn.T
    sim[:, ~avail] = -np.inf
    adj = np.zeros((n, n))
    for r in range(n):
        if avail[r]:
            adj[r, np.argsort(-sim[r])[:min(k, avail.sum())]] = 1.0
        else:
            adj[r, r] = 1.0
    deg = adj.sum(1)
    return adj / np.sqrt(deg[:, None] * deg[None, :])


def test_freedom_item_graph_mixes_image_0_1_text_0_9():
    model = build("freedom")
    feats = tiny_features()
    (text, text_a), (image, image_a) = feats["text"], feats["image"]
    expected = 0.1 * _dense_knn(image, image_a, 10) + 0.9 * _dense_knn(text, text_a, 10)
    got = model.item_graph().matrix.to_dense().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # the item embedding is LightGCN's plus one hop of the ID embeddings over that graph
    model.eval()
    with torch.no_grad():
        _, items = model.embeddings()
        model.n_mm_layers = 0
        _, without = model.embeddings()
    np.testing.assert_allclose((items - without).numpy(), expected @ model.item.weight.detach().numpy(),
                               atol=1e-5)


def test_freedom_modality_weights():
    assert modality_weights(["text", "image"], 0.1) == pytest.approx({"text": 0.9, "image": 0.1})
    assert modality_weights(["image"], 0.1) == {"image": 1.0}
    assert modality_weights(["text"], 0.1) == {"text": 1.0}
    assert modality_weights(["image", "text", "audio"], 0.1) == pytest.approx(
        {"image": 0.1, "text": 0.45, "audio": 0.45})
    assert modality_weights(["text", "audio"], 0.1) == {"text": 0.5, "audio": 0.5}


def test_freedom_modality_loss_is_weighted_by_reg_weight():
    base = build("freedom", reg_weight=0.0)
    batch = triples(base.graph)
    torch.manual_seed(3)
    plain = base.loss(*batch)
    model = build("freedom", reg_weight=0.5)
    torch.manual_seed(3)
    total = model.loss(*batch)
    torch.manual_seed(3)
    u, _ = model.embeddings()
    values, _ = model.items()
    users, pos, neg = batch
    aux = sum(-torch.nn.functional.logsigmoid(
        (u[users] * (model.proj[m](values[m][pos]) - model.proj[m](values[m][neg]))).sum(1)).mean()
        for m in ("text", "image"))
    torch.testing.assert_close(total, plain + 0.5 * aux)


# --- VBPR ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("item", ["with image", "without image"])
def test_vbpr_score_by_hand(item):
    model = build("vbpr", dim=6, visual_dim=4)
    with torch.no_grad():
        model.item_bias.weight.normal_()
        model.visual_bias.weight.normal_()
    feats = tiny_features()
    (text, _), (image, image_a) = feats["text"], feats["image"]
    j = int(np.flatnonzero(image_a if item == "with image" else ~image_a)[0])
    f = torch.as_tensor(np.concatenate([text[j], image[j] if image_a[j] else np.zeros(8, np.float32)]))
    u = 11
    gamma_u, theta_u = model.user.weight[u, :6], model.user.weight[u, 6:]
    expected = (model.item_bias.weight[j, 0] + gamma_u @ model.item.weight[j]
                + theta_u @ (model.visual.weight @ f) + model.visual_bias.weight[0] @ f)
    model.eval()
    torch.testing.assert_close(model.score(torch.tensor([u]))[0, j], expected.detach())
    users, items = model.embeddings()
    assert users.shape == (N_USERS, 11) and items.shape == (N_ITEMS, 11) and torch.all(users[:, -1] == 1)


def test_vbpr_default_sizes_follow_mmrec():
    users, items = build("vbpr").embeddings()
    assert users.shape[1] == items.shape[1] == 64 + 64 + 1


# --- learning on real data -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_split() -> Split:
    """The first 400 users of Amazon Beauty, split loo-time (as tests/runner/conftest.py's fixture)."""
    return loo_time(load_dataset("amazon-beauty", {"max_users": 400}).interactions)


@pytest.mark.parametrize("name", NAMES)
def test_teacher_learns_on_real_data(name, small_split):
    graph = small_split.graph
    rng = np.random.default_rng(0)  # random stand-ins for the encoder features
    features = {"text": (rng.normal(size=(graph.n_items, 16)).astype(np.float32), np.ones(graph.n_items, bool)),
                "image": (rng.normal(size=(graph.n_items, 8)).astype(np.float32), rng.random(graph.n_items) < 0.7)}
    seed_everything(0)
    model = TEACHERS.get(name)(graph, ItemSide(graph, features), dim=32)
    spec = TrainSpec(epochs=3, batch_size=256, lr=0.01, eval_every=1, patience=10)
    result = fit(model, small_split, spec, EvalSpec(ks=[10], metrics=["hr", "ndcg"]), seed=0)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert losses[0] > losses[1] > losses[2], losses
    assert all(np.isfinite(v) for v in result.valid.values())
    # it learned the train graph: a train item outscores a random item for most train pairs (AUC)
    users, items = torch.as_tensor(graph.user).long(), torch.as_tensor(graph.item).long()
    scores = model.eval().score(torch.arange(graph.n_users))
    rand = torch.randint(graph.n_items, (len(users),), generator=torch.Generator().manual_seed(0))
    assert (scores[users, items] > scores[users, rand]).float().mean() > 0.7  # random: 0.5


def test_mm_gnn_refuses_settings_that_leave_the_features_unused():
    with pytest.raises(ValueError, match="item_layers 0 would leave the features unused"):
        build("mm-gnn", graph_input="id", item_layers=0)
    build("mm-gnn", graph_input="fused", item_layers=0)  # features enter through the user–item graph


def test_mm_gnn_starts_as_the_id_only_model():
    """The modality map is zero at init: the fused token equals the ID embedding until training moves it."""
    model = build("mm-gnn")
    torch.testing.assert_close(model._items0(), model.item.weight)
