"""``mmbench sweep``: run every (trial, seed) of a sweep as an ordinary run record, in-process or in workers.

Records go under ``<results>/sweeps/<sweep>/runs/<sweep>.<trial>/``, apart from the leaderboard's
``<results>/runs``. A (trial, seed) whose record already exists with the same recipe hash is skipped. The
API: :func:`load_sweep` (validate everything first), :func:`plan`, :func:`run_sweep`, then
:func:`~mmbench.results.sweep.summarize` to select a trial on validation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.recipe.sweep import Sweep, SweepError, Trial, load_sweep
from mmbench.results.sweep import latest_records, summarize, sweep_dir, write_summary

__all__ = ["Failure", "Job", "Plan", "Sweep", "SweepError", "SweepOutcome", "Trial", "latest_records", "load_sweep",
           "plan", "run_sweep", "summarize", "sweep_dir", "worker_command", "write_summary"]

Log = Callable[[str], None]
_TAIL_LINES = 15


@dataclass(frozen=True)
class Job:
    """One (trial, seed) run."""

    trial: Trial
    seed: int

    def __str__(self) -> str:
        return f"{self.trial.name} seed {self.seed}"


@dataclass(frozen=True)
class Plan:
    """What a sweep run does: the jobs to run and those skipped (their record exists)."""

    run: list[Job]
    skipped: list[Job]


@dataclass(frozen=True)
class Failure:
    """A job that raised (in-process) or exited non-zero (worker), with the tail of its error output."""

    job: Job
    tail: str


@dataclass
class SweepOutcome:
    """The result of :func:`run_sweep`."""

    plan: Plan
    records: list[Path] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def plan(sweep: Sweep, results_dir: Path, *, rerun: bool = False) -> Plan:
    """Every (trial, seed) in file order; those with a record of the same recipe hash are skipped unless ``rerun``."""
    done = set() if rerun else set(latest_records(sweep_dir(results_dir, sweep)))
    jobs = [Job(t, s) for t in sweep.trials for s in sweep.seeds]
    return Plan(run=[j for j in jobs if (j.trial.recipe_name, j.trial.hash, j.seed) not in done],
                skipped=[j for j in jobs if (j.trial.recipe_name, j.trial.hash, j.seed) in done])


def run_sweep(sweep: Sweep, *, results_dir: Path, jobs: int = 1, rerun: bool = False, plugins: Sequence[str] = (),
              log: Log = print, progress: Log = print, backend: str = "local",
              ray_options: dict[str, Any] | None = None) -> SweepOutcome:
    """Run the sweep's pending jobs; a failing job is recorded and the others still run.

    Args:
        sweep: A sweep from :func:`load_sweep`.
        results_dir: The results root; records go under ``sweeps/<sweep name>/``.
        jobs: 1 runs in this process, in order; N > 1 runs N ``mmbench run`` workers, each with
            ``cpu_count // N`` threads.
        rerun: Run every job even when its record exists.
        plugins: Plugin modules the workers import (``--plugin``).
        log: Receives the runs' own logs (in-process only).
        progress: Receives one line per started, finished or failed job.
        backend: ``local`` (``jobs``) or ``ray``: every (trial, seed) is a Ray task (see
            :mod:`mmbench.runner.ray_backend`; ``ray_options``: address, workers, cpus_per_trial, gpus_per_trial).
    """
    the_plan = plan(sweep, results_dir, rerun=rerun)
    out = SweepOutcome(the_plan)
    folder = sweep_dir(results_dir, sweep)
    if backend == "ray":
        if the_plan.run:
            _run_on_ray(the_plan.run, folder, plugins, out, progress, {**(ray_options or {}),
                                                                       "recipe_path": str(sweep.recipe_path)})
    elif jobs <= 1:
        _run_in_process(sweep, the_plan.run, folder, out, log, progress)
    elif the_plan.run:
        _warm_caches([j.trial for j in the_plan.run], progress)
        _run_workers(sweep, the_plan.run, folder, jobs, plugins, out, progress)
    return out


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-_TAIL_LINES:])


def _run_in_process(sweep: Sweep, todo: list[Job], folder: Path, out: SweepOutcome, log: Log, progress: Log) -> None:
    from mmbench.runner.run import run_recipe

    for i, job in enumerate(todo, 1):
        progress(f"[{i}/{len(todo)}] {job} ...")
        try:
            out.records += run_recipe(job.trial.recipe, results_dir=folder, seeds=[job.seed],
                                      recipe_path=str(sweep.recipe_path), log=log)
        except Exception as exc:  # one trial's failure (bad value, divergence) must not lose the others
            text = f"{type(exc).__name__}: {exc}" if isinstance(exc, MMBenchError) else traceback.format_exc()
            out.failures.append(Failure(job, _tail(text)))
            progress(f"[{i}/{len(todo)}] {job}: FAILED")


def _run_on_ray(todo: list[Job], folder: Path, plugins: Sequence[str], out: SweepOutcome, progress: Log,
                options: dict[str, Any]) -> None:
    from mmbench.runner.ray_backend import run_jobs_on_ray

    written, failed = run_jobs_on_ray([(j.trial.recipe, j.seed, folder) for j in todo], plugins=plugins,
                                      progress=progress, address=options.get("address"),
                                      workers=options.get("workers", 1),
                                      cpus_per_trial=options.get("cpus_per_trial", 1),
                                      gpus_per_trial=options.get("gpus_per_trial", 0),
                                      recipe_path=options.get("recipe_path"))
    out.records += written
    out.failures += [Failure(todo[i], _tail(error)) for i, error in failed]


def worker_command(sweep: Sweep, job: Job, folder: Path, plugins: Sequence[str] = ()) -> list[str]:
    """The ``mmbench run`` command line of one job (the same recipe, overrides and name as in-process)."""
    sets = [a for assignment in (*job.trial.assignments, f"name={job.trial.recipe_name}") for a in ("--set", assignment)]
    return [sys.executable, "-m", "mmbench", "run", str(sweep.recipe_path), *sets, "--seed", str(job.seed),
            "--results-dir", str(folder), "-q", *(a for p in plugins for a in ("--plugin", p))]


def _threads(jobs: int) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // jobs)


def _run_workers(sweep: Sweep, todo: list[Job], folder: Path, jobs: int, plugins: Sequence[str], out: SweepOutcome,
                 progress: Log) -> None:
    threads = str(_threads(jobs))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    progress(f"{len(todo)} job(s) on {jobs} workers, {threads} thread(s) each")

    def one(job: Job) -> tuple[Job, subprocess.CompletedProcess[str]]:
        return job, subprocess.run(worker_command(sweep, job, folder, plugins), env=env, capture_output=True,
                                   text=True)

    before = set((folder / "runs").rglob("*.json"))
    failures = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for i, done in enumerate(as_completed([pool.submit(one, job) for job in todo]), 1):
            job, proc = done.result()
            if proc.returncode:
                failures.append(Failure(job, _tail(proc.stderr or proc.stdout)))
                progress(f"[{i}/{len(todo)}] {job}: FAILED (exit {proc.returncode})")
            else:
                progress(f"[{i}/{len(todo)}] {job}: done")
    out.failures += sorted(failures, key=lambda f: todo.index(f.job))  # file order, not finishing order
    out.records += sorted(p for p in set((folder / "runs").rglob("*.json")) - before if not p.name.startswith("."))


def _warm_caches(trials: Sequence[Trial], progress: Log) -> None:
    """Prepare each distinct dataset and its features once, so N workers do not all build the same cache."""
    import json

    from mmbench.data.load import load_dataset
    from mmbench.runner.features import extract_all

    seen: set[str] = set()
    for trial in trials:
        recipe = trial.recipe
        key = json.dumps([recipe.dataset.model_dump(mode="json"),
                          {m: e.model_dump(mode="json") for m, e in recipe.encoders.items()}], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        try:
            data = load_dataset(recipe.dataset.name, recipe.dataset.params)
            if recipe.encoders:
                extract_all(recipe.encoders, data)
        except Exception as exc:  # the jobs themselves will fail and report it, with their trial
            progress(f"warning: preparing {recipe.dataset.name} for trial {trial.name} failed ({exc}); "
                     "its jobs will report the error")
