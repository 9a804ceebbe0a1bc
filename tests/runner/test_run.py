"""End to end on real data: recipe -> records with teacher/student/baseline roles, valid and test metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmbench.recipe.load import load_recipe
from mmbench.results.store import load_records
from mmbench.runner.run import dataset_key, run_recipe

RECIPE = """\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 300}}
student: {name: mf, params: {dim: 8}}
baselines: [{name: pop}]
train: {epochs: 3, batch_size: 512, lr: 0.01}
eval: {ks: [5, 10, 20], latency: {enabled: true, warmup: 2, repeats: 5, batch_size: 64}}
seeds: [0, 1]
"""


@pytest.fixture
def recipe_path(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(RECIPE)
    return path


def test_run_writes_one_complete_record_per_seed(recipe_path, tmp_path):
    recipe = load_recipe(recipe_path)
    paths = run_recipe(recipe, results_dir=tmp_path / "res", recipe_path=str(recipe_path), log=lambda _: None)
    assert len(paths) == 2 and all(p.parent == tmp_path / "res" / "runs" / "tiny" for p in paths)
    records = load_records(tmp_path / "res")
    assert sorted(r.seed for r in records) == [0, 1]
    rec = records[0]
    assert rec.dataset.key == "amazon-beauty[max_users=300]" and rec.dataset.split == "loo-time"
    assert rec.dataset.card["users"] == 300 and rec.dataset.card["split"]["valid"] == 300
    assert rec.dataset.card["modalities"]["image"]["rate"] == 0.0 and rec.dataset.card["hashes"]["raw"] == rec.dataset.content_hash
    assert len(rec.recipe.hash) == 16 and rec.recipe.resolved["student"]["params"] == {"dim": 8, "reg": 1e-4, "adapter": False}
    assert rec.git["sha"] and rec.versions["torch"] and rec.hardware["tag"].startswith("cpu:")
    roles = {m.role: m for m in rec.models}
    assert set(roles) == {"student", "baseline"}
    for m in rec.models:
        assert m.selected_on == "valid"
        assert set(m.metrics) == {"valid", "test"}
        assert {"HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"} <= set(m.metrics["test"])
        assert m.latency["latency_ms_p50"] > 0 and m.latency["device"] == "cpu"
        # 300 users leave some test items without a train interaction: the cold / warm slices are recorded
        cold, warm = m.slices["cold"], m.slices["warm"]
        assert cold["pairs"] > 0 and cold["pairs"] + warm["pairs"] == rec.dataset.card["split"]["test"]
        assert set(cold["metrics"]) == set(warm["metrics"]) == set(m.metrics["test"])
    assert roles["student"].size["params"] == 8 * (300 + rec.dataset.card["items"])
    assert roles["baseline"].size["params"] == 0
    json.loads(paths[0].read_text())  # plain JSON on disk


def test_same_seed_reproduces_metrics(recipe_path, tmp_path):
    recipe = load_recipe(recipe_path, ["seeds=[0]", "eval.latency.enabled=false"])
    a = run_recipe(recipe, results_dir=tmp_path / "a", log=lambda _: None, reuse=False)
    b = run_recipe(recipe, results_dir=tmp_path / "b", log=lambda _: None, reuse=False)
    ra, rb = load_records(tmp_path / "a")[0], load_records(tmp_path / "b")[0]
    assert a[0].name != "" and b[0].name != ""
    assert [m.metrics for m in ra.models] == [m.metrics for m in rb.models]


def test_dataset_key_shows_only_non_default_params(recipe_path):
    assert dataset_key(load_recipe(recipe_path)) == "amazon-beauty[max_users=300]"
    assert dataset_key(load_recipe(recipe_path, ["dataset.params.max_users=null"])) == "amazon-beauty"


def test_registered_teacher_is_trained_under_the_teacher_role(recipe_path, tmp_path, isolated_registries):
    from mmbench.components.students.mf import MFStudent
    from mmbench.kinds import register_teacher

    @register_teacher("lab/big-mf")
    class BigMFTeacher(MFStudent):
        """A wider MF used as a teacher."""

    recipe = load_recipe(recipe_path, ["teacher={name: lab/big-mf, params: {dim: 32}}", "seeds=[0]",
                                       "eval.latency.enabled=false"])
    run_recipe(recipe, results_dir=tmp_path, log=lambda _: None)
    rec = load_records(tmp_path)[0]
    assert [m.role for m in rec.models] == ["teacher", "student", "baseline"]
    teacher = rec.models[0]
    assert teacher.component == "lab/big-mf" and teacher.size["params"] == 32 * (300 + rec.dataset.card["items"])
    assert set(teacher.metrics) == {"valid", "test"}


def test_duplicate_seeds_run_once_and_unwritable_results_dir_is_clear(recipe_path, tmp_path):
    from mmbench.errors import ResultsError

    recipe = load_recipe(recipe_path, ["train.epochs=1", "eval.latency.enabled=false"])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ResultsError, match="cannot write the run record .*fix: choose a writable --results-dir"):
        run_recipe(recipe, results_dir=blocker, seeds=[5, 5], log=lambda _: None)
    paths = run_recipe(recipe, results_dir=tmp_path / "ok", seeds=[5, 5], log=lambda _: None)
    assert len(paths) == 1


def test_serving_scorer_is_the_served_models_score(small_split):
    import torch

    from mmbench.components.students.lightgcn import LightGCNStudent
    from mmbench.components.students.pop import PopStudent
    from mmbench.runner.serving import serving_scorer

    users = torch.arange(7)
    model = LightGCNStudent(small_split.graph, dim=8).eval()
    scorer, device = serving_scorer(model)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    torch.testing.assert_close(scorer(users.to(device)).cpu(), model.score(users))
    pop = PopStudent(small_split.graph)
    scorer, device = serving_scorer(pop)  # no tables: its own score, on the CPU
    assert device.type == "cpu" and torch.equal(scorer(users), pop.score(users))


def test_device_auto_is_the_cpu_without_cuda_and_cuda_without_a_gpu_is_one_clear_error(monkeypatch):
    import torch

    from mmbench.errors import MMBenchError
    from mmbench.runner.run import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device(None) == resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(MMBenchError, match="device cuda was asked for, but torch sees no CUDA device; fix: use"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
