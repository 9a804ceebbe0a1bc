"""Ray as the distributed backend: trials, seeds and recipes as Ray tasks with declared resources.

``--backend ray`` connects to an existing cluster (``--address``, or ``RAY_ADDRESS``) or starts a local Ray
with ``workers × cpus_per_trial`` CPUs. Every job is a task with ``num_cpus=cpus_per_trial`` (and
``num_gpus`` when asked) whose torch uses that many threads; it runs where Ray places it, writes its records
to a scratch folder and returns them, and the driver writes them into the results folder: records land
exactly where the local backend puts them, whichever node ran the job, and only once per job.

A study's :class:`~mmbench.runner.study.StudyHandle` runs as an actor pinned to the driver's node, so
workers report their validation curves to it (for the pruner) and never touch the storage. A task whose
node dies is retried by Ray on another node (``max_retries``), resuming from its last epoch checkpoint when
the nodes share the cache folder; a task that still cannot finish is re-queued with the same parameters.

Every node needs mmbench installed (the same version) and the recipe's data reachable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.recipe.schema import Recipe
from mmbench.recipe.sweep import Sweep
from mmbench.runner.tune import (TrialOutcome, describe_outcome, execute_trial, outcome_attrs, outcome_from_records,
                                 recorded, scratch_dir, trial_recipe)

#: Ray retries a task this often when its worker or node dies (not when the job itself raises)
MAX_RETRIES = 3


def connect(address: str | None, workers: int, cpus_per_trial: int, gpus_per_trial: float = 0) -> Any:
    """Connect to the cluster at ``address`` (or ``RAY_ADDRESS``), else start a local Ray sized for the workers.

    The local Ray is always a new one (``address="local"``): a bare ``ray.init()`` would join whatever cluster
    ``ray start`` last left on this machine (``/tmp/ray/ray_current_cluster``), another job's or a dead one, and
    then refuse the worker count."""
    try:
        import ray
    except ImportError:
        raise MMBenchError("--backend ray needs Ray, which is not installed; fix: pip install 'mmbench[ray]' (or "
                           "leave out --backend ray to run in this process)") from None

    if ray.is_initialized():
        return ray
    threads = str(cpus_per_trial)
    env = {"env_vars": {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                        **({"MMBENCH_CACHE_DIR": os.environ["MMBENCH_CACHE_DIR"]}
                           if "MMBENCH_CACHE_DIR" in os.environ else {})}}
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level="warning")
    else:
        ray.init(address="local", num_cpus=workers * cpus_per_trial,
                 num_gpus=int(workers * gpus_per_trial) or None, runtime_env=env, include_dashboard=False,
                 log_to_driver=False, logging_level="warning")
    return ray


def _prepare_worker(plugins: Sequence[str], threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    from mmbench.registry import load_plugins

    load_plugins(list(plugins))


def _trial_task(recipe_json: dict[str, Any], seeds: list[int], path: str, metric: str, number: int, study: Any,
                plugins: list[str], threads: int) -> TrialOutcome:
    """One trial on a Ray worker; its curve goes to the study actor, its records back to the driver."""
    import ray

    _prepare_worker(plugins, threads)
    recipe = Recipe.model_validate(recipe_json)

    def report(step: int, value: float) -> bool:
        return bool(ray.get(study.report.remote(number, step, value)))

    with scratch_dir() as tmp:
        out = execute_trial(recipe, seeds, path, metric, Path(tmp), report)
    out.paths = []
    out.error = out.error and f"{out.error} (on {ray.util.get_node_ip_address()})"
    return out


def _run_task(recipe_json: dict[str, Any], seed: int, plugins: list[str], threads: int,
              recipe_path: str | None = None, resume: bool = True, reuse: bool = True) -> list[dict[str, Any]]:
    """One (recipe, seed) run on a Ray worker; returns its records for the driver to write."""
    import json

    from mmbench.runner.run import run_recipe

    _prepare_worker(plugins, threads)
    with scratch_dir() as tmp:
        paths = run_recipe(Recipe.model_validate(recipe_json), results_dir=Path(tmp), seeds=[seed],
                           recipe_path=recipe_path, log=lambda _: None, resume=resume, reuse=reuse)
        return [json.loads(Path(p).read_text()) for p in paths]


def _write(folder: Path, records: Sequence[dict[str, Any]]) -> list[Path]:
    from mmbench.results.record import RunRecord
    from mmbench.results.store import write_record

    return [write_record(folder, RunRecord.model_validate(r)) for r in records]


def run_study_on_ray(sweep: Sweep, folder: Path, url: str, *, address: str | None, workers: int,
                     cpus_per_trial: int, plugins: Sequence[str], progress: Any,
                     gpus_per_trial: float = 0, on_trial_end: Callable[[], None] | None = None,
                     ) -> tuple[list[int], int, list[str]]:
    """Keep ``workers`` trials in flight on Ray until the study's budget has ended; returns (recovered trials,
    trials ended, failures). ``on_trial_end()`` runs on the driver after each trial has ended and been stored."""
    import time

    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from mmbench.runner.study import StudyHandle

    assert sweep.search is not None
    ray = connect(address, workers, cpus_per_trial, gpus_per_trial)
    here = ray.get_runtime_context().get_node_id()
    study = ray.remote(StudyHandle).options(
        num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
    ).remote(url, sweep.name, sweep.search)
    recovered = ray.get(study.recover.remote())
    if recovered:
        progress(f"re-running interrupted trial(s) {recovered} with the same params")
    task = ray.remote(_trial_task).options(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial,
                                           max_retries=MAX_RETRIES, retry_exceptions=False)
    budget, t0 = sweep.search.spec.trials, time.time()
    flight: dict[Any, tuple[int, dict[str, Any], int]] = {}
    ended, failures = 0, []
    session = {"backend": "ray", "workers": workers, "cpus_per_trial": cpus_per_trial, "started_at": t0,
               "address": address or os.environ.get("RAY_ADDRESS") or "local"}
    while True:
        counted = ray.get(study.counted.remote())
        while len(flight) < workers and counted + len(flight) < budget:
            number, params, original = ray.get(study.ask.remote())
            try:
                recipe = trial_recipe(sweep, params, original)
            except Exception as exc:  # noqa: BLE001 - a sampled value the recipe refuses ends the trial
                ray.get(study.tell.remote(number, "fail", None, {"error": str(exc), "recipe_trial": original}))
                failures.append(f"trial {number}: {exc}")
                counted += 1
                continue
            have = recorded(folder, recipe, sweep.seeds)
            if len(have) == len(sweep.seeds):  # the driver died after writing them: count, never rerun
                out = outcome_from_records([have[x] for x in sweep.seeds], sweep.search.model_path,
                                           sweep.metric, 0.0)
                ray.get(study.tell.remote(number, out.state, out.value, outcome_attrs(original, out, "records")))
                counted += 1
                continue
            ref = task.remote(recipe.model_dump(mode="json"), list(sweep.seeds), sweep.search.model_path,
                              sweep.metric, number, study, list(plugins), cpus_per_trial)
            flight[ref] = (number, params, original)
            progress(f"trial {number} (t{original:03d}) started ({counted + len(flight)}/{budget} in flight "
                     "or ended)")
        if not flight:
            break
        ready, _ = ray.wait(list(flight), num_returns=1)
        number, params, original = flight.pop(ready[0])
        try:
            out: TrialOutcome = ray.get(ready[0])
        except ray.exceptions.RayError as exc:  # retries used up (nodes lost): run its params again later
            ray.get(study.interrupt.remote(number))
            progress(f"trial {number} (t{original:03d}) lost ({type(exc).__name__}); re-queued with its params")
            continue
        out.paths = [str(p) for p in _write(folder, out.records)]
        out.records = []
        ray.get(study.tell.remote(number, out.state, out.value, outcome_attrs(original, out, "ray")))
        ended += 1
        ray.get(study.log_session.remote({**session, "wall_s": time.time() - t0, "trials_ended": ended}))
        progress(describe_outcome(number, original, params, out, sweep.metric))
        if on_trial_end is not None:
            on_trial_end()
    return recovered, ended, failures


def run_jobs_on_ray(jobs: Sequence[tuple[Recipe, int, Path]], *, address: str | None, workers: int,
                    cpus_per_trial: int, plugins: Sequence[str] = (), progress: Any = print,
                    gpus_per_trial: float = 0, recipe_path: str | None = None, resume: bool = True,
                    reuse: bool = True, recipe_paths: Sequence[str | None] | None = None
                    ) -> tuple[list[Path], list[tuple[int, str]]]:
    """Run (recipe, seed, results folder) jobs as Ray tasks, all in one pool (a worker that finishes takes the
    next job, whichever recipe it belongs to); returns the records written and the failures (job index,
    error). ``recipe_path`` is the file the recipes came from, for the records; ``recipe_paths`` gives one
    per job instead (jobs of several recipes)."""
    if recipe_paths is not None and len(recipe_paths) != len(jobs):
        raise ValueError(f"recipe_paths: {len(recipe_paths)} paths for {len(jobs)} jobs")
    paths = list(recipe_paths) if recipe_paths is not None else [recipe_path] * len(jobs)
    ray = connect(address, workers, cpus_per_trial, gpus_per_trial)
    task = ray.remote(_run_task).options(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial,
                                         max_retries=MAX_RETRIES, retry_exceptions=False)
    refs = {task.remote(r.model_dump(mode="json"), seed, list(plugins), cpus_per_trial, paths[i], resume,
                        reuse): i
            for i, (r, seed, _) in enumerate(jobs)}
    written, failures = [], []
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        i = refs[ready[0]]
        recipe, seed, folder = jobs[i]
        try:
            written += _write(folder, ray.get(ready[0]))
            progress(f"[{len(refs) - len(pending)}/{len(refs)}] {recipe.name} seed {seed}: done")
        except Exception as exc:  # noqa: BLE001 - one job's failure must not lose the others
            failures.append((i, f"{type(exc).__name__}: {exc}"))
            progress(f"[{len(refs) - len(pending)}/{len(refs)}] {recipe.name} seed {seed}: FAILED")
    return written, failures
