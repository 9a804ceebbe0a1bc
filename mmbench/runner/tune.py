"""Run a search sweep: an Optuna study whose trials are ordinary runs, here or as Ray tasks.

Each trial is the sweep's recipe with the sampled overrides, named ``<sweep>.t<NNN>``, training only the
tuned model (and, for a KD student, its teacher), without latency or robustness (they play no part in
selection). Its validation curve feeds the pruner at every ``eval_every``; a trial that ends writes one
ordinary run record per seed under the sweep's ``runs/``; its objective is the mean valid metric over the
sweep's seeds. Selection reads validation only (PROTOCOL rule 5).

One driver runs a study at a time (a lock file next to a local SQLite storage enforces it); trials run
in this process (``backend="local"``) or as Ray tasks on any Ray cluster (:mod:`mmbench.runner.ray_backend`).
"""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.recipe.schema import ModelSlot, Recipe
from mmbench.recipe.sweep import Sweep, assignment, compose_trial
from mmbench.results.sweep import sweep_dir

Log = Callable[[str], None]
#: what a trial never needs for selection: timing and missing-modality evaluation
TRIAL_SETTINGS = ("eval.latency.enabled=false", "eval.robustness.enabled=false")


class StudyError(MMBenchError):
    """A study cannot run (its storage is locked by another driver, or unreachable)."""


@dataclass
class TrialOutcome:
    """How one trial ended: ``complete`` (objective = mean valid metric), ``pruned`` or ``fail``."""

    state: str
    value: float | None = None
    valid: list[float] = field(default_factory=list)
    epochs: int | None = None
    seconds: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)  # Ray: the records, written by the driver
    paths: list[str] = field(default_factory=list)
    error: str | None = None


def trial_recipe(sweep: Sweep, params: dict[str, Any], original: int) -> Recipe:
    """The recipe of trial ``original`` with ``params`` (dotted path -> value), named ``<sweep>.t<NNN>``."""
    sets = [*(assignment(k, v) for k, v in params.items()), *TRIAL_SETTINGS]
    return compose_trial(sweep.recipe_path, sets, f"{sweep.name}.t{original:03d}")


def tuned_loc(path: str) -> tuple[Any, ...]:
    """``baselines.0`` -> ``("baselines", 0)``: the recipe location of the tuned model."""
    return tuple(int(p) if p.isdigit() else p for p in path.split("."))


def keep_slot(path: str, recipe: Recipe) -> Callable[[ModelSlot], bool]:
    """Which models a trial trains: the tuned one, plus the teacher of a tuned KD student."""
    loc = tuned_loc(path)

    def keep(slot: ModelSlot) -> bool:
        if slot.role == "baseline" and slot.loc == ("student",):
            return False  # the no-KD twin of a KD student is not what is tuned
        return slot.loc == loc or (path == "student" and bool(recipe.distill) and slot.role == "teacher")

    return keep


def _tuned_result(record: dict[str, Any], path: str) -> dict[str, Any]:
    role = "baseline" if path.startswith("baselines") else path
    return next(m for m in record["models"] if m["role"] == role and not m.get("without_kd_of"))


def execute_trial(recipe: Recipe, seeds: Sequence[int], path: str, metric: str, results_dir: Path,
                  report: Callable[[int, float], bool] | None, log: Log = lambda _: None) -> TrialOutcome:
    """Run one trial's seeds; ``report(epoch, value)`` (first seed's tuned model) returns True to prune."""
    import json

    from mmbench.runner.run import run_recipe
    from mmbench.runner.train import StopTrial, TrainingError

    t0 = time.perf_counter()
    done = recorded(results_dir, recipe, seeds)
    if len(done) == len(seeds):  # a trial whose driver died after its records were written: no second copy
        out = outcome_from_records([done[s] for s in seeds], path, metric, time.perf_counter() - t0)
        out.records = []  # `records` holds what this call wrote: nothing
        return out
    todo = [s for s in seeds if s not in done]
    first, loc = todo[0], tuned_loc(path)
    last_epoch = [0]

    def monitor(slot: ModelSlot, seed: int) -> Callable[[int, float], None] | None:
        if report is None or seed != first or slot.loc != loc or slot.role == "teacher" and path != "teacher":
            return None

        def on_validation(epoch: int, value: float) -> None:
            last_epoch[0] = epoch
            if report(epoch, value):
                raise StopTrial(f"pruned at epoch {epoch} (valid {metric} {value:.4f})")

        return on_validation

    try:
        paths = run_recipe(recipe, results_dir=results_dir, seeds=todo, log=log,
                           only=keep_slot(path, recipe), monitor=monitor)
    except StopTrial as exc:
        _drop_checkpoints(recipe)  # a pruned trial is never resumed
        return TrialOutcome("pruned", epochs=last_epoch[0], seconds=time.perf_counter() - t0, error=str(exc))
    except TrainingError as exc:  # a diverging setting is an outcome of the search, not a crash
        return TrialOutcome("fail", seconds=time.perf_counter() - t0, error=str(exc))
    new = {r["seed"]: r for r in (json.loads(Path(p).read_text()) for p in paths)}
    out = outcome_from_records([{**done, **new}[s] for s in seeds], path, metric, time.perf_counter() - t0)
    out.records = list(new.values())  # only what this call wrote (the Ray driver writes them once)
    out.paths = [str(p) for p in paths]
    return out


def recorded(folder: Path, recipe: Recipe, seeds: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The records a trial recipe already has in ``folder`` (same name and hash), by seed."""
    import json

    from mmbench.recipe.load import recipe_hash
    from mmbench.results.store import RUNS_DIR

    out: dict[int, dict[str, Any]] = {}
    want = recipe_hash(recipe)
    for p in sorted((Path(folder) / RUNS_DIR / str(recipe.name)).glob("*.json")):
        if p.name.startswith("."):
            continue
        rec = json.loads(p.read_text())
        if rec["recipe"]["hash"] == want and rec["seed"] in seeds:
            out[rec["seed"]] = rec
    return out


def outcome_from_records(records: list[dict[str, Any]], path: str, metric: str, seconds: float) -> TrialOutcome:
    """A complete trial's outcome: the mean valid metric of the tuned model over its records."""
    tuned = [_tuned_result(r, path) for r in records]
    valid = [float(m["metrics"]["valid"][metric]) for m in tuned]
    return TrialOutcome("complete", sum(valid) / len(valid), valid, epochs=tuned[0]["best_epoch"],
                        seconds=seconds, records=records)


def _drop_checkpoints(recipe: Recipe) -> None:
    import shutil

    from mmbench.cachedir import cache_root
    from mmbench.recipe.load import recipe_hash

    for folder in (cache_root() / "checkpoints").glob(f"{recipe.name}-{recipe_hash(recipe)[:12]}-*"):
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def driver_lock(folder: Path) -> Iterator[None]:
    """One driver per study folder: a second one fails at once instead of corrupting the study."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".study.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StudyError(f"another `mmbench sweep` is running this study ({folder}); wait for it or stop it "
                             "(a study has one driver; add workers with --backend ray --workers N)") from None
        yield


def storage_url(sweep: Sweep, folder: Path) -> str:
    """The study's Optuna storage: the search block's URL, else SQLite in the sweep's results folder."""
    assert sweep.search is not None
    return sweep.search.spec.storage or f"sqlite:///{(folder / 'study.db').resolve()}"


@dataclass
class StudyRun:
    """What one driver session did."""

    folder: Path
    storage: str
    recovered: list[int]
    ended: int
    wall_s: float
    failures: list[str] = field(default_factory=list)


def run_study(sweep: Sweep, *, results_dir: Path, backend: str = "local", address: str | None = None,
              workers: int = 1, cpus_per_trial: int = 1, gpus_per_trial: float = 0, plugins: Sequence[str] = (),
              log: Log = print, progress: Log = print, on_trial_end: Callable[[], None] | None = None) -> StudyRun:
    """Run a search sweep until its budget of trials has ended; resumable from its storage.

    ``on_trial_end()`` is called by the driver after each trial it ran has ended and been stored (a tracker
    reads the study's storage then); an exception from it is the caller's to handle."""
    from mmbench.runner.study import StudyHandle

    assert sweep.search is not None
    folder = sweep_dir(results_dir, sweep)
    with driver_lock(folder):
        url = storage_url(sweep, folder)
        t0 = time.time()
        if backend == "ray":
            from mmbench.runner.ray_backend import run_study_on_ray

            recovered, ended, failures = run_study_on_ray(sweep, folder, url, address=address, workers=workers,
                                                          cpus_per_trial=cpus_per_trial, plugins=plugins,
                                                          progress=progress, gpus_per_trial=gpus_per_trial,
                                                          on_trial_end=on_trial_end)
        else:
            handle = StudyHandle(url, sweep.name, sweep.search)
            recovered = handle.recover()
            if recovered:
                progress(f"re-running interrupted trial(s) {recovered} with the same params")
            session = {"backend": "local", "workers": 1, "cpus_per_trial": cpus_per_trial, "started_at": t0}
            ended, failures = _local_loop(sweep, handle, folder, log, progress, session, on_trial_end)
        return StudyRun(folder, url, recovered, ended, time.time() - t0, failures)


def finish_study(sweep: Sweep, results_dir: Path, *, plot: bool = True) -> dict[str, Any]:
    """Write the study's summary (md, json), its plot and, once the budget is used, the tuned recipe.

    Returns the paths written (``summary_md``, ``summary_json``, ``plot``, ``tuned_recipe``) and the summary.
    """
    from mmbench.results.tune import plot_study, summarize_study, write_study_summary
    from mmbench.results.tuned_recipe import relative_path, tuned_recipe_path, write_tuned_recipe
    from mmbench.runner.study import StudyHandle

    assert sweep.search is not None
    folder = sweep_dir(results_dir, sweep)
    handle = StudyHandle(storage_url(sweep, folder), sweep.name, sweep.search)
    summary = summarize_study(sweep, handle.trials(), handle.sessions())
    out: dict[str, Any] = {"summary": summary, "tuned_recipe": None, "plot": None}
    if summary.complete and summary.best is not None:
        base = compose_trial(sweep.recipe_path, [], "budget-check")
        target = tuned_recipe_path(sweep, base.dataset.name)
        out["tuned_recipe"] = write_tuned_recipe(summary, target, relative_path(folder / "summary.json"),
                                                 sweep.search.spec.final_seeds)
    tuned = relative_path(out["tuned_recipe"]) if out["tuned_recipe"] else None
    out["summary_md"], out["summary_json"] = write_study_summary(summary, folder, tuned)
    if plot and summary.ended:
        out["plot"] = plot_study(summary, folder / "search.png")
    return out


def describe_outcome(number: int, original: int, params: dict[str, Any], out: TrialOutcome, metric: str) -> str:
    """One progress line for an ended trial."""
    what = (f"valid {metric} {out.value:.4f}" if out.state == "complete" else
            out.error or out.state)
    short = ", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
                      for k, v in params.items())
    return f"trial {number} (t{original:03d}) {out.state}: {what} · {short} · {out.seconds:.0f}s"


def outcome_attrs(original: int, out: TrialOutcome, where: str) -> dict[str, Any]:
    """What the study keeps of an ended trial, besides its value and state."""
    return {"recipe_trial": original, "epochs": out.epochs, "seconds": out.seconds, "valid_per_seed": out.valid,
            "error": out.error, "where": where}


def _local_loop(sweep: Sweep, handle: Any, folder: Path, log: Log, progress: Log, session: dict[str, Any],
                on_trial_end: Callable[[], None] | None = None) -> tuple[int, list[str]]:
    assert sweep.search is not None
    ended, failures = 0, []
    while handle.counted() < sweep.search.spec.trials:
        number, params, original = handle.ask()
        progress(f"trial {number} ({handle.counted() + 1}/{sweep.search.spec.trials}) ...")
        try:
            recipe = trial_recipe(sweep, params, original)
            out = execute_trial(recipe, sweep.seeds, sweep.search.model_path, sweep.metric, folder,
                                lambda step, value, n=number: handle.report(n, step, value), log)
        except Exception as exc:  # noqa: BLE001 - one trial's crash is recorded; the study goes on
            out = TrialOutcome("fail", error=f"{type(exc).__name__}: {exc}")
            failures.append(f"trial {number}: {traceback.format_exc(limit=-3)}")
        handle.tell(number, out.state, out.value, outcome_attrs(original, out, "local"))
        ended += 1
        handle.log_session({**session, "wall_s": time.time() - session["started_at"], "trials_ended": ended})
        progress(describe_outcome(number, original, params, out, sweep.metric))
        if on_trial_end is not None:
            on_trial_end()
    return ended, failures


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    """Where a remote trial writes its records before returning them to the driver."""
    return tempfile.TemporaryDirectory(prefix="mmbench-trial-")
