"""The recipe's ``kd_gate``: validated like every field, and at its default it leaves the recipe hash alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmbench.errors import RecipeError
from mmbench.recipe.load import load_recipe, recipe_hash

KD = """\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 300}}
encoders: {text: {name: minilm}}
teacher: {name: mm-gnn, params: {dim: 16}}
student: {name: lightgcn, params: {dim: 16}}
distill: [{name: listwise-kl}]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def issues_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(RecipeError) as err:
        load_recipe(write(tmp_path, text))
    return "\n".join(err.value.issues)


def test_default_is_warn_with_no_margin_and_changes_no_hash(tmp_path):
    recipe = load_recipe(write(tmp_path, KD))
    assert (recipe.kd_gate.on_weak_teacher, recipe.kd_gate.min_gain) == ("warn", 0.0)
    spelled_out = load_recipe(write(tmp_path, KD + "kd_gate: {on_weak_teacher: warn, min_gain: 0.0}\n"))
    assert recipe_hash(spelled_out) == recipe_hash(recipe)  # existing records keep their recipe hash
    assert recipe_hash(load_recipe(write(tmp_path, KD + "kd_gate: {on_weak_teacher: skip}\n"))) != recipe_hash(recipe)
    assert recipe_hash(load_recipe(write(tmp_path, KD + "kd_gate: {min_gain: 0.05}\n"))) != recipe_hash(recipe)


def test_unknown_action_field_and_margin_are_errors_with_their_lines(tmp_path):
    text = issues_of(tmp_path, KD + "kd_gate: {on_weak_teacher: skipp, min_gian: 0.1}\nkd_gat: {}\n")
    assert "r.yaml:7: kd_gate.on_weak_teacher: Input should be 'warn', 'skip' or 'fail' (got 'skipp')" in text
    assert "r.yaml:7: kd_gate.min_gian: unknown field; did you mean 'min_gain'?" in text
    assert "r.yaml:8: kd_gat: unknown field; did you mean 'kd_gate'?" in text
    assert "kd_gate.min_gain: Input should be greater than -1" in issues_of(tmp_path, KD + "kd_gate: {min_gain: -1}\n")
