"""What a sweep looks like to an experiment tracker: one parent run per sweep or study, one run per study trial.

Plain data in, plain data out (no tracker is imported here). A study's trials are logged from its storage (the
Optuna trials as :meth:`mmbench.runner.study.StudyHandle.trials` gives them), so pruned and failed trials, which
have no run record, are tracked too: their params, state, error and the validation curve up to the pruning point.
A trial's run records are logged as runs nested under the trial's run (see :mod:`mmbench.tracking.mlflow_store`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmbench.recipe.sweep import Sweep
from mmbench.search_space import describe
from mmbench.tracking.view import Point, TrackedRun, metric_key, param_text

SWEEP_KEY, TRIAL_KEY = "mmbench.sweep_key", "mmbench.trial_key"  # the tags a logged run is found again by
MAX_TAG_CHARS = 5000  # MLflow's limit on a tag value is 8,000 characters; errors are cut well before


def sweep_tags(sweep: Sweep) -> dict[str, str]:
    """The tags every run of ``sweep`` carries (its parent, its trials, their records)."""
    return {"mmbench.sweep": sweep.name, "mmbench.sweep_file_hash": sweep.file_hash}


def sweep_key(sweep: Sweep, folder: Path) -> str:
    """What a sweep's runs are found again by: its name and results folder, as its study storage and records are
    (editing the sweep file, e.g. raising the budget, continues the same study, so the same runs)."""
    return f"{sweep.name}@{Path(folder).resolve()}"


def sweep_run(sweep: Sweep, folder: Path) -> TrackedRun:
    """The parent run of ``sweep`` (results in ``folder``): what it searches or lists, over which seeds,
    selected on what."""
    params = {"recipe": str(sweep.recipe_path), "seeds": param_text(list(sweep.seeds)), "select.metric": sweep.metric,
              "select.role": sweep.role}
    if sweep.search is not None:
        search = sweep.search
        params |= {"search.model": search.model_path, "search.component": search.component,
                   **{f"search.{metric_key(k)}": param_text(v) for k, v in search.budget(0, len(sweep.seeds)).items()
                      if k != "epochs"},  # the budget's epochs are the recipe's, logged with each record
                   **{f"space.{metric_key(k)}": param_text(describe({k: d})) for k, d in search.space.items()}}
    else:
        params |= {"trials": str(len(sweep.trials)),
                   **{f"trial.{t.name}": param_text(", ".join(t.assignments) or "(recipe as is)") for t in sweep.trials}}
    tags = {**sweep_tags(sweep), SWEEP_KEY: sweep_key(sweep, folder), "mmbench.sweep_folder": str(folder),
            "mmbench.kind": "study" if sweep.search is not None else "sweep"}
    if sweep.description:
        tags["mlflow.note.content"] = sweep.description
    now = int(time.time() * 1000)
    return TrackedRun(sweep.name, params, tags, [], now, now)


def trial_key(sweep: Sweep, folder: Path, number: int) -> str:
    return f"{sweep_key(sweep, folder)}/{number}"


def trial_run(sweep: Sweep, folder: Path, trial: Mapping[str, Any]) -> TrackedRun:
    """One ended study trial: its sampled params, state, objective, per-seed values, validation curve, cost."""
    attrs = trial["user_attrs"]
    original = attrs.get("recipe_trial")
    key = metric_key(f"valid {sweep.metric}").replace(" ", ".")
    params = {metric_key(k): param_text(v) for k, v in trial["params"].items()}
    tags = {**sweep_tags(sweep), TRIAL_KEY: trial_key(sweep, folder, trial["number"]), "mmbench.kind": "trial",
            "mmbench.trial": str(trial["number"]), "mmbench.trial_state": trial["state"],
            "mmbench.where": str(attrs.get("where", ""))}
    if original is not None:
        tags["mmbench.recipe"] = f"{sweep.name}.t{int(original):03d}"
    if attrs.get("error"):
        tags["mmbench.error"] = str(attrs["error"])[:MAX_TAG_CHARS]
    points = [Point(key, float(trial["value"]))] if trial.get("value") is not None else []
    points += [Point(f"{key}.seed_{seed}", float(v)) for seed, v in zip(sweep.seeds, attrs.get("valid_per_seed") or [])]
    points += [Point(f"{key}.curve", float(v), int(step)) for step, v in sorted(trial.get("intermediate", {}).items())]
    points += [Point(name, float(attrs[name])) for name in ("epochs", "seconds") if attrs.get(name) is not None]
    end = int(float(attrs.get("ended_at", time.time())) * 1000)
    start = end - int(float(attrs.get("seconds") or trial.get("duration_s") or 0.0) * 1000)
    return TrackedRun(f"{sweep.name} trial {trial['number']}", params, tags, points, start, end)


def study_points(summary: Any) -> list[Point]:
    """The study's progress as metrics of its parent run: trials ended by state, the best objective so far
    after each ended trial (a curve over trials), and the best trial."""
    key = metric_key(f"valid {summary.sweep.metric}").replace(" ", ".")
    points = [Point(f"trials.{state}", float(n)) for state, n in summary.counts().items()]
    points += [Point(f"best.{key}.curve", float(v), i + 1) for i, v in enumerate(summary.curve()) if v is not None]
    if summary.best is not None:
        points += [Point(f"best.{key}", float(summary.best["value"])), Point("best.trial", float(summary.best["number"]))]
    return points
