"""Recipe loading: safe YAML, duplicate keys, one include level, --set overrides, hashing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mmbench.errors import RecipeError
from mmbench.recipe.load import apply_override, compose, load_recipe, recipe_hash

BASE = """\
schema_version: 1
dataset: {name: amazon-beauty, split: loo-time}
student:
  name: mf
  params: {dim: 16}
train: {epochs: 3, lr: 0.01}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_minimal_recipe_resolves_defaults(tmp_path):
    recipe = load_recipe(write(tmp_path, "mini.yaml", BASE))
    assert recipe.name == "mini"
    assert recipe.student.params == {"dim": 16, "reg": 1e-4, "adapter": False}
    assert recipe.student.train["epochs"] == 3 and recipe.student.train["batch_size"] == 4096
    assert recipe.dataset.params == {"max_users": None, "k_core": 0}
    assert recipe.eval.ks == [5, 10, 20]


def test_recipe_is_frozen(tmp_path):
    recipe = load_recipe(write(tmp_path, "mini.yaml", BASE))
    with pytest.raises(Exception):
        recipe.seeds = [1]  # type: ignore[misc]


def test_duplicate_keys_are_refused(tmp_path):
    path = write(tmp_path, "dup.yaml", BASE + "train: {epochs: 5}\n")
    with pytest.raises(RecipeError, match=r"dup.yaml:7:1: YAML error: duplicate key 'train' \(first defined on line 6\)"):
        load_recipe(path)


def test_python_tags_are_refused(tmp_path):
    path = write(tmp_path, "evil.yaml", BASE + "description: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(RecipeError, match="tags that build Python objects are refused"):
        load_recipe(path)


def test_syntax_error_names_line(tmp_path):
    path = write(tmp_path, "broken.yaml", "schema_version: 1\nstudent: [unclosed\n")
    with pytest.raises(RecipeError, match=r"broken.yaml:\d+:\d+: YAML error"):
        load_recipe(path)


def test_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="file not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_top_level_must_be_mapping(tmp_path):
    with pytest.raises(RecipeError, match="top level must be a mapping"):
        load_recipe(write(tmp_path, "list.yaml", "- a\n- b\n"))


def test_include_merges_one_level(tmp_path):
    write(tmp_path, "_base/beauty.yaml", BASE)
    path = write(tmp_path, "child.yaml", """\
        include: _base/beauty.yaml
        student: {params: {dim: 32}}
        seeds: [0, 1]
    """)
    recipe = load_recipe(path)
    assert recipe.student.name == "mf" and recipe.student.params["dim"] == 32
    assert recipe.train.epochs == 3 and recipe.seeds == [0, 1]


def test_include_of_include_is_refused(tmp_path):
    write(tmp_path, "a.yaml", BASE)
    write(tmp_path, "b.yaml", "include: a.yaml\n")
    path = write(tmp_path, "c.yaml", "include: b.yaml\n")
    with pytest.raises(RecipeError, match="only one level is allowed"):
        load_recipe(path)


def test_errors_in_included_file_name_that_file(tmp_path):
    write(tmp_path, "_base/b.yaml", BASE.replace("dim: 16", "dimm: 16"))
    path = write(tmp_path, "child.yaml", "include: _base/b.yaml\nseeds: [1]\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert "b.yaml:5: student.params.dimm" in str(err.value)


@pytest.mark.parametrize(("assignment", "path", "value"), [
    ("student.params.dim=128", ("student", "params", "dim"), 128),
    ("train.lr=5e-3", ("train", "lr"), 5e-3),
    ("seeds=[1, 2, 3]", ("seeds",), [1, 2, 3]),
    ("seeds.0=7", ("seeds", 0), 7),
    ("description=hello world", ("description",), "hello world"),
    ("eval.latency.enabled=true", ("eval", "latency", "enabled"), True),
])
def test_overrides(assignment, path, value):
    raw = {"student": {"params": {"dim": 64}}, "train": {"lr": 1.0}, "seeds": [0, 1]}
    out = apply_override(raw, assignment)
    node = out
    for part in path:
        node = node[part]
    assert node == value
    assert raw["student"]["params"]["dim"] == 64  # input untouched


@pytest.mark.parametrize("bad", ["nokey", "=3", "seeds.5=1", "seeds.x=1", "train.lr.x=1"])
def test_bad_overrides(bad):
    with pytest.raises(RecipeError, match="--set"):
        apply_override({"seeds": [0], "train": {"lr": 1.0}}, bad)


def test_override_errors_point_at_the_override(tmp_path):
    path = write(tmp_path, "r.yaml", BASE)
    with pytest.raises(RecipeError) as err:
        load_recipe(path, ["student.params.dimm=3"])
    assert "--set student.params.dimm=3: student.params.dimm: unknown parameter" in str(err.value)


def test_hash_ignores_name_seeds_description_but_not_params(tmp_path):
    a = load_recipe(write(tmp_path, "a.yaml", BASE))
    b = load_recipe(write(tmp_path, "b.yaml", BASE + "seeds: [4, 5]\ndescription: other\n"))
    c = load_recipe(write(tmp_path, "c.yaml", BASE), ["student.params.dim=17"])
    d = load_recipe(write(tmp_path, "d.yaml", BASE), ["student.params.reg=0.0001"])  # the default, spelled out
    assert recipe_hash(a) == recipe_hash(b) == recipe_hash(d)
    assert recipe_hash(a) != recipe_hash(c)


def test_compose_keeps_line_map(tmp_path):
    raw, lines = compose(write(tmp_path, "r.yaml", BASE))
    assert lines[("student", "params", "dim")].endswith("r.yaml:5")
    assert raw["student"]["params"]["dim"] == 16


def test_missing_include_target_names_the_include(tmp_path):
    path = write(tmp_path, "r.yaml", "include: _base/nope.yaml\nseeds: [1]\n")
    with pytest.raises(RecipeError, match=r"r.yaml:1: include: '_base/nope.yaml' not found .*relative to the recipe's folder"):
        load_recipe(path)


def test_hash_survives_new_optional_schema_fields_but_not_param_defaults(tmp_path, monkeypatch):
    from mmbench.components.students.mf import MFStudent
    from mmbench.params import param_specs, params_model

    recipe = load_recipe(write(tmp_path, "a.yaml", BASE))
    before = recipe_hash(recipe)
    # an optional field left at its default is not part of the hash
    assert recipe_hash(recipe.model_copy(update={"imputer": None, "description": "x"})) == before
    # a component's default changing in code changes the resolved params, hence the hash
    param_specs.cache_clear()
    params_model.cache_clear()
    monkeypatch.setattr(MFStudent.__init__, "__kwdefaults__", {"dim": 64, "reg": 5e-4, "adapter": False})
    try:
        assert recipe_hash(load_recipe(write(tmp_path, "b.yaml", BASE))) != before
    finally:
        param_specs.cache_clear()
        params_model.cache_clear()


def test_a_train_setting_added_later_rekeys_nothing_at_its_default(tmp_path):
    """Every model's train settings are resolved in full; ``ADDED_TRAIN_DEFAULTS`` keeps a new field out of the
    hash while it is at its default, so adding one does not orphan the recorded results."""
    from mmbench.recipe.schema import ADDED_TRAIN_DEFAULTS

    base = load_recipe(write(tmp_path, "a.yaml", BASE))
    assert "negatives" in ADDED_TRAIN_DEFAULTS and "negatives" not in base.student.train
    spelled = load_recipe(write(tmp_path, "b.yaml", BASE), ["student.train.negatives=all", "train.negatives=all"])
    warm = load_recipe(write(tmp_path, "c.yaml", BASE), ["student.train.negatives=warm"])
    assert recipe_hash(spelled) == recipe_hash(base) != recipe_hash(warm)
    assert base.train_for(base.student).negatives == "all" and warm.train_for(warm.student).negatives == "warm"


@pytest.mark.parametrize("stem", ["_draft", "Beauty_KD", "kd--rrd"])
def test_file_name_that_is_no_recipe_name_needs_a_name_field(tmp_path, stem):
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, f"{stem}.yaml", BASE))
    assert len(exc.value.issues) == 1
    assert f"file name {stem!r} is not a valid recipe name" in exc.value.issues[0]
    assert "set `name:`" in exc.value.issues[0]
    named = load_recipe(write(tmp_path, f"{stem}.yaml", BASE + "name: draft\n"))
    assert named.name == "draft"


def test_load_recipe_from_python_needs_no_setup():
    """A fresh interpreter can load a shipped recipe without importing the components first."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    code = ("from mmbench.recipe.load import load_recipe; "
            "r = load_recipe('recipes/quickstart.yaml'); print(r.teacher.name, r.student.name)")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["mm-gnn", "lightgcn"]
