"""A tuning study's tuned recipe: the sweep's recipe with the best trial's params, the tuned model's ``tuning:``
provenance, and (``search.use_tuned``) the other models' own tuned settings. Plain data in, one YAML file out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mmbench.recipe.load import apply_override, compose
from mmbench.recipe.sweep import Sweep, assignment
from mmbench.results.store import atomic_write_text
from mmbench.results.tune import StudySummary


def tuning_block(summary: StudySummary, summary_path: str) -> dict[str, Any]:
    """The ``tuning:`` provenance a tuned model carries into its recipe and every record it makes."""
    best = summary.best
    assert best is not None
    s = summary.sweep
    return {"study": s.name, "sweep_file": str(s.path), "summary": summary_path, "budget": summary.budget,
            "ended": summary.counts(), "best_trial": best["number"],
            "valid": {"metric": s.metric, "value": round(float(best["value"]), 6)},
            "wall_s": round(summary.wall_s(), 1)}


def tuned_recipe_path(sweep: Sweep, dataset: str) -> Path:
    """Where the tuned recipe goes: the search block's ``tuned_recipe``, else ``../tuned/<dataset>/<name>.yaml``
    relative to the sweep file (``<name>``: the sweep's name without a leading ``tune-``)."""
    assert sweep.search is not None
    rel = sweep.search.spec.tuned_recipe or f"../tuned/{dataset}/{sweep.name.removeprefix('tune-')}.yaml"
    return (sweep.path.parent / rel).resolve()


def tuned_name(sweep: Sweep) -> str:
    """The tuned recipe's name: ``tune-lastfm-mf`` -> ``lastfm-mf-tuned``."""
    return f"{sweep.name.removeprefix('tune-')}-tuned"


def tuned_others(sweep: Sweep) -> dict[str, tuple[dict[str, Any] | None, str]]:
    """``search.use_tuned``: for each role, the tuned model block to take (or None) and where it comes from.

    The block is the one model of the named tuned recipe that carries a ``tuning:`` block; it must be the same
    component as the role's model in the sweep's recipe. A file that does not exist yet (its study has not ended)
    gives None: the role keeps the base recipe's settings and the note says so.
    """
    from mmbench.errors import RecipeError
    from mmbench.recipe.load import read_yaml

    assert sweep.search is not None
    out: dict[str, tuple[dict[str, Any] | None, str]] = {}
    base, _ = compose(sweep.recipe_path)
    for role, rel in sweep.search.spec.use_tuned.items():
        path = (sweep.path.parent / rel).resolve()
        shown = relative_path(path)
        if not path.is_file():
            out[role] = (None, f"base settings of {sweep.recipe_path}: {shown} does not exist yet (run its study)")
            continue
        raw, _ = read_yaml(path)
        slots = [raw.get("teacher"), raw.get("student"), *(raw.get("baselines") or [])]
        tuned = [m for m in slots if isinstance(m, dict) and isinstance(m.get("tuning"), dict)]
        want = (base.get(role) or {}).get("name")
        if len(tuned) != 1 or tuned[0].get("name") != want:
            found = ", ".join(str(m.get("name")) for m in tuned) or "no model with a tuning: block"
            raise RecipeError(str(sweep.path), [f"search.use_tuned.{role}: {shown} must be the tuned recipe of "
                                                f"{want!r} (the {role} of {sweep.recipe_path}); it holds {found}"])
        out[role] = ({k: tuned[0][k] for k in ("params", "train", "tuning") if k in tuned[0]},
                     f"{tuned[0]['tuning'].get('study', '?')} ({shown})")
    return out


def relative_path(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (paths in committed files stay portable)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def write_tuned_recipe(summary: StudySummary, out: Path, summary_path: str, seeds: Sequence[int]) -> Path:
    """The sweep's recipe with the best trial's params and the tuned model's ``tuning:`` block, atomically.

    The recipe's other models named in ``search.use_tuned`` take the settings of their own tuned recipes.
    """
    s = summary.sweep
    assert s.search is not None and summary.best is not None
    raw, _ = compose(s.recipe_path)
    for key, value in summary.best["params"].items():
        raw = apply_override(raw, assignment(key, value))
    raw = apply_override(raw, assignment(f"{s.search.model_path}.tuning", tuning_block(summary, summary_path)))
    for role, (block, _) in summary.others.items():
        if block is not None:
            model = raw[role]
            model["params"] = {**(model.get("params") or {}), **(block.get("params") or {})}
            model["train"] = {**(model.get("train") or {}), **(block.get("train") or {})}
            model["tuning"] = block["tuning"]
    raw["name"] = tuned_name(s)
    raw["seeds"] = list(seeds)
    raw["description"] = (f"{s.search.component} tuned by the study {s.name} ({summary.budget['trials']} trials, "
                          f"selection on valid {s.metric}); generated by `mmbench sweep {s.path}`")
    head = (f"# Generated by `mmbench sweep {s.path}` from {s.recipe_path} and the best trial of its study\n"
            f"# (summary: {summary_path}). Re-run the study to regenerate it; do not edit by hand.\n")
    order = ["schema_version", "name", "description"]
    raw = {**{k: raw[k] for k in order if k in raw}, **{k: v for k, v in raw.items() if k not in order}}
    return atomic_write_text(out, head + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=110,
                                                         default_flow_style=None))
