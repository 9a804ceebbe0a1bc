"""Where a sweep file's problems are and what they say: line lookup, pydantic errors as one line each, and the
checks of a sweep's ``select:`` against a recipe (the role exists once, the metric is evaluated)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
from pydantic import BaseModel

from mmbench.params import did_you_mean
from mmbench.recipe.schema import Recipe

Lines = dict[tuple[Any, ...], str]


def where(lines: Lines, loc: tuple[Any, ...], label: str) -> str:
    """The `file:line` of the deepest part of ``loc`` the line map knows (else ``label``)."""
    return next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), label)


def loc_text(loc: tuple[Any, ...]) -> str:
    """``("trials", 0, "set")`` -> ``trials[0].set``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def pydantic_issues(exc: pydantic.ValidationError, prefix: tuple[Any, ...], lines: Lines, label: str,
                    owner: Callable[[tuple[Any, ...], tuple[Any, ...]], type[BaseModel]]) -> list[str]:
    """Each error of ``exc`` as ``file:line: field: message``; an unknown field suggests ``owner``'s fields."""
    out = []
    for err in exc.errors(include_url=False):
        loc = (*prefix, *err["loc"])
        msg = {"extra_forbidden": "unknown field", "missing": "required field is missing"}.get(
            err["type"], err["msg"].removeprefix("Value error, "))
        if err["type"] == "string_pattern_mismatch":
            msg = f"{err['input']!r} is not a valid name: lowercase letters and digits joined by - _ or ., e.g. lr-1e-3"
        if err["type"] == "extra_forbidden":
            fields = list(owner(prefix, err["loc"]).model_fields)
            msg += f"; {did_you_mean(str(loc[-1]), fields) or 'allowed: ' + ', '.join(fields)}"
        out.append(f"{where(lines, loc, label)}: {loc_text(loc)}: {msg}")
    return out


def role_problem(recipe: Recipe, role: str) -> str | None:
    count = {"teacher": int(recipe.teacher is not None), "student": 1,
             "baseline": len(recipe.baselines) + int(bool(recipe.distill))}[role]
    if count == 1:
        return None
    return (f"select.role {role!r}: the recipe has no {role} model" if not count else
            f"select.role 'baseline' is ambiguous: the recipe trains {count} baselines")


def metric_problem(recipe: Recipe, metric: str) -> str | None:
    from mmbench.kinds import METRICS

    columns = [f"{METRICS.entry(m).meta['label']}@{k}" for m in recipe.eval.metrics if m in METRICS
               for k in recipe.eval.ks]
    return None if metric in columns else f"select.metric {metric!r} is not evaluated (valid columns: " \
                                          f"{', '.join(columns)})"
