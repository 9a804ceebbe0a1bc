"""The sweep file: one recipe, an explicit list of trials (dotted overrides), seeds and the selection rule.

Loading validates the file and every trial recipe and reports **every** problem at once, each with its
``file:line``, before anything runs. A list of trials is explicit: there is no implicit grid. Running is
:mod:`mmbench.runner.sweep`; selection on validation is :mod:`mmbench.results.sweep`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mmbench.errors import RecipeError
from mmbench.recipe.load import apply_override, compose, read_yaml, recipe_hash, validate_raw
from mmbench.recipe.schema import Recipe
from mmbench.recipe.search import Search, SearchSpec, check_override, resolve_search
from mmbench.recipe.sweep_issues import metric_problem, pydantic_issues, role_problem, where

NAME = r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$"  # the recipe name pattern: `<sweep>.<trial>` is a recipe name too
_KEY = r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$"
_RESERVED = {"name": "the sweep names each trial's recipe `<sweep>.<trial>`",
             "seeds": "set the sweep's `seeds:` instead (every trial runs the same seeds)"}


class SweepError(RecipeError):
    """A sweep file or one of its trial recipes is invalid; ``issues`` holds every problem found."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SelectSpec(_Strict):
    """What selection compares: the valid ``metric`` of the model with ``role``."""

    metric: str | None = Field(None, description="default: the recipe's train.select_metric")
    role: Literal["teacher", "student", "baseline"] = "student"


class TrialSpec(_Strict):
    """One trial: an optional name and the overrides applied to the recipe."""

    name: str | None = Field(None, pattern=NAME)
    set: dict[str, Any] = Field(default_factory=dict)

    @field_validator("set")
    @classmethod
    def _keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not re.match(_KEY, key):
                raise ValueError(f"{key!r} is not a dotted recipe path, e.g. train.lr or student.params.dim")
            if key.split(".")[0] in _RESERVED:
                raise ValueError(f"{key!r} cannot be set by a trial: {_RESERVED[key.split('.')[0]]}")
        return value


class SweepSpec(_Strict):
    """The sweep file's schema."""

    sweep_version: Literal[1]
    name: str | None = Field(None, pattern=NAME)
    description: str = ""
    recipe: str = Field(description="the recipe, relative to the sweep file's folder")
    seeds: list[int] | None = Field(None, min_length=1)
    select: SelectSpec = Field(default_factory=SelectSpec)
    trials: list[Any] | None = Field(None, min_length=1)  # each checked as a TrialSpec by load_sweep
    search: SearchSpec | None = None

    @model_validator(mode="after")
    def _trials_or_search(self) -> SweepSpec:
        if (self.trials is None) == (self.search is None):
            raise ValueError("a sweep has either `trials:` (an explicit list) or `search:` (a tuning study), "
                             "not " + ("both" if self.trials else "neither"))
        return self

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"duplicate seeds in {value}")
        return value


@dataclass(frozen=True)
class Trial:
    """A validated trial: its overrides as ``KEY=VALUE`` assignments and the resulting recipe."""

    name: str
    overrides: dict[str, Any]
    assignments: tuple[str, ...]  # what `mmbench run --set` takes, without the name
    recipe: Recipe
    hash: str

    @property
    def recipe_name(self) -> str:
        """The trial recipe's name, ``<sweep>.<trial>``: its records' folder."""
        return self.recipe.name or self.name


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: everything needed to run it and to select a trial."""

    path: Path
    name: str
    description: str
    recipe_path: Path
    file_hash: str
    seeds: tuple[int, ...]
    metric: str
    role: str
    trials: tuple[Trial, ...]
    search: Search | None = None  # a tuning study: trials are asked of the sampler, not listed


def assignment(key: str, value: Any) -> str:
    """``KEY=VALUE`` that ``apply_override`` reads back as exactly ``value`` (YAML flow style, else JSON)."""
    texts = [yaml_flow(value)]
    try:
        texts.append(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        pass
    for text in texts:
        try:
            if apply_override({}, f"v={text}")["v"] == value:
                return f"{key}={text}"
        except RecipeError:
            continue
    raise ValueError(f"{value!r} does not survive a round trip through YAML")


def yaml_flow(value: Any) -> str:
    """``value`` as one YAML flow-style document without its end marker."""
    return yaml.safe_dump(value, default_flow_style=True, width=float("inf")).strip().removesuffix("...").strip()


def _owner(prefix: tuple[Any, ...], loc: tuple[Any, ...]) -> type[BaseModel]:
    """The model whose fields an unknown-field error at ``loc`` should suggest."""
    from mmbench.recipe.search import PrunerSpec, SamplerSpec

    if prefix:
        return TrialSpec
    if loc[0] == "select":
        return SelectSpec
    if loc[0] == "search":
        return {"sampler": SamplerSpec, "pruner": PrunerSpec}.get(loc[1] if len(loc) > 2 else "", SearchSpec)
    return SweepSpec


def _header(raw: dict[str, Any], issues: list[str], lines: dict[tuple[Any, ...], str], label: str
            ) -> SweepSpec | None:
    """The sweep's valid top-level fields (problems go to ``issues``), so that one typo hides nothing else."""
    try:
        return SweepSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        issues += pydantic_issues(exc, (), lines, label, _owner)
        # drop what is wrong (a whole field, or one key of `select`) and keep the rest for the later checks
        bad = {tuple(e["loc"][:2] if e["loc"][0] == "select" else e["loc"][:1]) for e in exc.errors() if e["loc"]}
    known = {k: {sk: sv for sk, sv in v.items() if (k, sk) not in bad} if k == "select" and isinstance(v, dict)
             else v for k, v in raw.items() if k in SweepSpec.model_fields and (k,) not in bad}
    try:  # trials are checked one by one by the caller
        return SweepSpec.model_validate({"sweep_version": 1, **known,
                                         **({} if "search" in known else {"trials": [{}]})})
    except pydantic.ValidationError:
        return None  # no usable recipe: its problem is reported already


def load_sweep(path: str | Path, recipe: str | Path | None = None) -> Sweep:
    """Read and validate a sweep file and every trial recipe; raise :class:`SweepError` with every problem.

    ``recipe`` replaces the file's ``recipe:`` (e.g. the same study on a user's own data); the sweep is then
    named ``<name>.<recipe stem>``, so its records, study and tuned recipe never mix with the original's.
    """
    path = Path(path)
    label = str(path)
    try:
        raw, lines = read_yaml(path)
    except RecipeError as exc:
        raise SweepError(label, exc.issues) from None
    issues: list[str] = []
    spec = _header(raw, issues, lines, label)
    trial_specs: list[TrialSpec | None] = []
    for i, item in enumerate(raw.get("trials") if isinstance(raw.get("trials"), list) else []):
        try:
            trial_specs.append(TrialSpec.model_validate(item))
        except pydantic.ValidationError as exc:
            trial_specs.append(None)
            issues += pydantic_issues(exc, ("trials", i), lines, label, _owner)
    names = [(t.name or f"t{i:02d}") if t else None for i, t in enumerate(trial_specs)]
    for i, name in enumerate(names):
        if name is not None and names.index(name) != i:
            issues.append(f"{where(lines, ('trials', i), label)}: trials[{i}].name: duplicate trial name {name!r} "
                          f"(also trials[{names.index(name)}])")
    sweep_name = (spec.name if spec else None) or path.stem
    if spec and not spec.name and not re.match(NAME, sweep_name):
        issues.append(f"{label}: name: the file stem {sweep_name!r} is not a valid name; add `name:`")
    if recipe is not None:
        stem = re.sub(r"[^a-z0-9]+", "-", Path(recipe).stem.lower()).strip("-") or "recipe"
        sweep_name = f"{sweep_name}.{stem}"
        if spec:
            spec = spec.model_copy(update={"recipe": os.path.relpath(Path(recipe).resolve(), path.parent.resolve())})
        if not Path(recipe).is_file():
            issues.append(f"--recipe {recipe}: file not found")
    base = recipe_path = None
    if spec:
        recipe_path = Path(os.path.normpath(path.parent / spec.recipe))
        if Path(spec.recipe).is_absolute():
            issues.append(f"{where(lines, ('recipe',), label)}: recipe: must be relative to the sweep file's folder")
        elif not recipe_path.is_file():
            issues.append(f"{where(lines, ('recipe',), label)}: recipe: {spec.recipe!r} not found (looked for "
                          f"{recipe_path}); the path is relative to the sweep file's folder")
        else:
            try:
                raw_recipe, recipe_lines = compose(recipe_path)
                base = validate_raw(raw_recipe, str(recipe_path), recipe_lines, name=recipe_path.stem)
            except RecipeError as exc:
                issues += [f"recipe {spec.recipe}: {line}" for line in exc.issues]
    metric = (spec.select.metric if spec else None) or (base.train.select_metric if base else "")
    role = spec.select.role if spec else "student"
    base_problems = [p for p in (role_problem(base, role), metric_problem(base, metric)) if p] if base else []
    issues += [f"{where(lines, ('select',), label)}: {p}" for p in base_problems]
    trials: list[Trial] = []
    for i, (tspec, name) in enumerate(zip(trial_specs, names)):
        if base is None or tspec is None or recipe_path is None:
            continue
        try:
            trial = _trial(tspec, name, f"{sweep_name}.{name}", recipe_path, lines, ("trials", i, "set"), label)
        except RecipeError as exc:
            issues += [f"trial {name!r}: {line}" for line in exc.issues]
            continue
        if not base_problems:  # a recipe-wide problem is reported once, not per trial
            issues += [f"trial {name!r}: {p}" for p in (role_problem(trial.recipe, role),
                                                        metric_problem(trial.recipe, metric)) if p]
        same = next((t.name for t in trials if t.hash == trial.hash), None)
        if same:
            issues.append(f"trial {name!r}: computes the same recipe as trial {same!r} (hash {trial.hash}); "
                          "remove one of them")
        trials.append(trial)
    search = None
    if spec and spec.search and base is not None and recipe_path is not None and not base_problems:
        the_path = recipe_path
        check = check_override(lambda sets: compose_trial(the_path, sets, "search-check"))
        search, problems = resolve_search(spec.search, base, role, lambda loc: where(lines, loc, label), check)
        issues += problems
    if issues or spec is None or base is None or recipe_path is None:  # the last three imply issues
        raise SweepError(label, issues)
    # a study samples many trials: by default each runs one seed; the tuned recipe then runs them all
    seeds = tuple(spec.seeds or (base.seeds[:1] if search else base.seeds))
    return Sweep(path=path, name=sweep_name, description=spec.description, recipe_path=recipe_path,
                 file_hash=hashlib.sha256(path.read_bytes()).hexdigest()[:16],
                 seeds=seeds, metric=metric, role=role, trials=tuple(trials), search=search)


def compose_trial(recipe_path: Path, assignments: list[str] | tuple[str, ...], recipe_name: str) -> Recipe:
    """The recipe at ``recipe_path`` with ``KEY=VALUE`` overrides, named ``recipe_name``, validated."""
    raw, recipe_lines = compose(recipe_path, [*assignments, f"name={recipe_name}"])
    return validate_raw(raw, f"{recipe_path} with {' '.join(assignments) or 'no overrides'}", recipe_lines,
                        name=recipe_path.stem)


def _trial(spec: TrialSpec, name: str, recipe_name: str, recipe_path: Path, lines: dict[tuple[Any, ...], str],
           loc: tuple[Any, ...], label: str) -> Trial:
    """Compose and validate one trial recipe; override problems point at the sweep file's lines."""
    assignments = []
    for key, value in spec.set.items():
        try:
            assignments.append(assignment(key, value))
        except ValueError as exc:
            raise RecipeError(label, [f"{where(lines, (*loc, key), label)}: {key}: {exc}"]) from None
    try:
        raw, recipe_lines = compose(recipe_path, [*assignments, f"name={recipe_name}"])
    except RecipeError as exc:
        raise RecipeError(label, [f"{where(lines, loc, label)}: {line}" for line in exc.issues]) from None
    for key in spec.set:
        recipe_lines[tuple(key.split("."))] = where(lines, (*loc, key), label)
    recipe = validate_raw(raw, f"{recipe_path} with trial {name!r}", recipe_lines, name=recipe_path.stem)
    return Trial(name=name, overrides=dict(spec.set), assignments=tuple(assignments), recipe=recipe,
                 hash=recipe_hash(recipe))


def is_sweep_file(path: str | Path) -> bool:
    """Whether ``path`` is a sweep file (a YAML mapping with ``sweep_version``) rather than a recipe."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False  # the recipe loader reports unreadable files with its own clear error
    return isinstance(raw, dict) and "sweep_version" in raw
