"""A sweep's ``search:`` block: a tuning study (Optuna) in place of an explicit list of trials.

```yaml
search:
  trials: 24                        # the budget: trials that end (complete, pruned or failed)
  sampler: {name: tpe, seed: 0, startup_trials: 8}
  pruner: {name: median, startup_trials: 4, warmup_epochs: 10}
  defaults: true                    # start from the tuned model's declared space + its training space
  space:                            # dotted recipe paths: add or replace a dimension, or drop one with null
    teacher.fusion.name: {choice: [concat, gated, cross-attention]}
    teacher.params.graph_input: null
  storage: null                     # Optuna storage URL; default sqlite:///<sweep folder>/study.db
  tuned_recipe: null                # default ../tuned/<dataset>/<sweep name without tune->.yaml
  final_seeds: [0, 1, 2, 3, 4]      # the tuned recipe's seeds
  use_tuned:                        # the tuned recipe's other models: settings from their own studies
    student: ../tuned/amazon-beauty/beauty-lightgcn.yaml
```

The model tuned is the sweep's ``select.role`` (teacher, student, or the recipe's one baseline); its
declared ``search_space`` (see :mod:`mmbench.search_space`) gives ``<model>.params.<name>`` and, for models
that train, :data:`~mmbench.search_space.TRAIN_SPACE` gives ``<model>.train.<setting>``. Every dimension is
checked before anything runs: each bound and choice is composed into the recipe and validated.

``use_tuned`` keeps a comparison fair beyond the tuned model: a teacher study's recipe also trains a student
(the KD student and its no-KD twin). With ``use_tuned: {student: <tuned recipe>}`` the tuned recipe's student
takes the params, training settings and ``tuning:`` block of the tuned model of that file (once that study has
ended; until then it keeps the base recipe's settings and the study summary says so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmbench.errors import RecipeError
from mmbench.recipe.schema import Recipe
from mmbench.search_space import TRAIN_SPACE, Dimension, SearchSpaceError, declared_space, parse_dimension


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SamplerSpec(_Strict):
    """Optuna's sampler: TPE (default) or random search, seeded."""

    name: Literal["tpe", "random"] = "tpe"
    seed: int = 0
    startup_trials: int = Field(8, ge=0, description="tpe: random trials before the model-based ones")


class PrunerSpec(_Strict):
    """Stops hopeless trials from their validation curve (reported at every ``eval_every``)."""

    name: Literal["median", "percentile", "none"] = "median"
    startup_trials: int = Field(4, ge=0, description="trials that finish before any is pruned")
    warmup_epochs: int = Field(0, ge=0, description="no trial is pruned before this epoch")
    percentile: float = Field(50.0, gt=0, lt=100, description="percentile: prune below this percentile")


class SearchSpec(_Strict):
    """The ``search:`` block of a sweep file."""

    trials: int = Field(ge=1, description="the budget: trials that end (complete, pruned or failed)")
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    defaults: bool = Field(True, description="start from the tuned model's declared space and training space")
    space: dict[str, Any] = Field(default_factory=dict)
    storage: str | None = Field(None, description="Optuna storage URL; default sqlite:///<sweep folder>/study.db")
    tuned_recipe: str | None = Field(None, description="where the tuned recipe goes, relative to the sweep file")
    final_seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1,
                                   description="the seeds of the tuned recipe (the re-run of the best trial)")
    use_tuned: dict[Literal["teacher", "student"], str] = Field(
        default_factory=dict, description="role -> a tuned recipe (relative to the sweep file) whose tuned model "
                                          "gives that role's settings in this study's tuned recipe")


@dataclass(frozen=True)
class Search:
    """A validated search: the tuned model's path, the space by dotted recipe path, and the settings."""

    spec: SearchSpec
    model_path: str  # "teacher", "student" or "baselines.0"
    component: str
    space: dict[str, Dimension]

    def budget(self, epochs: int, seeds: int) -> dict[str, Any]:
        """What every model of a comparison must get alike (PROTOCOL rule 12), as plain data."""
        s, p = self.spec.sampler, self.spec.pruner
        return {"trials": self.spec.trials, "sampler": s.name, "sampler_startup": s.startup_trials,
                "pruner": p.name, "pruner_startup": p.startup_trials, "warmup_epochs": p.warmup_epochs,
                "epochs": epochs, "seeds_per_trial": seeds}


def model_path(recipe: Recipe, role: str) -> str:
    """The dotted path of the model a study tunes (one model; ``_role_problem`` checked there is one)."""
    if role == "baseline":
        return "baselines.0"
    return role


def default_space(recipe: Recipe, path: str) -> dict[str, Dimension]:
    """The tuned model's declared space under ``<path>.params.`` plus its training space under ``<path>.train.``."""
    from mmbench.kinds import STUDENTS, TEACHERS

    spec = recipe.teacher if path == "teacher" else recipe.student if path == "student" else recipe.baselines[0]
    cls = (TEACHERS if path == "teacher" else STUDENTS).get(spec.name)
    space = {f"{path}.params.{k}": v for k, v in declared_space(cls).items()}
    if getattr(cls, "tunes_training", True):
        space.update({f"{path}.train.{k}": v for k, v in TRAIN_SPACE.items()})
    return space


def resolve_search(spec: SearchSpec, recipe: Recipe, role: str, where: Callable[[tuple[Any, ...]], str],
                   check: Callable[[str, Any], list[str]]) -> tuple[Search | None, list[str]]:
    """The search with its resolved space, or None and every problem found.

    Args:
        spec: the parsed ``search:`` block.
        recipe: the sweep's base recipe.
        role: the sweep's ``select.role``: the model tuned.
        where: ``file:line`` of a key path of the sweep file.
        check: validates the recipe with one override ``(dotted path, value)``; returns its problems.
    """
    issues: list[str] = []
    if role == "baseline" and not recipe.baselines:
        return None, [f"{where(('select',))}: search: select.role 'baseline' tunes the recipe's one entry of "
                      "baselines:, and it has none (the no-KD twin is tuned as the student)"]
    path = model_path(recipe, role)
    try:
        space = default_space(recipe, path) if spec.defaults else {}
    except SearchSpaceError as exc:
        return None, [f"{where(('search',))}: search: the tuned model declares a bad search_space: {exc}"]
    for key, raw in spec.space.items():
        loc = ("search", "space", key)
        if raw is None:
            if key not in space:
                issues.append(f"{where(loc)}: search.space.{key}: null drops a default dimension, but there is none "
                              f"at this path (defaults: {', '.join(space) or 'none'})")
            space.pop(key, None)
            continue
        if key.split(".")[0] in ("name", "seeds"):
            issues.append(f"{where(loc)}: search.space.{key}: cannot be searched (the study names its trials and "
                          "runs the sweep's seeds)")
            continue
        try:
            space[key] = parse_dimension(raw)
        except SearchSpaceError as exc:
            issues.append(f"{where(loc)}: search.space.{key}: {exc}")
    for other, rel in spec.use_tuned.items():
        loc = ("search", "use_tuned", other)
        if other == path:
            issues.append(f"{where(loc)}: search.use_tuned.{other}: this is the model the study tunes; "
                          "use_tuned names the recipe's other models")
        elif (recipe.teacher if other == "teacher" else recipe.student) is None:
            issues.append(f"{where(loc)}: search.use_tuned.{other}: the recipe has no {other}")
        elif rel.startswith("/") or not rel.endswith((".yaml", ".yml")):
            issues.append(f"{where(loc)}: search.use_tuned.{other}: {rel!r} must be a relative path to a .yaml "
                          "tuned recipe, e.g. ../tuned/amazon-beauty/beauty-lightgcn.yaml")
    if not space and not issues:
        issues.append(f"{where(('search',))}: search: nothing to search: {path} ({_component(recipe, path)}) "
                      "declares no search space; list dimensions under search.space")
    for key, dim in space.items():  # every bound and choice must make a valid recipe
        for value in dim.corners():
            problems = check(key, value)
            if problems:
                loc = ("search", "space", key) if key in spec.space else ("search",)
                issues += [f"{where(loc)}: search.space.{key} = {value!r}: {p}" for p in problems[:2]]
                break
    if issues:
        return None, issues
    return Search(spec=spec, model_path=path, component=_component(recipe, path), space=space), []


def _component(recipe: Recipe, path: str) -> str:
    spec = recipe.teacher if path == "teacher" else recipe.student if path == "student" else recipe.baselines[0]
    return spec.name if spec is not None else "?"


def check_override(compose_trial: Callable[[list[str]], Recipe]) -> Callable[[str, Any], list[str]]:
    """A ``check`` for :func:`resolve_search` from a function that composes and validates a trial recipe."""
    from mmbench.recipe.sweep import assignment

    def check(key: str, value: Any) -> list[str]:
        try:
            compose_trial([assignment(key, value)])
        except RecipeError as exc:
            return list(exc.issues)
        except ValueError as exc:
            return [str(exc)]
        return []

    return check
