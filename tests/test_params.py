"""Component params come from typed keyword-only constructor parameters."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest

from mmbench.params import OFF_UNLESS_SET, REQUIRED, check_params, param_specs


class _Model:
    def __init__(self, graph: object, *, dim: int = 64, temperature: float = 1.0,
                 mode: Literal["mse", "cosine"] = "mse", layers: list[int] | None = None, seed: int) -> None:
        self.graph = graph


def test_only_keyword_only_parameters_are_recipe_params():
    specs = param_specs(_Model)
    assert list(specs) == ["dim", "temperature", "mode", "layers", "seed"]
    assert specs["dim"].default == 64 and specs["dim"].type_repr == "int"
    assert specs["seed"].default is REQUIRED and specs["seed"].required


def test_resolved_params_fill_defaults():
    values, issues = check_params(_Model, {"seed": 3, "dim": 32}, "student 'x'")
    assert issues == []
    assert values == {"dim": 32, "temperature": 1.0, "mode": "mse", "layers": None, "seed": 3}


def test_every_param_problem_is_reported():
    values, issues = check_params(_Model, {"dimm": 3, "temperature": "hot", "mode": "l1", "layers": [1, "a"]},
                                  "student 'x'")
    by_loc = {loc: msg for loc, msg in issues}
    assert "did you mean 'dim'?" in by_loc[("dimm",)]
    assert "its parameters: dim, temperature, mode, layers, seed" in by_loc[("dimm",)]
    assert "valid number" in by_loc[("temperature",)]
    assert "'mse' or 'cosine'" in by_loc[("mode",)]
    assert ("layers", 1) in by_loc
    assert "required parameter of student 'x' is missing (int)" in by_loc[("seed",)]
    assert values == {}


def test_lossy_float_to_int_is_refused():
    _, issues = check_params(_Model, {"seed": 1, "dim": 1.5}, "student 'x'")
    assert issues and issues[0][0] == ("dim",)


def test_function_components_use_their_keyword_only_parameters():
    def metric(ranks, k, *, gain: float = 1.0):
        return ranks

    assert list(param_specs(metric)) == ["gain"]


@pytest.mark.usefixtures("isolated_registries")
def test_unresolvable_annotation_is_a_contract_error():
    from mmbench.registry import ContractError

    class Broken:
        def __init__(self, *, x: "NoSuchType" = 1) -> None:  # noqa: F821
            pass

    with pytest.raises(ContractError, match="cannot be resolved"):
        param_specs(Broken)


class _Later:
    def __init__(self, graph, *, dim: int = 8, extra: Annotated[list[float] | None, OFF_UNLESS_SET] = None):
        pass


def test_a_later_default_off_param_is_left_out_at_its_default_and_resolved_when_set():
    spec = param_specs(_Later)["extra"]
    assert spec.off_unless_set and spec.annotation == (list[float] | None) and not param_specs(_Later)["dim"].off_unless_set
    assert check_params(_Later, {}, "later") == ({"dim": 8}, [])  # the recipe hash of existing results is unchanged
    assert check_params(_Later, {"extra": [0.5]}, "later") == ({"dim": 8, "extra": [0.5]}, [])
    assert check_params(_Later, {"extra": None}, "later") == ({"dim": 8, "extra": None}, [])  # set explicitly
    _, problems = check_params(_Later, {"extra": "x"}, "later")
    assert problems and problems[0][0] == ("extra",)


def test_adding_lightgcn_cold_head_keeps_every_existing_recipe_hash():
    import json
    from pathlib import Path

    import mmbench.components  # noqa: F401
    from mmbench.recipe.load import load_recipe, recipe_hash

    root = Path(__file__).resolve().parents[1]
    recipe = load_recipe(root / "recipes/tuned/amazon-beauty/beauty-lightgcn.yaml")
    assert "cold_head" not in recipe.student.params
    records = sorted((root / "results/runs/beauty-lightgcn-tuned").glob("*.json"))
    assert records, "the committed tuned LightGCN records"
    assert {json.loads(r.read_text())["recipe"]["hash"] for r in records} == {recipe_hash(recipe)}
