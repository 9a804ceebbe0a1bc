"""``mmbench sweep``: run an explicit list of recipe overrides over seeds and select a trial on validation."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mmbench.cli import _friendly, _load


@click.command()
@click.argument("sweep_file", metavar="SWEEP.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Records go under sweeps/<sweep name>/ here (never into the leaderboard's runs/).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="1: run in this process, in order. N: N `mmbench run` workers with cpu_count // N threads each.")
@click.option("--rerun", is_flag=True, help="Run every (trial, seed) even when its record exists.")
@click.option("--dry-run", is_flag=True, help="Validate and print the trials; run nothing, write nothing.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import a plugin module (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the runs' training logs.")
@_friendly
def sweep(sweep_file: Path, results_dir: Path, jobs: int, rerun: bool, dry_run: bool, plugins: tuple[str, ...],
          quiet: bool) -> None:
    """Run a sweep file's trials over its seeds and select the trial with the best mean VALID metric.

    Every trial and recipe is validated before anything runs (all errors at once, exit 2). A (trial, seed)
    whose record exists with the same recipe hash is skipped. Writes summary.md and summary.json next to
    the records; only the selected trial's test value is shown. Exit 1 if a job failed.
    """
    _load(plugins)
    from tabulate import tabulate

    from mmbench.results.sweep import markdown, summarize, write_summary
    from mmbench.runner.sweep import load_sweep, plan, run_sweep, sweep_dir

    def say(message: str) -> None:
        click.echo(message, err=True)

    spec = load_sweep(sweep_file)
    folder = sweep_dir(results_dir, spec)
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
                        log=(lambda _: None) if quiet else say, progress=say)
    for job in outcome.plan.skipped:
        say(f"skipped {job}: its record exists (same recipe hash); --rerun to run it again")
    summary = summarize(spec, results_dir, failed={f.job.trial.name for f in outcome.failures})
    md, js = write_summary(summary)
    click.echo(markdown(summary), nl=False)
    click.echo(f"\nwrote {md} and {js}; {len(outcome.records)} new record(s), {len(outcome.plan.skipped)} skipped")
    if outcome.failures:
        for failure in outcome.failures:
            say(f"\nFAILED {failure.job}:\n" + "\n".join(f"  {line}" for line in failure.tail.splitlines()))
        say(f"\n{len(outcome.failures)} of {len(outcome.plan.run)} job(s) failed; the others' records are kept")
        sys.exit(1)
