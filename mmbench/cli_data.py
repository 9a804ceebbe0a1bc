"""``mmbench data ...`` and ``mmbench features``: inspect datasets and their caches, extract item features."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mmbench.cli import _friendly, _load


@click.group()
def data() -> None:
    """Inspect datasets: cards, split counts, the processed cache."""


def _param(value: str) -> tuple[str, Any]:
    import yaml

    key, sep, raw = value.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{value!r}: expected KEY=VALUE")
    return key, yaml.safe_load(raw)


def _dataset_args(name: str | None, recipe: Path | None, params: tuple[str, ...], split: str | None,
                  split_seed: int | None, what: str) -> tuple[str, dict[str, Any], str | None, int | None]:
    """The dataset, its params, split and split seed: from the options, or from ``recipe`` with the options on
    top (the recipe's split seed is kept only when its split is kept and no seed is given)."""
    if (name is None) == (recipe is None):
        raise click.UsageError(f"give {what} or --recipe PATH (one of the two)")
    settings = dict(_param(p) for p in params)
    if recipe is not None:
        from mmbench.recipe.load import load_recipe

        spec = load_recipe(recipe).dataset
        name, settings = spec.name, {**spec.params, **settings}
        if not split_seed and split in (None, spec.split):
            split_seed = spec.split_seed
        split = split or spec.split
    assert name is not None
    return name, settings, split, split_seed


@data.command(name="info")
@click.argument("name", required=False)
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE",
              help="A dataset param, YAML-parsed, e.g. -p max_users=500 (repeatable).")
@click.option("--split", default=None, help="Also split it and print the split counts, e.g. --split loo-time.")
@click.option("--split-seed", default=0, show_default=True, type=int, help="Seed of seeded splits.")
@click.option("--recipe", type=click.Path(dir_okay=False, path_type=Path),
              help="Take the dataset, its params, split and split seed from this recipe instead of NAME.")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
@click.option("--no-cache", is_flag=True, help="Prepare from the raw files without reading or writing the cache.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import a plugin module (repeatable).")
@_friendly
def data_info(name: str | None, params: tuple[str, ...], split: str | None, split_seed: int, recipe: Path | None,
              as_json: bool, no_cache: bool, plugins: tuple[str, ...]) -> None:
    """Print a dataset's card: sizes, filtered rows and why, modality availability, split counts, hashes."""
    _load(plugins)
    from mmbench.data.card import render_card
    from mmbench.data.load import load_dataset
    from mmbench.data.splits import make_split

    name, settings, split, seed = _dataset_args(name, recipe, params, split, split_seed, "a dataset NAME")
    split_seed = seed or 0
    prepared = load_dataset(name, settings, use_cache=not no_cache)
    split_card = make_split(split, prepared.interactions, seed=split_seed).card if split else None
    if as_json:
        click.echo(json.dumps({**prepared.card, **({"split": split_card} if split_card else {})}, indent=1))
    else:
        click.echo(render_card(prepared.card, split_card))


@data.command(name="export")
@click.option("--recipe", type=click.Path(dir_okay=False, path_type=Path),
              help="Take the dataset, its params, split and split seed from this recipe.")
@click.option("--dataset", "dataset", metavar="NAME", help="The dataset to export (instead of --recipe).")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE",
              help="A dataset param, YAML-parsed, e.g. -p max_users=500 (repeatable; added to a recipe's).")
@click.option("--split", default=None, help="The split, e.g. loo-time (required with --dataset).")
@click.option("--split-seed", default=None, type=click.IntRange(min=0), help="Seed of seeded splits (default 0).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="RecBole data_path: the files go to OUT/NAME/.")
@click.option("--name", "export_name", default=None,
              help="RecBole dataset name and file stem [default: the dataset's].")
@click.option("--force", is_flag=True, help="Overwrite the export's files in a non-empty OUT/NAME.")
@click.option("--no-cache", is_flag=True, help="Prepare from the raw files without reading or writing the cache.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import a plugin module (repeatable).")
@_friendly
def data_export(recipe: Path | None, dataset: str | None, params: tuple[str, ...], split: str | None,
                split_seed: int | None, out: Path, export_name: str | None, force: bool, no_cache: bool,
                plugins: tuple[str, ...]) -> None:
    """Export a dataset + split as RecBole atomic files (benchmark-file mode) with a RecBole YAML config.

    \b
    Writes OUT/NAME/NAME.{train,valid,test}.inter (the exact split), NAME.item (dense id, raw id, item
    text), NAME.user (dense id, raw id) and NAME.yaml, for
      run_recbole(model="LightGCN", config_file_list=["OUT/NAME/NAME.yaml"])
    Read it back with dataset `atomic`, params {path: OUT/NAME, benchmark_filename: [train, valid, test]},
    split `given`.
    """
    _load(plugins)
    from mmbench.data.load import load_dataset
    from mmbench.data.splits import SEEDED_SPLITS, SPLITS, make_split, split_key
    from mmbench.interop.recbole_export import check_target, default_name, export_benchmark

    dataset, settings, split, split_seed = _dataset_args(dataset, recipe, params, split, split_seed,
                                                         "--dataset NAME")
    if split is None:
        raise click.UsageError(f"--dataset needs --split SPLIT (splits: {', '.join(SPLITS)})")
    if split not in SPLITS:
        import difflib

        hint = "".join(f"; did you mean {m!r}?" for m in difflib.get_close_matches(split, list(SPLITS), n=1))
        raise click.BadParameter(f"unknown split {split!r}{hint} (splits: {', '.join(SPLITS)})",
                                 param_hint="--split")
    if split_seed and split not in SEEDED_SPLITS:
        raise click.BadParameter(f"only seeded splits ({', '.join(sorted(SEEDED_SPLITS))}) take a seed, not "
                                 f"{split!r}; remove it", param_hint="--split-seed")
    assert dataset is not None
    check_target(out, export_name or default_name(dataset), force)  # before the (maybe long) preparation
    prepared = load_dataset(dataset, settings, use_cache=not no_cache)
    made = make_split(split, prepared.interactions, seed=split_seed or 0)
    about = f"dataset {dataset}{f' {settings}' if settings else ''}, split {split_key(split, split_seed or 0)}"
    result = export_benchmark(prepared, made, out, export_name, force=force, about=about)
    c = result.counts
    what = [*(f"{c[part]:,} interactions" for part in ("train", "valid", "test")),
            f"{c['items']:,} items ({', '.join(['raw_item_id', *result.text_fields])})",
            f"{c['users']:,} users (raw_user_id)", f"RecBole config (data_path {result.folder.parent})"]
    click.echo(f"exported {about} to {result.folder}/" + ("" if result.timestamp else " (no timestamps)"))
    width = max(map(len, result.files))
    for file, line in zip(result.files, what):
        click.echo(f"  {file:<{width}}  {line}")
    if result.cleaned_cells:
        click.echo(f"  {result.cleaned_cells:,} cell(s) held tabs or line breaks, written as spaces")
    yaml_file = list(result.files.values())[-1]
    click.echo(f"RecBole: run_recbole(model=\"LightGCN\", config_file_list=[\"{yaml_file}\"])")
    click.echo("mmbench: dataset: " + json.dumps(result.import_spec))


@data.command(name="cache")
@click.option("--clear", is_flag=True, help="Delete every cached dataset.")
@_friendly
def data_cache(clear: bool) -> None:
    """List (or clear) the processed-dataset cache under $MMBENCH_CACHE_DIR (default ~/.cache/mmbench)."""
    import shutil

    from mmbench.data.cache import cache_root, describe

    root = cache_root()
    rows = describe(root)
    if clear:
        shutil.rmtree(root / "datasets", ignore_errors=True)
        click.echo(f"removed {len(rows)} cached dataset(s) from {root}")
        return
    for r in rows:
        click.echo(f"{r['dataset']}\t{r['key']}\t{r['bytes'] / 1e6:.1f} MB\t{r['path']}")
    if not rows:
        click.echo(f"no cached datasets under {root}")


@click.command()
@click.argument("recipe", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe field (repeatable).")
@click.option("--refresh", is_flag=True, help="Re-extract and overwrite cached features.")
@click.option("--no-cache", is_flag=True, help="Extract without reading or writing the feature cache.")
@click.option("--list", "list_cache", is_flag=True, help="List the feature cache instead of extracting.")
@click.option("--clear", is_flag=True, help="Delete every cached feature (and fetched image).")
@click.option("--json", "as_json", is_flag=True, help="Print the per-modality provenance as JSON.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import a plugin module (repeatable).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: encode the items as Ray Data batches on a pool of actors (same cache entries).")
@click.option("--address", default=None, metavar="HOST:PORT", help="Ray: an existing cluster (or RAY_ADDRESS).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Ray: encoder actors.")
@click.option("--cpus-per-worker", default=1, show_default=True, type=click.IntRange(min=1),
              help="Ray: CPUs (and torch threads) of each actor.")
@click.option("--gpus-per-worker", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Ray: GPUs of each actor (e.g. 1, or 0.5 to share one).")
@_friendly
def features(recipe: Path | None, overrides: tuple[str, ...], refresh: bool, no_cache: bool, list_cache: bool,
             clear: bool, as_json: bool, plugins: tuple[str, ...], backend: str, address: str | None, workers: int,
             cpus_per_worker: int, gpus_per_worker: float) -> None:
    """Extract a recipe's item features ahead of time into the feature cache (a re-run extracts nothing).

    With --backend ray the items are encoded as Ray Data batches by --workers actors, on a local Ray or the
    cluster at --address; the cache entries are the ones the local path writes, byte for byte with the same
    torch threads per encoder.
    """
    from tabulate import tabulate

    from mmbench.cachedir import cache_root
    from mmbench.data import feature_cache

    if list_cache or clear:
        rows = feature_cache.describe()
        if clear:
            import shutil

            for sub in ("features", "images"):
                shutil.rmtree(cache_root() / sub, ignore_errors=True)
            click.echo(f"removed {len(rows)} cached feature set(s) and the fetched images under {cache_root()}")
        elif rows:
            click.echo(tabulate(rows, headers="keys", tablefmt="github", intfmt=","))
        else:
            click.echo(f"no cached features under {cache_root() / 'features'}")
        return
    if recipe is None:
        raise click.UsageError("give a RECIPE (or --list / --clear)")
    _load(plugins)
    from mmbench.data.load import load_dataset
    from mmbench.recipe.load import load_recipe
    from mmbench.runner.features import extract_all

    spec = load_recipe(recipe, overrides)
    if not spec.encoders:
        raise click.UsageError(f"{recipe} has no `encoders:` section, so there is nothing to extract")
    log = (lambda m: click.echo(m, err=True))
    data = load_dataset(spec.dataset.name, spec.dataset.params, log=log)  # features need no split
    ray = None
    if backend == "ray":
        from mmbench.runner.features_ray import RayFeatureOptions

        ray = RayFeatureOptions(address, workers, cpus_per_worker, gpus_per_worker, tuple(plugins))
    feats = extract_all(spec.encoders, data, use_cache=not no_cache, refresh=refresh, log=log, ray=ray)
    if as_json:
        click.echo(json.dumps({m: f.info for m, f in feats.items()}, indent=2, default=str))
        return
    cols = ["modality", "encoder", "items", "dim", "available", "cache", "seconds", "items/s", "key"]
    table = [[m, f.encoder, f.values.shape[0], f.dim, f"{f.info['available']:,} ({f.info['available_rate']:.1%})",
              f.info["cache"], f.info["load_s"], f"{f.info['items_per_s']:,.0f}" if f.info.get("items_per_s") else "",
              f.info["key"]]
             for m, f in feats.items()]
    click.echo(tabulate(table, headers=cols, tablefmt="github", intfmt=","))
