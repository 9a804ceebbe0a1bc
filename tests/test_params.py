"""Component params come from typed keyword-only constructor parameters."""

from __future__ import annotations

from typing import Literal

import pytest

from mmbench.params import REQUIRED, check_params, param_specs


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
