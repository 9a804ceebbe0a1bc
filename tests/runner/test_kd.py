"""Knowledge distillation end to end on real data, and the distiller's candidate sets."""

from __future__ import annotations

import copy

import pytest
import torch

from mmbench.components.students.lightgcn import LightGCNStudent
from mmbench.recipe.load import load_recipe
from mmbench.recipe.schema import DistillSpec
from mmbench.results.store import load_records
from mmbench.runner.distill import Distiller
from mmbench.runner.run import run_recipe

def test_kd_recipe_records_teacher_student_and_baseline(kd_run):
    _, _, paths, rec = kd_run
    assert [(m.role, m.component) for m in rec.models] == [
        ("teacher", "mm-gnn"), ("student", "lightgcn"), ("baseline", "lightgcn"), ("baseline", "mf")]
    teacher, student, baseline, _ = rec.models
    for m in rec.models:
        assert set(m.metrics) == {"valid", "test"} and m.metrics["test"]["NDCG@10"] >= 0
        assert m.selected_on == "valid" and m.latency["latency_ms_p50"] > 0
    # Beauty has no images: the teacher runs on text and says so
    assert teacher.items["absent"] == ["image"] and "text" in teacher.items["used"]
    assert "no item has this modality" in teacher.items["absent_note"]
    assert teacher.items["fusion"] == "concat" and teacher.items["imputer"] == "mean"
    assert student.distill["teacher"] == "mm-gnn"
    assert [d["name"] for d in student.distill["losses"]] == ["listwise-kl", "rrd"]
    assert student.distill["candidates"] == {"teacher_top": 10, "sampled": 20}
    assert all("distill" in h for h in student.history)
    assert baseline.distill is None and baseline.without_kd_of == "student"
    assert "distill" not in baseline.history[0]
    assert student.params == baseline.params and baseline.epochs_run == student.epochs_run
    # the adapter is folded away: serving size equals the plain LightGCN's
    assert student.served == "folded adapter"
    n = rec.dataset.card["users"] + rec.dataset.card["items"]
    assert student.size["params"] == baseline.size["params"] == 16 * n
    assert student.items["dropout"] == {"text": 0.3}
    assert len(paths) == 1


def test_kd_run_is_deterministic_and_leaves_no_checkpoints(kd_run, data_cache):
    root, path, _, rec = kd_run
    run_recipe(load_recipe(path), results_dir=root / "again", log=lambda _: None, resume=False, reuse=False)
    again = load_records(root / "again")[0]
    for a, b in zip(rec.models, again.models):
        assert a.metrics == b.metrics, a.role
    assert not any((data_cache / "checkpoints").glob("*/*.pt")), "checkpoints are removed once the record is safe"


@pytest.fixture(scope="module")
def trained_pair(small_split):
    torch.manual_seed(0)
    teacher = LightGCNStudent(small_split.graph, dim=8, layers=1).eval()
    return teacher, small_split


def test_teacher_top_items_exclude_train_items_and_follow_teacher_scores(trained_pair):
    teacher, split = trained_pair
    d = Distiller(teacher, "t", copy.deepcopy(teacher), "s", split.graph, [DistillSpec(name="listwise-kl")])
    graph = split.graph
    train = set(zip(graph.user.tolist(), graph.item.tolist()))
    top = d.top
    assert top.shape == (graph.n_users, d.n_top)
    assert not any((u, i) in train for u in range(graph.n_users) for i in top[u].tolist())
    scores = teacher.score(torch.arange(graph.n_users))
    picked = scores.gather(1, top)
    assert torch.all(picked[:, :-1] >= picked[:, 1:]), "top items are in the teacher's order"
    cand = d.candidates(torch.arange(graph.n_users))
    assert cand.shape == (graph.n_users, d.n_top + d.n_sampled)
    sampled = cand[:, d.n_top:]
    assert not any((u, i) in train for u in range(graph.n_users) for i in sampled[u].tolist())


@pytest.mark.parametrize("name", ["listwise-kl", "embedding"])
def test_a_student_equal_to_its_teacher_gets_zero_divergence(trained_pair, name):
    teacher, split = trained_pair
    student = copy.deepcopy(teacher)
    d = Distiller(teacher, "t", student, "s", split.graph, [DistillSpec(name=name)])
    users, pos = torch.as_tensor(split.graph.user[:256]), torch.as_tensor(split.graph.item[:256])
    assert d(student, users, pos)[name].item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        student.user.weight.add_(torch.randn_like(student.user.weight))
    student._tables = None
    assert d(student, users, pos)[name].item() > 1e-5


def test_distill_users_caps_the_users_per_step(trained_pair):
    teacher, split = trained_pair
    d = Distiller(teacher, "t", copy.deepcopy(teacher), "s", split.graph, [DistillSpec(name="listwise-kl")])
    users = torch.arange(200).repeat(2)
    seen = []
    real = d.candidates
    d.candidates = lambda uu: (seen.append(uu), real(uu))[1]
    d(teacher, users, users % split.n_items, max_users=50)
    assert len(seen[0]) == 50 and len(set(seen[0].tolist())) == 50


def test_teacher_without_embeddings_is_a_clear_error(trained_pair):
    from mmbench.components.students.pop import PopStudent
    from mmbench.errors import MMBenchError

    _, split = trained_pair
    with pytest.raises(MMBenchError, match="has no embeddings"):
        Distiller(PopStudent(split.graph), "pop", LightGCNStudent(split.graph, dim=4), "lightgcn", split.graph,
                  [DistillSpec(name="listwise-kl")])


def test_a_killed_kd_run_resumes_and_ends_where_an_uninterrupted_run_ends(kd_run, monkeypatch):
    from mmbench.runner import run as run_mod

    root, path, _, rec = kd_run
    real_fit = run_mod.fit

    def killed_in_the_student(model, *args, **kwargs):
        if kwargs.get("distiller") is not None:
            real_fit(model, *args, **kwargs, stop_after=1)
            raise KeyboardInterrupt("killed after the student's first epoch")
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(run_mod, "fit", killed_in_the_student)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(load_recipe(path), results_dir=root / "killed", log=lambda _: None, reuse=False)
    assert not (root / "killed" / "runs").exists() or not any((root / "killed" / "runs").rglob("*.json"))
    monkeypatch.setattr(run_mod, "fit", real_fit)
    logs: list[str] = []
    run_recipe(load_recipe(path), results_dir=root / "killed", log=logs.append, reuse=False)
    resumed = load_records(root / "killed")[0]
    teacher, student, baseline, _ = resumed.models
    assert teacher.resumed_from_epoch == teacher.epochs_run  # finished before the kill: not trained again
    assert baseline.resumed_from_epoch == baseline.epochs_run  # the no-KD twin trains before the KD student
    assert student.resumed_from_epoch == 1
    assert any("resumed from" in m for m in logs)
    for a, b in zip(rec.models, resumed.models):
        assert a.metrics == b.metrics, a.role


def test_models_trained_without_kd_are_reused_across_recipes_and_only_when_identical(kd_run, monkeypatch):
    """A second recipe that differs only in its KD loss loads the teacher and the no-KD twin from the
    trained-model cache (same metrics, marked reused) and trains only the KD student; running it again reuses
    the KD student too; any change to what a model depends on (its params, the item side's dropout, the
    teacher of a KD student) trains it again."""
    from mmbench.runner import run as run_mod

    root, path, _, rec = kd_run
    trained: list[str] = []
    real_fit = run_mod.fit

    def counting_fit(model, *args, **kwargs):
        trained.append(type(model).__name__ + ("+kd" if kwargs.get("distiller") is not None else ""))
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(run_mod, "fit", counting_fit)
    other_loss = ["distill=[{name: ranking-rd, weight: 0.5, params: {top_k: 5, samples: 20}}]"]
    logs: list[str] = []
    run_recipe(load_recipe(path, other_loss), results_dir=root / "reuse", log=logs.append)
    def by_role(models):
        return {m.role + ("-no-kd" if m.without_kd_of else ""): m for m in models}

    again, first = by_role(load_records(root / "reuse")[0].models), by_role(rec.models)
    assert trained == ["LightGCNStudent+kd"], trained
    for role in ("teacher", "baseline-no-kd", "baseline"):
        assert again[role].reused_from and again[role].metrics == first[role].metrics, role
        assert again[role].best_epoch == first[role].best_epoch and again[role].history == first[role].history
    assert again["student"].reused_from is None and first["teacher"].reused_from is None
    assert any("reused the trained model" in m for m in logs)

    trained.clear()  # the same recipe again: the KD student too (same teacher key, same losses)
    run_recipe(load_recipe(path, other_loss), results_dir=root / "reuse-again", log=lambda _: None)
    same = by_role(load_records(root / "reuse-again")[0].models)
    assert trained == [] and same["student"].reused_from == again["student"].cache_key
    assert same["student"].metrics == again["student"].metrics

    trained.clear()
    run_recipe(load_recipe(path, other_loss + ["teacher.params.dim=8", "modality_dropout.text=0.2"]),
               results_dir=root / "changed", log=lambda _: None)
    assert trained.count("MMGNNTeacher") == 1 and "LightGCNStudent+kd" in trained
    changed = by_role(load_records(root / "changed")[0].models)
    assert changed["teacher"].reused_from is None
    # the no-KD LightGCN with its adapter reads the text features, so the new dropout rate retrains it too;
    # the ID-only MF baseline does not read them and is still reused
    assert changed["baseline-no-kd"].reused_from is None and changed["baseline"].reused_from
