"""``mmbench sweep``: an explicit list of trials, or a tuning study (``search:``), selected on validation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mmbench.cli import _friendly, _load
from mmbench.cli_options import tracking_options

if TYPE_CHECKING:
    from mmbench.cli_track import SweepTracker


@click.command()
@click.argument("sweep_file", metavar="SWEEP.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Records go under sweeps/<sweep name>/ here (never into the leaderboard's runs/); default: "
                   "$MMBENCH_RESULTS_DIR, else ./mmbench-results. The committed studies are in results/: "
                   "--results-dir results continues one of them.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="1: run in this process, in order. N: N `mmbench run` workers with cpu_count // N threads each.")
@click.option("--rerun", is_flag=True, help="Run every (trial, seed) even when its record exists.")
@click.option("--dry-run", is_flag=True, help="Validate and print the trials; run nothing, write nothing.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import a plugin module (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the runs' training logs.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this machine (--jobs). ray: every trial / (trial, seed) is a Ray task on a local Ray or "
                   "the cluster at --address.")
@click.option("--address", default=None, metavar="HOST:PORT",
              help="Ray: an existing cluster (default: RAY_ADDRESS, else start a local Ray).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Ray: jobs in flight at once (a local Ray gets workers × cpus-per-trial CPUs).")
@click.option("--cpus-per-trial", type=click.IntRange(min=1), default=1, show_default=True,
              help="Ray: CPUs each job declares (and its torch threads).")
@click.option("--gpus-per-trial", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Ray: GPUs each job declares.")
@click.option("--recipe", "recipe", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Run the sweep or study on this recipe instead of the file's (e.g. your own data); it is then "
                   "named <sweep>.<recipe stem>.")
@tracking_options("the sweep: a run for the sweep, one per study trial as it ends (pruned and failed too), each "
                  "trial's records nested under it", "the sweep name")
@_friendly
def sweep(sweep_file: Path, results_dir: Path | None, jobs: int, rerun: bool, dry_run: bool, plugins: tuple[str, ...],
          quiet: bool, backend: str, address: str | None, workers: int, cpus_per_trial: int,
          gpus_per_trial: float, recipe: Path | None, track: str, tracking_uri: str | None,
          experiment: str | None) -> None:
    """Run a sweep file: its explicit trials over its seeds, or its tuning study (`search:`); select on VALID.

    Every trial and recipe is validated before anything runs (all errors at once, exit 2). Explicit trials:
    a (trial, seed) whose record exists with the same recipe hash is skipped. A study continues from its
    storage (trials a killed driver left running are run again with their params) until its budget of
    trials has ended, then writes the tuned recipe. Writes summary.md and summary.json next to the records;
    only the selected trial's test value is shown. Exit 1 if a job failed.
    """
    _load(plugins)
    from mmbench.results.store import default_results_dir

    results_dir = results_dir if results_dir is not None else default_results_dir()
    from tabulate import tabulate

    from mmbench.results.sweep import markdown, summarize, write_summary
    from mmbench.runner.sweep import load_sweep, plan, run_sweep, sweep_dir

    def say(message: str) -> None:
        click.echo(message, err=True)

    spec = load_sweep(sweep_file, recipe)
    folder = sweep_dir(results_dir, spec)
    tracking = None if dry_run else _sweep_tracking(track, tracking_uri, experiment, spec, folder, quiet)
    if spec.search is not None:
        _study(spec, results_dir, dry_run=dry_run, quiet=quiet, backend=backend, address=address, workers=workers,
               cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, plugins=plugins, tracking=tracking)
        return
    if dry_run:
        todo = {(j.trial.name, j.seed) for j in plan(spec, results_dir, rerun=rerun).run}
        rows = [[t.name, ", ".join(t.assignments) or "(recipe as is)", ",".join(map(str, spec.seeds)), t.hash,
                 ",".join(str(s) for s in spec.seeds if (t.name, s) not in todo) or "-"] for t in spec.trials]
        click.echo(tabulate(rows, headers=["trial", "set", "seeds", "recipe hash", "recorded seeds"],
                            tablefmt="github", disable_numparse=True))
        click.echo(f"\ndry run: {len(spec.trials)} trial(s) × {len(spec.seeds)} seed(s), {len(todo)} job(s) to run "
                   f"into {folder}; select on valid {spec.metric} of the {spec.role}")
        return
    outcome = run_sweep(spec, results_dir=results_dir, jobs=jobs, rerun=rerun, plugins=plugins,
                        log=(lambda _: None) if quiet else say, progress=say, backend=backend,
                        ray_options={"address": address, "workers": workers, "cpus_per_trial": cpus_per_trial,
                                     "gpus_per_trial": gpus_per_trial})
    for job in outcome.plan.skipped:
        say(f"skipped {job}: its record exists (same recipe hash); --rerun to run it again")
    summary = summarize(spec, results_dir, failed={f.job.trial.name for f in outcome.failures})
    md, js = write_summary(summary)
    click.echo(markdown(summary), nl=False)
    click.echo(f"\nwrote {md} and {js}; {len(outcome.records)} new record(s), {len(outcome.plan.skipped)} skipped")
    tracked = True
    if tracking is not None:
        tracking.sync_records()
        tracked = tracking.finish(None, [md, js])
    if outcome.failures:
        for failure in outcome.failures:
            say(f"\nFAILED {failure.job}:\n" + "\n".join(f"  {line}" for line in failure.tail.splitlines()))
        say(f"\n{len(outcome.failures)} of {len(outcome.plan.run)} job(s) failed; the others' records are kept")
    if outcome.failures or not tracked:
        sys.exit(1)


def _sweep_tracking(track: str, uri: str | None, experiment: str | None, spec: object, folder: Path,
                    quiet: bool) -> SweepTracker | None:
    """The sweep's MLflow tracker (the store and experiment opened before anything runs), or None when off."""
    from mmbench.cli_track import SweepTracker, start_tracking
    from mmbench.recipe.sweep import Sweep

    assert isinstance(spec, Sweep)
    opened = start_tracking(track, uri, experiment, [spec.name], quiet)
    return None if opened is None else SweepTracker(opened.tracker, spec, folder, experiment, quiet)


def _study(spec: object, results_dir: Path, *, dry_run: bool, quiet: bool, backend: str, address: str | None,
           workers: int, cpus_per_trial: int, gpus_per_trial: float, plugins: tuple[str, ...],
           tracking: SweepTracker | None = None) -> None:
    """Run (or describe) a search sweep's study, then write its summary, plot and tuned recipe."""
    from mmbench.recipe.sweep import Sweep
    from mmbench.results.tune import markdown
    from mmbench.runner.tune import finish_study, run_study, storage_url, sweep_dir

    assert isinstance(spec, Sweep) and spec.search is not None
    search = spec.search

    def say(message: str) -> None:
        click.echo(message, err=True)

    if dry_run:
        from mmbench.search_space import describe

        budget = search.budget(0, len(spec.seeds))
        click.echo(f"study {spec.name}: tunes {search.model_path} ({search.component}) of {spec.recipe_path}\n"
                   f"space: {describe(search.space)}\n"
                   f"budget: {budget['trials']} trials, {budget['sampler']} sampler, {budget['pruner']} pruner, "
                   f"seeds {', '.join(map(str, spec.seeds))}; selection on valid {spec.metric}\n"
                   f"storage: {storage_url(spec, sweep_dir(results_dir, spec))}\ndry run: nothing ran")
        return
    if backend == "local" and gpus_per_trial:
        raise click.UsageError("--gpus-per-trial needs --backend ray")
    run = run_study(spec, results_dir=results_dir, backend=backend, address=address, workers=workers,
                    cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, plugins=plugins,
                    log=(lambda _: None) if quiet else say, progress=say,
                    on_trial_end=tracking.sync_study if tracking is not None else None)
    out = finish_study(spec, results_dir)
    click.echo(markdown(out["summary"], str(out["tuned_recipe"]) if out["tuned_recipe"] else None), nl=False)
    written = [p for p in (out["summary_md"], out["summary_json"], out["plot"], out["tuned_recipe"]) if p]
    click.echo(f"\nstudy storage {run.storage}; this session ended {run.ended} trial(s) in {run.wall_s:.0f} s; "
               f"wrote {', '.join(map(str, written))}")
    tracked = True
    if tracking is not None:
        tracking.sync_study()  # also the trials a session without --track ended
        tracked = tracking.finish(out["summary"], written)
    if run.failures:
        for failure in run.failures:
            say(f"\n{failure}")
    if run.failures or not tracked:
        sys.exit(1)


@click.command()
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="The results root whose sweeps/ holds the studies.")
@_friendly
def studies(results_dir: Path) -> None:
    """Every tuning study's progress: trials ended of its budget, best VALID value, wall time, tuned recipe."""
    from mmbench.results.tune import studies_table

    click.echo(studies_table(results_dir))
