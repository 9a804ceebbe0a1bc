"""Every YAML under recipes/ (found recursively) validates; _base/ files are include targets; sweeps/ holds
sweep files, which validate as sweeps (every trial recipe included, or a study's whole search space); the
committed tuning studies give every model of a dataset the same budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmbench.recipe.load import load_recipe, read_yaml

ROOT = Path(__file__).resolve().parents[2] / "recipes"
ALL = sorted(p for p in ROOT.rglob("*.yaml"))
SWEEPS = [p for p in ALL if "sweeps" in p.parts]
RUNNABLE = [p for p in ALL if "_base" not in p.parts and p not in SWEEPS]


def test_recipes_exist():
    assert (ROOT / "quickstart.yaml") in RUNNABLE


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.name


@pytest.mark.parametrize("path", [p for p in ALL if "_base" in p.parts], ids=lambda p: str(p.relative_to(ROOT)))
def test_base_files_parse_and_do_not_include(path):
    raw, _ = read_yaml(path)
    assert "include" not in raw


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: str(p.relative_to(ROOT)))
def test_sweep_validates(path):
    from mmbench.recipe.sweep import load_sweep

    sweep = load_sweep(path)
    assert (sweep.trials and all(t.hash for t in sweep.trials)) or (sweep.search and sweep.search.space)


STUDIES = [p for p in SWEEPS if p.name.startswith("tune-")]
SUITE_MODELS = {"lightgcn", "mf", "ease", "freedom", "mmgnn", "vbpr", "bm3", "mgcn", "lgmrec", "smore"}


def test_every_model_of_a_dataset_gets_the_same_tuning_budget():
    """PROTOCOL rule 12: the committed studies of one dataset differ only in the model they tune (and its space)."""
    from mmbench.recipe.sweep import load_sweep

    by_dataset: dict[str, dict[str, tuple]] = {}
    for path in STUDIES:
        sweep = load_sweep(path)
        assert sweep.search is not None
        dataset = sweep.name.split("-")[1]
        spec = sweep.search.spec.model_dump(exclude={"space", "tuned_recipe", "use_tuned"})
        if sweep.search.model_path == "teacher":  # its KD student and no-KD twin: the dataset's tuned LightGCN
            lightgcn = load_sweep(path.parent / f"tune-{dataset}-lightgcn.yaml")
            from mmbench.recipe.load import load_recipe
            from mmbench.results.tuned_recipe import tuned_recipe_path

            target = tuned_recipe_path(lightgcn, load_recipe(lightgcn.recipe_path).dataset.name)
            assert (path.parent / sweep.search.spec.use_tuned["student"]).resolve() == target, sweep.name
        budget = (json.dumps(spec, sort_keys=True), sweep.seeds, sweep.metric)
        by_dataset.setdefault(dataset, {})[sweep.name.split("-", 2)[2]] = budget
    assert set(by_dataset) == {"beauty", "tiktok", "lastfm"}
    for dataset, models in by_dataset.items():
        assert set(models) == SUITE_MODELS, dataset
        assert len(set(models.values())) == 1, f"{dataset}: unequal budgets {models}"


@pytest.mark.parametrize("path", sorted(ROOT.glob("*/kd-tuned.yaml")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_tuned_kd_recipe_distils_the_best_tuned_teacher_on_valid_into_the_tuned_student(path, monkeypatch):
    """Its teacher is the equally tuned teacher with the best study value on valid (never test), among the
    dataset's tuned teachers, once every teacher study of the dataset has ended (ci/suite/kd_recipes.py switches
    it then, not at each ended study); its student and the no-KD twin carry the tuned LightGCN's settings."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("kd_recipes", ROOT.parent / "ci/suite/kd_recipes.py")
    kd_recipes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kd_recipes)
    monkeypatch.chdir(ROOT.parent)
    raw, _ = read_yaml(path)
    included = (path.parent / raw["include"]).resolve()
    recipe = load_recipe(path)
    assert recipe.distill and recipe.teacher is not None and recipe.teacher.tuning is not None
    assert recipe.student.name == "lightgcn" and recipe.student.tuning is not None, "untuned student"
    teachers = {}
    for tuned in included.parent.glob("*.yaml"):
        other = load_recipe(tuned)
        if other.teacher is not None and other.teacher.tuning is not None:
            teachers[tuned] = other.teacher.tuning["valid"]["value"]
    assert included in teachers
    if not kd_recipes.teacher_studies_pending(path.parent.name):
        assert included == max(teachers, key=teachers.get), f"best teacher on valid: {teachers}"


@pytest.mark.parametrize("path", sorted(ROOT.glob("*/kd-adapter-tuned.yaml")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_adapter_kd_recipe_distils_the_teacher_of_kd_tuned_into_the_tuned_student_with_an_adapter(path):
    raw, _ = read_yaml(path)
    other, _ = read_yaml(path.parent / "kd-tuned.yaml")
    assert (path.parent / raw["include"]).resolve() == (path.parent / other["include"]).resolve()
    recipe, plain = load_recipe(path), load_recipe(path.parent / "kd-tuned.yaml")
    assert recipe.student.params == {**plain.student.params, "adapter": True, "cold_head": [0.0, 0.01, 0.1]}
    assert recipe.distill == plain.distill and recipe.encoders

