"""Sweep summaries: per trial, the mean ± 95% CI over seeds of the VALID select metric; selection on valid only.

PROTOCOL rule 5: a trial is chosen on the validation split. Test values are never shown per trial (that would
invite picking on test); only the selected trial's test value of the select metric is reported, labelled so.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Any

from tabulate import tabulate

from mmbench.recipe.sweep import Sweep, Trial, yaml_flow
from mmbench.results.record import RunRecord
from mmbench.results.stats import ci95
from mmbench.results.store import atomic_write_text, load_records

SWEEPS_DIR = "sweeps"


def sweep_dir(results_dir: Path, sweep: Sweep) -> Path:
    """The sweep's own results folder (its ``runs/`` never mixes with the leaderboard's)."""
    return Path(results_dir) / SWEEPS_DIR / sweep.name


def latest_records(folder: Path) -> dict[tuple[str, str, int], RunRecord]:
    """The newest record of every (recipe name, recipe hash, seed) under ``folder/runs``."""
    out: dict[tuple[str, str, int], RunRecord] = {}
    for rec in sorted(load_records(folder), key=lambda r: (r.created_at, r.run_id)):  # run ids end in µs
        out[(rec.recipe.name, rec.recipe.hash, rec.seed)] = rec
    return out


@dataclass(frozen=True)
class TrialRow:
    """One trial's validation summary over the seeds that have a record."""

    trial: Trial
    status: str  # done | partial | pending | failed | no valid <metric>
    seeds: tuple[int, ...]
    valid: tuple[float, ...]
    best_epoch: tuple[int, ...]
    train_s: tuple[float, ...]
    records: tuple[RunRecord, ...]

    @property
    def mean(self) -> float | None:
        """Mean valid value over seeds (None when no seed has a record)."""
        return fmean(self.valid) if self.valid else None


@dataclass(frozen=True)
class SweepSummary:
    """Every trial's row, the selected trial (None until some trial has every seed) and its test values."""

    sweep: Sweep
    folder: Path
    rows: tuple[TrialRow, ...]
    selected: TrialRow | None
    test: tuple[float, ...]
    ignored: int  # records of the sweep folder that belong to no current trial and seed

    @property
    def rule(self) -> str:
        """The selection rule, in words."""
        s = self.sweep
        return (f"highest mean valid {s.metric} of the {s.role} over seeds {','.join(map(str, s.seeds))} "
                "(ties: first in file order; only trials with a record for every seed)")


def _row(trial: Trial, sweep: Sweep, records: dict[tuple[str, str, int], RunRecord], failed: bool) -> TrialRow:
    recs = [records[key] for s in sweep.seeds if (key := (trial.recipe_name, trial.hash, s)) in records]
    models = [next(m for m in r.models if m.role == sweep.role) for r in recs]
    valid = [m.metrics["valid"].get(sweep.metric) for m in models]
    status = "done" if len(recs) == len(sweep.seeds) else "failed" if failed else "partial" if recs else "pending"
    if any(v is None for v in valid):
        status = f"no valid {sweep.metric}"
    return TrialRow(trial, status, tuple(r.seed for r in recs), tuple(v for v in valid if v is not None),
                    tuple(m.best_epoch for m in models), tuple(m.timings.get("train_s", 0.0) for m in models),
                    tuple(recs))


def summarize(sweep: Sweep, results_dir: Path, failed: Collection[str] = ()) -> SweepSummary:
    """Read the sweep's records back and select the trial with the highest mean valid metric.

    Args:
        sweep: The validated sweep.
        results_dir: The results root the sweep ran into.
        failed: Names of trials that just failed a job, shown as ``failed`` rather than ``partial``/``pending``.
    """
    folder = sweep_dir(results_dir, sweep)
    records = latest_records(folder)
    rows = tuple(_row(t, sweep, records, t.name in failed) for t in sweep.trials)
    selected = None
    for row in rows:
        if row.status == "done" and (selected is None or row.mean > selected.mean):  # strict: ties keep the first
            selected = row
    test = tuple(next(m for m in r.models if m.role == sweep.role).metrics["test"][sweep.metric]
                 for r in selected.records) if selected else ()
    used = {(r.recipe.name, r.recipe.hash, r.seed) for row in rows for r in row.records}
    return SweepSummary(sweep, folder, rows, selected, test, sum(1 for key in records if key not in used))


def _mean_ci(values: tuple[float, ...], fmt: str = ".4f") -> str:
    if not values:
        return ""
    return f"{fmean(values):{fmt}}" + (f" ± {ci95(values):{fmt}}" if len(values) > 1 else "")


def _sets(trial: Trial) -> str:
    return ", ".join(trial.assignments) or "(recipe as is)"


def table(summary: SweepSummary, tablefmt: str = "github") -> str:
    """One row per trial: overrides, seeds, valid metric (mean ± 95% CI), best epoch, train seconds, status."""
    s = summary.sweep
    rows = [[r.trial.name, _sets(r.trial), f"{len(r.seeds)}/{len(s.seeds)}", _mean_ci(r.valid),
             f"{fmean(r.best_epoch):.1f}" if r.best_epoch else "",
             f"{fmean(r.train_s):.1f}" if r.train_s else "",
             r.status + (" ← selected" if r is summary.selected else "")] for r in summary.rows]
    headers = ["trial", "set", "seeds", f"valid {s.metric} ({s.role}) ↑", "best epoch", "train s", "status"]
    return tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)


def selection_lines(summary: SweepSummary) -> list[str]:
    """The selection rule, the selected trial, its test value (labelled) and how to apply its overrides."""
    s, sel = summary.sweep, summary.selected
    lines = [f"selection: {summary.rule}"]
    if sel is None:
        return [*lines, "selected: none yet (no trial has a record for every seed)"]
    lines += [f"selected: {sel.trial.name} (valid {s.metric} {_mean_ci(sel.valid)}, {len(sel.valid)} seed(s); "
              f"recipe hash {sel.trial.hash})",
              f"test {s.metric} of the selected trial only: {_mean_ci(summary.test)} "
              "(reported once; never used for selection)",
              "apply: " + shlex.join(["mmbench", "run", str(s.recipe_path),
                                      *(x for a in sel.trial.assignments for x in ("--set", a))])]
    return lines


def to_dict(summary: SweepSummary) -> dict[str, Any]:
    """JSON-ready summary: the sweep, its hashes, every trial's valid results, the rule and the selection."""
    s, sel = summary.sweep, summary.selected

    def trial(row: TrialRow) -> dict[str, Any]:
        t = row.trial
        return {"name": t.name, "recipe_name": t.recipe_name, "overrides": t.overrides, "set": list(t.assignments),
                "recipe_hash": t.hash, "status": row.status, "seeds": list(row.seeds), "n": len(row.valid),
                "valid_mean": row.mean, "valid_ci95": ci95(row.valid) if row.valid else None,
                "best_epoch_mean": fmean(row.best_epoch) if row.best_epoch else None,
                "train_s_mean": fmean(row.train_s) if row.train_s else None}

    return {
        "generated_by": "mmbench sweep", "sweep": s.name, "description": s.description, "sweep_file": str(s.path),
        "sweep_file_hash": s.file_hash, "recipe": str(s.recipe_path), "seeds": list(s.seeds),
        "selection": {"split": "valid", "metric": s.metric, "role": s.role, "rule": summary.rule},
        "trials": [trial(r) for r in summary.rows],
        "selected": None if sel is None else {
            **trial(sel), "test": {"metric": s.metric, "mean": fmean(summary.test), "n": len(summary.test),
                                   "ci95": ci95(summary.test),
                                   "note": "the selected trial's test value only; never used for selection"}},
        "ignored_records": summary.ignored}


def markdown(summary: SweepSummary) -> str:
    """``summary.md``: the trial table, the rule, the selection and the overrides to copy into the recipe."""
    s, sel = summary.sweep, summary.selected
    parts = [f"# Sweep `{s.name}`", *([s.description] if s.description else []),
             f"Recipe `{s.recipe_path}` · sweep file `{s.path}` (hash {s.file_hash}) · seeds "
             f"{', '.join(map(str, s.seeds))}", table(summary), "\n".join(f"- {line}" for line in selection_lines(summary))]
    if sel is not None and sel.trial.overrides:
        parts.append("Overrides of the selected trial (dotted recipe paths):\n\n```yaml\n"
                     + "".join(f"{k}: {yaml_flow(v)}\n" for k, v in sel.trial.overrides.items()) + "```")
    if summary.ignored:
        parts.append(f"{summary.ignored} record(s) in `{summary.folder / 'runs'}` belong to no current trial and "
                     "seed (changed or removed trials) and are ignored.")
    return "\n\n".join(parts) + "\n"


def write_summary(summary: SweepSummary) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.json`` into the sweep's folder, atomically."""
    md = atomic_write_text(summary.folder / "summary.md", markdown(summary))
    js = atomic_write_text(summary.folder / "summary.json",
                           json.dumps(to_dict(summary), indent=2, ensure_ascii=False, default=str) + "\n")
    return md, js
