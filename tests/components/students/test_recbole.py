"""RecBole models as students: ids, what RecBole sees, training through mmbench's loop, caching, errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("recbole")

import mmbench.components  # noqa: F401,E402  (registers the built-ins)
from mmbench.components.students.lightgcn import LightGCNStudent  # noqa: E402
from mmbench.data.load import load_dataset  # noqa: E402
from mmbench.data.splits import make_split  # noqa: E402
from mmbench.data.types import TrainGraph  # noqa: E402
from mmbench.interop.recbole_models import RecBoleError  # noqa: E402
from mmbench.kinds import STUDENTS  # noqa: E402
from mmbench.recipe.schema import DistillSpec, EvalSpec, TrainSpec  # noqa: E402
from mmbench.runner.distill import Distiller  # noqa: E402
from mmbench.runner.evaluate import evaluate  # noqa: E402
from mmbench.runner.train import fit, seed_everything  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning",
                                        "ignore::DeprecationWarning")


def _graph() -> TrainGraph:
    """Users 0–8, items 0–7; user 8 and items 6, 7 have no train interaction (they still must be scored)."""
    rng = np.random.default_rng(0)
    keys = rng.choice(8 * 6, size=26, replace=False)
    return TrainGraph(9, 8, (keys // 6).astype(np.int64), (keys % 6).astype(np.int64))


@pytest.fixture(scope="module")
def split():
    data = load_dataset("amazon-beauty", {"max_users": 400})
    return make_split("loo-time", data.interactions, seed=0)


def _build(name, graph, seed=0, **params):
    seed_everything(seed)  # torch and numpy: RecBole's negative sampler draws from numpy's global RNG
    return STUDENTS.get(name)(graph, TrainSpec(batch_size=64), **params)


def test_recbole_sees_exactly_the_train_pairs_and_every_id():
    graph = _graph()
    model = _build("recbole/bpr", graph)
    ds = model.session.dataset
    coo = ds.inter_matrix(form="coo")
    users = ds.id2token("user_id", coo.row).astype(int)
    items = ds.id2token("item_id", coo.col).astype(int)
    assert sorted(zip(users, items)) == sorted(zip(graph.user.tolist(), graph.item.tolist()))
    assert (ds.user_num, ds.item_num) == (graph.n_users + 1, graph.n_items + 1)  # + RecBole's [PAD]


def test_scores_follow_recboles_own_full_sort_in_mmbench_item_order():
    from recbole.data.interaction import Interaction

    graph = _graph()
    model = _build("recbole/bpr", graph)
    with torch.no_grad():
        for p in model.net.parameters():
            p.normal_()
    model.eval()
    ds = model.session.dataset
    for u in range(graph.n_users):
        rb_user = ds.token2id("user_id", str(u))
        flat = model.net.full_sort_predict(Interaction({"user_id": torch.tensor([rb_user])}))
        want = torch.stack([flat[ds.token2id("item_id", str(i))] for i in range(graph.n_items)])
        torch.testing.assert_close(model.score(torch.tensor([u]))[0], want)


def test_pop_counts_every_interaction_like_mmbench_pop(split):
    # RecBole's Pop adds 1 per *batch* an item occurs in; the one-pass fit must still count exactly
    rb = _build("recbole/pop", split.graph)
    mm = STUDENTS.get("pop")(split.graph)
    users = torch.arange(5)
    counts = torch.as_tensor(np.bincount(split.graph.item, minlength=split.n_items), dtype=torch.float32)
    assert counts.max() > 1  # the test needs repeated items
    torch.testing.assert_close(rb.score(users) * counts.max(), mm.score(users))
    assert not any(p.requires_grad for p in rb.parameters())  # fitted, nothing left to train


def test_closed_form_models_report_their_fitted_state():
    from mmbench.metrics.latency import model_size

    graph = _graph()
    ease = model_size(_build("recbole/ease", graph))
    assert ease["params"] >= (graph.n_items + 1) ** 2  # the item–item matrix, not just a placeholder weight
    lgcn = model_size(_build("recbole/lightgcn", graph))
    assert lgcn["params"] == (graph.n_users + 1 + graph.n_items + 1) * 64


def test_same_seed_same_training_other_seed_differs():
    graph = _graph()

    def one_epoch(seed):
        model = _build("recbole/lightgcn", graph, seed=seed)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        model.train()
        for _, _, loss in model.train_batches(model.batch_size):
            opt.zero_grad()
            loss.backward()
            opt.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    torch.testing.assert_close(one_epoch(0), one_epoch(0), rtol=0, atol=0)
    assert not torch.equal(one_epoch(0), one_epoch(1))


def test_loading_weights_drops_recboles_cached_tables():
    graph = _graph()
    a, b = _build("recbole/lightgcn", graph, seed=0), _build("recbole/lightgcn", graph, seed=1)
    a.eval(), b.eval()
    users = torch.arange(graph.n_users)
    before = a.score(users)
    a.load_state_dict(b.state_dict())
    torch.testing.assert_close(a.score(users), b.score(users))
    assert not torch.allclose(a.score(users), before)


def test_fit_trains_on_recboles_batches_and_restores_the_best_state(split):
    seed_everything(0)
    model = STUDENTS.get("recbole/lightgcn")(split.graph, TrainSpec(batch_size=1024), n_layers=2)
    logs = []
    train = TrainSpec(epochs=4, batch_size=1024, lr=1e-2, eval_every=1, patience=10)
    fitted = fit(model, split, train, EvalSpec(), seed=0, log=logs.append)
    losses = [h["loss"] for h in fitted.history]
    assert len(losses) == 4 and losses[-1] < losses[0]
    again = evaluate(model.score, split, "valid", metrics=["ndcg"], ks=[10])
    assert again["NDCG@10"] == pytest.approx(fitted.valid["NDCG@10"], abs=1e-7)


def test_distillation_into_a_recbole_student(split):
    seed_everything(0)
    teacher = LightGCNStudent(split.graph, dim=32, layers=1)
    student = STUDENTS.get("recbole/lightgcn")(split.graph, TrainSpec(batch_size=1024))
    kd = Distiller(teacher, "lightgcn", student, "recbole/lightgcn", split.graph,
                   [DistillSpec(name="listwise-kl")])
    fitted = fit(student, split, TrainSpec(epochs=1, batch_size=1024), EvalSpec(), seed=0, distiller=kd)
    term = fitted.history[0]["distill"]["listwise-kl"]
    assert np.isfinite(term) and term > 0


def test_settings_mmbench_owns_are_refused_with_the_recipe_field():
    with pytest.raises(RecBoleError, match=r"learning_rate -> train\.lr"):
        _build("recbole/lightgcn", _graph(), config={"learning_rate": 0.1})


def test_recipe_params_are_recboles_names_with_did_you_mean():
    from mmbench.recipe.load import RecipeError, validate_raw

    raw = {"schema_version": 1, "name": "x", "dataset": {"name": "amazon-beauty", "split": "loo-time"},
           "student": {"name": "recbole/lightgcn", "params": {"n_layer": 3, "reg_weight": 1e-3}}}
    with pytest.raises(RecipeError, match=r"student\.params\.n_layer.*did you mean 'n_layers'"):
        validate_raw(raw, "x.yaml")
    raw["student"]["params"] = {"n_layers": 3, "reg_weight": 1e-3}
    assert validate_raw(raw, "x.yaml").student.params["n_layers"] == 3


def test_without_recbole_one_error_names_the_install(monkeypatch):
    for name in [m for m in sys.modules if m == "recbole" or m.startswith("recbole.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "recbole", None)
    with pytest.raises(RecBoleError, match=r"pip install --no-deps recbole==1\.2\.1"):
        _build("recbole/lightgcn", _graph())


RECIPE = """\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 300}}
student: {name: lightgcn, params: {dim: 16, layers: 2}}
baselines:
  - {name: recbole/lightgcn, params: {embedding_size: 16, n_layers: 2}}
  - {name: recbole/ease}
train: {epochs: 2, batch_size: 512, lr: 0.01}
eval: {ks: [10], latency: {enabled: true, warmup: 2, repeats: 5, batch_size: 64}}
seeds: [0]
"""


def test_recbole_rows_on_the_same_leaderboard_and_reused_from_the_model_cache(tmp_path):
    from mmbench.recipe.load import load_recipe
    from mmbench.results.store import load_records
    from mmbench.runner.run import run_recipe

    path = tmp_path / "rb.yaml"
    path.write_text(RECIPE)
    logs: list[str] = []
    run_recipe(load_recipe(path), results_dir=tmp_path / "a", log=logs.append)
    run_recipe(load_recipe(path), results_dir=tmp_path / "b", log=logs.append)
    first, second = load_records(tmp_path / "a")[0], load_records(tmp_path / "b")[0]
    assert [m.component for m in first.models] == ["lightgcn", "recbole/lightgcn", "recbole/ease"]
    rb = {m.component: m for m in first.models}
    assert rb["recbole/lightgcn"].epochs_run == 2 and rb["recbole/lightgcn"].metrics["test"]["NDCG@10"] > 0
    assert rb["recbole/ease"].stopped == "nothing to train"
    assert any("per-epoch checkpoints are off" in line for line in logs)
    for a, b in zip(first.models, second.models):
        assert b.reused_from and b.reused_from == a.cache_key  # weights_only load of RecBole's state works
        assert a.metrics["test"] == b.metrics["test"]
