"""``mmbench leaderboard``: run records aggregated into tables (md, csv, json, html) and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mmbench.cli import _friendly, _load


@click.command()
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Folder whose runs/ holds the run records (the committed suite by default; "
                                      "`mmbench run` writes to ./mmbench-results unless told otherwise).")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json", "html"]), default="md", show_default=True)
@click.option("--view", type=click.Choice(["models", "kd", "robustness", "headline", "tuning", "datasets"]),
              default="models", show_default=True,
              help="models: one row per model; kd: the distillation report (retention, gain, ratios, paired tests); "
                   "robustness: the metric at every missing-modality rate; headline: teacher, KD student and "
                   "no-KD student of every KD recipe (accuracy, latency, size, Δ at 50% missing); tuning: each "
                   "model's tuning budget beside its test metrics; datasets: every tuned model across the "
                   "datasets, with Δ over the tuned LightGCN and its cold- and warm-item metric.")
@click.option("--metric", default="NDCG@10", show_default=True,
              help="The metric of the kd, robustness, tuning and datasets views, of the headline's Δ column and "
                   "of the plots.")
@click.option("--recipe", "recipes", multiple=True, metavar="PATTERN",
              help="Only recipes whose name matches this shell-style glob, e.g. --recipe 'beauty-*' "
                   "(repeatable; applies to every view and to --plot).")
@click.option("--columns", default="", metavar="COL,COL",
              help="Only these value columns, in this order, e.g. --columns HR@10,NDCG@10,latency_ms_p50.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (atomically) instead of standard output.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write PNG plots here, per dataset and split: an accuracy-vs-latency Pareto chart, a "
                   "robustness overview of the headline models and robustness curves per recipe (needs the `plot` "
                   "extra). With --format html the page shows them (linked by relative paths).")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import a plugin module (repeatable).")
@_friendly
def leaderboard(results_dir: Path, fmt: str, view: str, metric: str, recipes: tuple[str, ...], columns: str,
                output: Path | None, plot_dir: Path | None, plugins: tuple[str, ...]) -> None:
    """Aggregate run records into a leaderboard: mean ± 95% CI over seeds of the test metrics."""
    _load(plugins)
    from mmbench.results.leaderboard import check_metric, duplicate_notes, filter_recipes, recipe_labels, render, rows
    from mmbench.results.store import atomic_write_text, require_records

    records = filter_recipes(require_records(results_dir), recipes)
    if click.get_current_context().get_parameter_source("metric") != click.core.ParameterSource.DEFAULT \
            or view != "models" or plot_dir:
        check_metric(records, metric)
    for note in duplicate_notes(records):
        click.echo(f"note: {note}", err=True)
    figures: list[Any] = []
    if plot_dir:  # first, so that an HTML page can show them
        from mmbench.results.kd import kd_members
        from mmbench.results.plots import write_plots
        from mmbench.results.robustness import curve_points

        labelled = recipe_labels(records)
        figures = write_plots(rows(records), curve_points(labelled, metric), plot_dir, metric=metric,
                              kd_models=kd_members(labelled))
        for figure in figures:
            click.echo(f"wrote {figure.path}", err=True)
    text = render(records, fmt, [c.strip() for c in columns.split(",") if c.strip()], view=view, metric=metric,
                  figures=figures, figures_from=output.parent if output else Path.cwd())
    if output:
        atomic_write_text(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
