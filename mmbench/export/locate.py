"""Which run and which of its models to export: a record by path or by recipe name and seed, then one model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydantic

from mmbench.errors import ExportError
from mmbench.results.record import ModelResult, RunRecord
from mmbench.results.store import RUNS_DIR

ROLES = ("teacher", "student", "baseline")


@dataclass(frozen=True)
class Located:
    """A run record and where it came from; ``note`` says how it was chosen (printed by the command)."""

    path: Path
    record: RunRecord
    note: str


def read_record(path: Path) -> RunRecord:
    """One run record, or an error naming the file and the fix."""
    try:
        return RunRecord.model_validate_json(Path(path).read_bytes())
    except FileNotFoundError:
        raise ExportError(f"no run record at {path}; fix: pass a record written by `mmbench run` "
                          f"(results/runs/<recipe>/<run id>.json), or --recipe NAME --seed N") from None
    except (OSError, pydantic.ValidationError) as exc:
        first = " ".join(str(exc).splitlines()[:3])
        raise ExportError(f"{path}: not a valid run record ({first}); fix: pass a record written by `mmbench run`") from None


def find_record(record: Path | None, recipe: str | None, seed: int | None, results_dir: Path) -> Located:
    """The record at ``record``, or the newest record of recipe ``recipe`` (and ``seed``) under ``results_dir``."""
    if (record is None) == (recipe is None):
        raise ExportError("name one run: a record path, or --recipe NAME (with --seed N; the newest record when "
                          "several match)")
    if record is not None:
        return Located(Path(record), read_record(Path(record)), f"record {record}")
    folder = Path(results_dir) / RUNS_DIR / str(recipe)
    paths = sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []
    if not paths:
        known = sorted(p.name for p in (Path(results_dir) / RUNS_DIR).glob("*") if p.is_dir())
        raise ExportError(f"no run records of recipe {recipe!r} in {folder}; fix: run it (`mmbench run RECIPE "
                          f"--results-dir {results_dir}`) or name another recipe (recorded there: "
                          f"{', '.join(known[:20]) or 'none'}); --recipe takes the recipe's name, not its file")
    records = [(p, read_record(p)) for p in paths]
    matching = [(p, r) for p, r in records if seed is None or r.seed == seed]
    if not matching:
        raise ExportError(f"no run record of recipe {recipe!r} with seed {seed} in {folder}; recorded seeds: "
                          f"{sorted({r.seed for _, r in records})}; fix: `mmbench run RECIPE --seed {seed}` first")
    path, rec = max(matching, key=lambda pr: (pr[1].created_at, pr[1].run_id))
    what = f"seed {seed}" if seed is not None else "any seed"
    return Located(path, rec, f"record {path} (run {rec.run_id}, created {rec.created_at}; the newest of "
                              f"{len(matching)} record(s) of recipe {recipe} with {what})")


def describe(i: int, m: ModelResult) -> str:
    """One line naming a record's model, for choices and errors."""
    twin = " (the student without KD)" if m.without_kd_of else ""
    return f"#{i} {m.role} {m.component} {m.params}{twin}"


def pick_model(record: RunRecord, role: str, component: str | None = None, index: int | None = None) -> int:
    """The position in ``record.models`` of the one model with ``role`` (and ``component``; ``index``: the
    position among those, in record order), or an error listing the choices."""
    if role not in ROLES:
        raise ExportError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    found = [i for i, m in enumerate(record.models) if m.role == role
             and (component is None or m.component == component)]
    if index is not None:
        if not 0 <= index < len(found):
            raise ExportError(f"--index {index} is out of range: the record has {len(found)} {role} model(s)"
                              f"{' ' + component if component else ''}: "
                              + "; ".join(f"index {k}: {describe(i, record.models[i])}" for k, i in enumerate(found)))
        return found[index]
    if len(found) == 1:
        return found[0]
    models = "; ".join(describe(i, m) for i, m in enumerate(record.models))
    if not found:
        raise ExportError(f"run {record.run_id} has no {role} model{' ' + component if component else ''}; "
                          f"its models: {models}")
    choices = "; ".join(f"index {k}: {describe(i, record.models[i])}" for k, i in enumerate(found))
    raise ExportError(f"run {record.run_id} has {len(found)} {role} models; pick one with --component NAME or "
                      f"--index N: {choices}")
