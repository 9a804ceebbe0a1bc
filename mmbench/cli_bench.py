"""``mmbench bench``: measurements of the machinery itself (not of models' accuracy), written as plain data."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mmbench.cli import _friendly


def _count(text: str) -> int:
    """``1M``, ``3m``, ``250k`` or ``1000000`` as an integer."""
    t = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        return int(float(t[:-1] if scale > 1 else t) * scale)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a count; write e.g. 1M, 3M, 250k or 1000000") from None


@click.group()
def bench() -> None:
    """Measure mmbench itself: time and memory against data size, approximate search against exact."""


@bench.command(name="scale")
@click.option("--sizes", default="1M,3M,10M", show_default=True,
              help="Interactions of each synthetic dataset (comma-separated; 1M = 1,000,000).")
@click.option("--items-per-interaction", default=0.1, show_default=True, type=float,
              help="Catalogue size as a share of the interactions (0.1: 1M items at 10M interactions).")
@click.option("--users-per-interaction", default=0.05, show_default=True, type=float,
              help="Users as a share of the interactions (0.05: 20 interactions per user on average).")
@click.option("--dataset", "datasets", multiple=True, metavar="NAME[:SPLIT]",
              help="Also measure a named dataset, e.g. gowalla:given (repeatable).")
@click.option("--batch-size", default=8192, show_default=True, type=click.IntRange(min=1))
@click.option("--steps", default=20, show_default=True, type=click.IntRange(min=1),
              help="BPR steps timed per size (after 3 warm-up steps).")
@click.option("--eval-users", default=4096, show_default=True, type=click.IntRange(min=1),
              help="Test users ranked against every item per size.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="torch threads.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the synthetic data and the model.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the measurements as JSON here (atomically).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw time and peak memory against size (PNG; needs the `plot` extra).")
@click.option("--from", "from_json", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Measure nothing: print (and --plot) a report an earlier --out wrote.")
@_friendly
def bench_scale(sizes: str, items_per_interaction: float, users_per_interaction: float, datasets: tuple[str, ...],
                batch_size: int, steps: int, eval_users: int, threads: int, seed: int, out: Path | None,
                plot: Path | None, from_json: Path | None) -> None:
    """LightGCN training and full-ranking evaluation: seconds and peak memory against data size.

    Every size runs in its own process, so each peak RSS is its own. The synthetic data are generated from the
    seed (dataset ``synthetic``, nothing downloaded or committed) and cached like any dataset.
    """
    from mmbench.results.store import atomic_write_text
    from mmbench.runner.provenance import git_info, hardware
    from mmbench.runner.scale import measure_in_subprocess, render_markdown, synthetic_sizes

    if from_json is not None:
        try:
            report = json.loads(from_json.read_text())
            rows = report["rows"]
        except (ValueError, KeyError, TypeError) as exc:
            raise click.BadParameter(f"{from_json} is not a report `mmbench bench scale --out` wrote ({exc})",
                                     param_hint="--from") from None
        click.echo(render_markdown(report))
        if plot is not None:
            from mmbench.results.bench_plots import scale_chart

            click.echo(f"wrote {scale_chart(report, plot)}", err=True)
        return

    runs = [("synthetic", {**p, "seed": seed}, "ratio-8-1-1") for p in
            synthetic_sizes([_count(s) for s in sizes.split(",") if s.strip()], items_per_interaction,
                            users_per_interaction)]
    for spec in datasets:
        name, _, split = spec.partition(":")
        runs.append((name, {}, split or "given"))
    rows = []
    for name, params, split in runs:
        click.echo(f"measuring {name} {params or ''} ({split}) ...", err=True)
        row = measure_in_subprocess(name, params, split, threads, batch_size=batch_size, steps=steps,
                                    eval_users=eval_users, seed=seed)
        rows.append(row)
        click.echo(f"  {row['interactions']:,} interactions, {row['users']:,} users, {row['items']:,} items: "
                   f"step {row['step_s'] * 1000:.0f} ms, epoch ≈ {row['epoch_s_estimate']:.0f} s at batch "
                   f"{batch_size}, full-ranking evaluation ≈ {row['eval_s_estimate']:.0f} s, peak RSS "
                   f"{row['rss_peak_mib']:,.0f} MiB", err=True)
    report = {"kind": "mmbench bench scale", "threads": threads, "batch_size": batch_size, "steps": steps,
              "eval_users": eval_users, "seed": seed, "git": git_info(), "hardware": hardware(), "rows": rows}
    click.echo(render_markdown(report))
    if out is not None:
        atomic_write_text(out, json.dumps(report, indent=2) + "\n")
        click.echo(f"wrote {out}", err=True)
    if plot is not None:
        from mmbench.results.bench_plots import scale_chart

        click.echo(f"wrote {scale_chart(report, plot)}", err=True)


@bench.command(name="ann")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--exclude-seen/--include-seen", default=True, show_default=True,
              help="Rank as `recommend --exclude-seen` does (the ANN side fetches k + the user's seen count).")
@click.option("--queries", type=click.IntRange(min=1), default=1000, show_default=True,
              help="One-user requests timed for each search (users drawn with --seed).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--ef-search", "ef_search", default="", metavar="N[,N...]",
              help="Also measure at these HNSW search breadths (e.g. 16,32,64,128,256): recall and times for each.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the measurements as JSON here (atomically).")
@_friendly
def bench_ann(folder: Path, k: int, exclude_seen: bool, queries: int, seed: int, ef_search: str,
              out: Path | None) -> None:
    """Approximate search on an export: recall@K against exact search over every user, and query times."""
    from mmbench.serve import Recommender
    from mmbench.serve.bench import measure_ann

    try:
        efs = [int(x) for x in ef_search.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{ef_search!r}: expected whole numbers separated by commas, e.g. 32,64,128",
                                 param_hint="--ef-search") from None
    if any(ef < 1 for ef in efs):
        raise click.BadParameter(f"{ef_search!r}: every breadth must be >= 1", param_hint="--ef-search")
    report = measure_ann(Recommender.load(folder), k=k, exclude_seen=exclude_seen, queries=queries, seed=seed,
                         ef_search=efs)
    one, every = report["one_user"], report["all_users"]
    click.echo(f"recall@{k} of ANN against exact search ({'seen items excluded' if exclude_seen else 'seen included'}),"
               f" {report['users']:,} users × {report['items']:,} items: {report['recall']:.4f}")
    click.echo(f"index {report['index']} loaded or built in {report['index_load_or_build_s']:.2f} s")
    click.echo(f"all users (batches of {every['batch_size']}): exact {every['exact_s']:.2f} s, ann {every['ann_s']:.2f} s")
    click.echo(f"one user ({one['queries']} requests): exact p50 {one['exact']['ms_p50']:.3f} ms / p95 "
               f"{one['exact']['ms_p95']:.3f} ms, ann p50 {one['ann']['ms_p50']:.3f} ms / p95 {one['ann']['ms_p95']:.3f} ms")
    for row in report.get("ef_search_sweep", []):
        click.echo(f"  ef_search {row['ef_search']:>4}: recall@{k} {row['recall']:.4f}, one user p50 "
                   f"{row['one_user']['ms_p50']:.3f} ms / p95 {row['one_user']['ms_p95']:.3f} ms, all users "
                   f"{row['ann_s']:.2f} s")
    click.echo(f"threads: {report['threads']}")
    if out is not None:
        from mmbench.results.store import atomic_write_text

        atomic_write_text(out, json.dumps({"kind": "mmbench bench ann", "folder": str(folder), **report}, indent=2) + "\n")
        click.echo(f"wrote {out}", err=True)
