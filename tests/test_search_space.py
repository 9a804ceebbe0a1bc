"""Search dimensions: YAML forms, errors naming the accepted forms, declared spaces of the built-ins."""

from __future__ import annotations

import optuna
import pytest

from mmbench.kinds import STUDENTS, TEACHERS
from mmbench.params import param_specs
from mmbench.search_space import (TRAIN_SPACE, Choice, IntRange, LogUniform, SearchSpaceError, Uniform,
                                  declared_space, describe, parse_dimension)


@pytest.mark.parametrize(("raw", "dim"), [
    ({"log_uniform": [1e-4, 1e-1]}, LogUniform(1e-4, 1e-1)),
    ({"uniform": [0, 0.5]}, Uniform(0.0, 0.5)),
    ({"int": [1, 4]}, IntRange(1, 4)),
    ({"int": [8, 64], "step": 8}, IntRange(8, 64, step=8)),
    ({"int": [5, 40], "log": True}, IntRange(5, 40, log=True)),
    ({"choice": ["concat", "gated", None]}, Choice("concat", "gated", None)),
])
def test_yaml_forms_round_trip(raw, dim):
    assert parse_dimension(raw) == dim
    assert parse_dimension(dim.to_yaml()) == dim


@pytest.mark.parametrize(("raw", "words"), [
    ({"log_uniform": [0, 1]}, "0 < low < high"),
    ({"uniform": [1, 1]}, "low < high"),
    ({"int": [1.5, 4]}, "whole numbers"),
    ({"int": [1, 4], "step": 0}, "step ≥ 1"),
    ({"choice": [1]}, "at least two"),
    ({"choice": [[1], [2]]}, "strings, numbers"),
    ({"choice": [1, 1]}, "duplicate"),
    ({"normal": [0, 1]}, "log_uniform: [low, high]"),
    ({"uniform": [0, 1], "step": 2}, "expected one of"),
    ([0.1, 0.2], "expected one of"),
    ({"log_uniform": "1e-3"}, "list [low, high]"),
])
def test_bad_dimensions_say_what_is_wrong(raw, words):
    with pytest.raises(SearchSpaceError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_dimension(raw)


def test_dimensions_suggest_through_optuna_within_bounds():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    space = {"a": LogUniform(1e-4, 1e-1), "b": Uniform(0.0, 0.5), "c": IntRange(8, 64, step=8),
             "d": Choice("x", "y")}
    for _ in range(20):
        trial = study.ask()
        v = {k: d.suggest(trial, k) for k, d in space.items()}
        assert 1e-4 <= v["a"] <= 1e-1 and 0 <= v["b"] <= 0.5 and v["c"] % 8 == 0 and v["d"] in ("x", "y")
        study.tell(trial, 0.0)


def test_corners_are_reachable_values():
    assert IntRange(1, 10, step=4).corners() == [1, 9]
    assert Choice(1, 2, 3).corners() == [1, 2, 3]


@pytest.mark.parametrize("registry", [STUDENTS, TEACHERS], ids=["students", "teachers"])
def test_every_declared_space_names_real_params(registry):
    import mmbench.components  # noqa: F401

    for entry in registry.entries():
        space = declared_space(entry.obj)
        params = param_specs(entry.obj)
        assert set(space) <= set(params), f"{entry.name}: {set(space) - set(params)} are not its params"


def test_the_official_freedom_grid_and_training_space():
    import mmbench.components  # noqa: F401

    space = declared_space(TEACHERS.get("freedom"))
    assert space == {"dropout": Choice(0.8, 0.9), "reg_weight": Choice(0.0, 1e-5, 1e-4, 1e-3)}
    assert "lr" in TRAIN_SPACE
    assert not getattr(STUDENTS.get("recbole/ease"), "tunes_training", True)  # closed form: nothing to train
    assert describe({"lr": LogUniform(1e-4, 3e-2), "k": IntRange(5, 40, log=True)}) == \
        "lr ∈ log[0.0001, 0.03], k ∈ {5..40} log"
