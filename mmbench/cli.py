"""The ``mmbench`` command line. Heavy imports (torch, pandas) happen inside commands, so ``--help`` is fast."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mmbench import __version__
from mmbench.cli_options import tracking_options
from mmbench.errors import MMBenchError

def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Print mmbench's input errors as one clear message and exit 2, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MMBenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def _load(plugins: tuple[str, ...] = ()) -> None:
    from mmbench.registry import load_plugins

    load_plugins(plugins)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mmbench")
def main() -> None:
    """mmbench: multimodal recommendation with knowledge distillation, benchmarked under a strict protocol.

    \b
    Typical use:
      mmbench ls                          # every registered component, by kind
      mmbench validate recipes/*.yaml     # check recipes (all errors at once)
      mmbench features RECIPE             # extract (and cache) a recipe's item features
      mmbench run recipes/quickstart.yaml # train, evaluate, write run records
      mmbench leaderboard                 # aggregate records into a table
      mmbench export --recipe NAME --out DIR   # a run's trained student as a served folder
      mmbench recommend DIR --user RAW_ID # top-K from that folder (fast: no training stack)
    """
    from mmbench.allocator import keep_freed_memory

    keep_freed_memory()  # faster training and evaluation; MMBENCH_MALLOC_TUNING=0 turns it off


@main.command()
@click.argument("recipes", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe field by dotted path, e.g. --set student.params.dim=128 (repeatable).")
@click.option("--seed", "seeds", multiple=True, type=int, help="Run these seeds instead of the recipe's (repeatable).")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where run records are written (under runs/); default: $MMBENCH_RESULTS_DIR, else ./mmbench-results "
                   "(never the committed results/ unless you name it).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (and the evaluator); default: $MMBENCH_THREADS, else torch's own default "
                   "(one per core). Recorded in every record. On a machine other jobs share, 1 is often much faster.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Import a module that registers components, e.g. --plugin acme_mm.components (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="Only print the final table.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Checkpoint every epoch and continue a killed run from its last epoch.")
@click.option("--reuse/--no-reuse", default=True, show_default=True,
              help="Load a model an identical earlier run trained (same code, data, split, seed, params, "
                   "training; for a KD student the same teacher and losses) instead of training it again.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: every seed is a Ray task (on a local Ray, or the cluster at --address / RAY_ADDRESS).")
@click.option("--address", default=None, metavar="HOST:PORT", help="Ray: an existing cluster.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Ray: seeds in flight at once (a local Ray gets workers × cpus-per-trial CPUs).")
@click.option("--cpus-per-trial", type=click.IntRange(min=1), default=1, show_default=True,
              help="Ray: CPUs each seed's task declares (and its torch threads).")
@click.option("--missing", is_flag=True,
              help="Run only the seeds with no record of this recipe (same name and hash) in --results-dir yet: "
                   "a long multi-seed suite continues where it stopped.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where models train and are evaluated (local backend): auto = cuda when present, else cpu.")
@tracking_options("each record as it is written: params, curves, metrics, the record and recipe as artefacts",
                  "the recipe name")
@_friendly
def run(recipes: tuple[Path, ...], overrides: tuple[str, ...], seeds: tuple[int, ...], results_dir: Path | None,
        threads: int | None, plugins: tuple[str, ...], quiet: bool, resume: bool, reuse: bool, backend: str,
        address: str | None, workers: int, cpus_per_trial: int, missing: bool, device: str, track: str,
        tracking_uri: str | None, experiment: str | None) -> None:
    """Run recipes: prepare data, train (selecting on valid), test once, write one record per seed.

    Several recipes run one after the other (every one is validated first); with --backend ray every
    (recipe, seed) of every recipe is a Ray task in one pool, so no worker waits for a recipe's last seed (a
    recipe that reuses models another trains, e.g. a KD recipe and its teacher's, belongs in a later call).
    """
    _load(plugins)
    from tabulate import tabulate

    from mmbench.recipe.load import load_recipe
    from mmbench.results.store import default_results_dir
    from mmbench.results.terminal import kd_lines, summary_rows
    from mmbench.cli_track import start_tracking
    from mmbench.runner.run import run_recipe
    from mmbench.runner.threads import set_threads

    results_dir = results_dir if results_dir is not None else default_results_dir()
    specs = [load_recipe(recipe, overrides) for recipe in recipes]  # every recipe valid before anything runs
    if backend == "local":
        for line in set_threads(threads):
            click.echo(line, err=True)
    tracking = start_tracking(track, tracking_uri, experiment, [spec.name or "recipe" for spec in specs], quiet)
    todo = [list(dict.fromkeys(seeds or spec.seeds)) for spec in specs]
    if missing:
        todo = [_unrecorded(spec, want, results_dir) for spec, want in zip(specs, todo)]
    else:
        _note_recorded(specs, todo, results_dir)
    by_recipe: list[list[Path]] = []
    failed: list[tuple[int, str]] = []
    if backend == "ray":
        from mmbench.runner.ray_backend import run_jobs_on_ray

        # every (recipe, seed) of every recipe in one pool: no worker idles while another recipe has seeds left
        jobs = [(spec, seed, results_dir) for spec, want in zip(specs, todo) for seed in want]
        owner = [k for k, want in enumerate(todo) for _ in want]
        by_recipe = [[] for _ in specs]
        if jobs:
            written, failed = run_jobs_on_ray(jobs, address=address, workers=workers, cpus_per_trial=cpus_per_trial,
                                              plugins=plugins, progress=lambda m: click.echo(m, err=True),
                                              recipe_paths=[str(recipes[k]) for k in owner], resume=resume,
                                              reuse=reuse)
            folders = [spec.name or "recipe" for spec in specs]  # records land in runs/<recipe name>/
            for path in written:
                by_recipe[folders.index(path.parent.name)].append(path)
                if tracking is not None:
                    tracking(path)
        for i, error in failed:
            click.echo(f"{jobs[i][0].name} seed {jobs[i][1]} FAILED: {error}", err=True)
    else:
        for recipe, spec, want in zip(recipes, specs, todo):
            if not want:  # --missing: every seed is recorded already
                by_recipe.append([])
                continue
            by_recipe.append(run_recipe(spec, results_dir=results_dir, seeds=want, device=device,
                                        recipe_path=str(recipe), resume=resume, reuse=reuse, on_record=tracking,
                                        log=(lambda _: None) if quiet else (lambda m: click.echo(m, err=True))))
    for spec, paths in zip(specs, by_recipe):
        if not paths:  # --missing and nothing left to run: no table to print
            continue
        table = summary_rows(paths)
        # Recall@20 and NDCG@20 are the literature's headline pair (LightGCN, MMRec); Recall@K equals HR@K when each
        # user has one test item. The recipe's selection metric is shown too.
        cols = ["seed", "role", "component", "HR@10", "NDCG@10", "Recall@20", "NDCG@20", spec.train.select_metric,
                "latency_ms_p50", "params"]
        cols = [c for c in dict.fromkeys(cols) if any(c in r for r in table)]
        if len(specs) > 1:
            click.echo(f"\n{spec.name}")
        click.echo(tabulate([[r.get(c, "") for c in cols] for r in table], headers=cols, tablefmt="github",
                            floatfmt=".4f", intfmt=","))
        for line in kd_lines(paths):
            click.echo(line)
    paths = [p for group in by_recipe for p in group]
    click.echo(f"\n{len(paths)} record(s) in {results_dir / 'runs'}; `mmbench leaderboard --results-dir {results_dir}`")
    tracked = tracking.finish() if tracking is not None else True
    if failed or not tracked:  # every other job ran and its record was written
        sys.exit(1)


def _note_recorded(specs: list[Any], todo: list[list[int]], results_dir: Path) -> None:
    """Say so when a seed about to run already has a record here: the leaderboard will count the newest."""
    from mmbench.runner.tune import recorded

    for spec, want in zip(specs, todo):
        have = recorded(results_dir, spec, want)
        if have:
            click.echo(f"note: {spec.name} seed(s) {sorted(have)} already have a record in {results_dir / 'runs' / spec.name}; "
                       "the new one will be counted instead (the leaderboard counts the newest and lists the "
                       "others); --missing skips recorded seeds", err=True)


def _unrecorded(spec: Any, seeds: list[int], results_dir: Path) -> list[int]:
    """The seeds of ``seeds`` that ``results_dir`` holds no record of for this recipe (name and hash)."""
    from mmbench.runner.tune import recorded

    have = recorded(results_dir, spec, seeds)
    if have:
        click.echo(f"{spec.name}: seed(s) {sorted(have)} already recorded in {results_dir / 'runs' / spec.name}, "
                   f"not run again (--missing)", err=True)
    return [s for s in seeds if s not in have]


@main.command()
@click.argument("recipes", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a field (repeatable).")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import a plugin module (repeatable).")
@_friendly
def validate(recipes: tuple[Path, ...], overrides: tuple[str, ...], plugins: tuple[str, ...]) -> None:
    """Validate recipes (and sweep files), printing every error with its YAML path; exit 2 if any is invalid."""
    _load(plugins)
    from mmbench.errors import RecipeError
    from mmbench.recipe.load import load_recipe, recipe_hash

    from mmbench.recipe.sweep import is_sweep_file, load_sweep

    failed = 0
    for path in recipes:
        try:
            if is_sweep_file(path):  # a sweep validates as one: its file and every trial's recipe
                if overrides:
                    raise RecipeError(str(path), ["--set applies to recipes, not to sweep files"])
                sweep = load_sweep(path)
                click.echo(f"ok: {path} (sweep {sweep.name}, {len(sweep.trials)} trial(s) of {sweep.recipe_path})")
                continue
            spec = load_recipe(path, overrides)
        except RecipeError as exc:
            failed += 1
            click.echo(str(exc), err=True)
            continue
        click.echo(f"ok: {path} (name {spec.name}, hash {recipe_hash(spec)})")
    if failed:
        click.echo(f"{failed} of {len(recipes)} recipe(s) invalid", err=True)
        sys.exit(2)


def _add_subcommands() -> None:
    from mmbench.cli_data import data, features  # defined in their own module to keep this one small
    from mmbench.cli_bench import bench
    from mmbench.cli_check import check
    from mmbench.cli_sweep import studies, sweep
    from mmbench.cli_parity import parity
    from mmbench.cli_registry import index, ls
    from mmbench.cli_track import track
    from mmbench.cli_leaderboard import leaderboard
    from mmbench.cli_serve import export, recommend

    main.add_command(data)
    main.add_command(features)
    main.add_command(check)
    main.add_command(bench)
    main.add_command(sweep)
    main.add_command(studies)
    main.add_command(parity)
    main.add_command(ls)
    main.add_command(index)
    main.add_command(track)
    main.add_command(leaderboard)
    main.add_command(export)
    main.add_command(recommend)


_add_subcommands()

if __name__ == "__main__":
    main()
