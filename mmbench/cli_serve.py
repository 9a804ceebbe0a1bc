"""``mmbench export`` (a recorded model as a served folder) and ``mmbench recommend`` (top-K from that folder).

``recommend`` imports :mod:`mmbench.serve` only (numpy, safetensors; faiss with ``--ann``): it never loads the
runner, the components, the dataset or torch, so it starts in a fraction of a second.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from mmbench.cli import _friendly, _load


@click.command(name="export")
@click.argument("record", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--recipe", default=None, metavar="NAME",
              help="Instead of RECORD: the newest record of this recipe name (the folder under runs/).")
@click.option("--seed", type=int, default=None, help="With --recipe: only records of this seed.")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --recipe: where the run records are (under runs/); default: where `mmbench run` writes "
                   "($MMBENCH_RESULTS_DIR, else ./mmbench-results); the committed suite: --results-dir results.")
@click.option("--role", type=click.Choice(["student", "teacher", "baseline"]), default="student", show_default=True,
              help="Which model of the run: the (KD) student, the teacher, or a baseline.")
@click.option("--component", default=None, metavar="NAME", help="Among several models of the role: this component.")
@click.option("--index", type=int, default=None, metavar="N",
              help="Among several models of the role (and component): the N-th in record order, from 0.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="The folder to write.")
@click.option("--ann", is_flag=True, help="Also build and store a faiss HNSW index for `recommend --ann`.")
@click.option("--force", is_flag=True, help="Replace an existing --out folder.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import a plugin module (repeatable).")
@_friendly
def export(record: Path | None, recipe: str | None, seed: int | None, results_dir: Path | None, role: str,
           component: str | None, index: int | None, out: Path, ann: bool, force: bool, plugins: tuple[str, ...]) -> None:
    """Export a trained model of a run as a self-contained folder (tables, raw ids, seen items, manifest).

    The model is rebuilt from the record's recipe and the trained weights its run stored in the trained-model
    cache, and the folder is written only if its tables reproduce the record's test metrics.
    """
    _load(plugins)
    from mmbench.export import export_model, find_record, pick_model
    from mmbench.results.store import default_results_dir

    results_dir = results_dir if results_dir is not None else default_results_dir()

    located = find_record(record, recipe, seed, results_dir)
    click.echo(f"using {located.note}", err=True)
    i = pick_model(located.record, role, component, index)
    m = located.record.models[i]
    click.echo(f"exporting model #{i}: {m.role} {m.component} {m.params}", err=True)
    manifest = export_model(located, i, out, ann=ann, force=force, log=lambda s: click.echo(s, err=True))
    ver, counts = manifest["verification"], manifest["counts"]
    shown = {c: v for c, v in ver["metrics"].items() if c in ("HR@10", "NDCG@10", "Recall@20", "NDCG@20")}
    click.echo(f"wrote {out}: {m.role} {m.component} of run {manifest['run']['run_id']}; {counts['users']} users, "
               f"{counts['items']} items, d={counts['dim']}; cold items: "
               f"{(manifest['cold_items'] or {}).get('kind') or 'none, ' + str(manifest['cold_items_note'])}; "
               f"ann index: {'yes' if manifest['ann'] else 'no'}")
    click.echo(f"verified: the exported tables reproduce the record's {len(ver['metrics'])} test metrics "
               f"(max |Δ| {ver['max_abs_diff']:.1e} ≤ {ver['tolerance']:.0e}): "
               + ", ".join(f"{c} {v:.4f}" for c, v in shown.items()))


def _new_items(specs: tuple[str, ...], modalities: list[str]) -> dict[str, Any]:
    """``--new-items [MODALITY=]FILE.npy`` as ``{modality: array}`` (a bare file: the model's only modality)."""
    import numpy as np

    from mmbench.errors import ServeError

    out = {}
    for spec in specs:
        modality, sep, file = spec.partition("=")
        if not sep:
            if len(modalities) != 1:
                raise ServeError(f"this model reads {modalities}: name the modality, --new-items MODALITY=FILE.npy")
            modality, file = modalities[0], spec
        try:
            out[modality] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ServeError(f"--new-items {spec}: cannot read a .npy array ({exc}); fix: save a float matrix with "
                             f"numpy.save, one row per new item") from None
    return out


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--user", default=None, metavar="RAW_ID", help="The user's raw id (as in the dataset).")
@click.option("--users", "users_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Batch mode: a file of raw user ids, one per line.")
@click.option("-k", "--k", "k", type=int, default=10, show_default=True,
              help="Items per user (clamped to the candidates left: the list is then shorter).")
@click.option("--exclude-seen", is_flag=True, help="Leave out the user's train ∪ valid items.")
@click.option("--ann", is_flag=True, help="Approximate search (faiss HNSW; the export's index or one built now).")
@click.option("--format", "fmt", type=click.Choice(["tsv", "jsonl"]), default="tsv", show_default=True,
              help="tsv: user, rank, item, score per line (with a header); jsonl: one object per user.")
@click.option("--new-items", multiple=True, metavar="[MODALITY=]FILE.npy",
              help="Features of new items (rows; NaN row = modality missing), scored through the export's "
                   "item-side map and ranked with the catalogue (repeatable, one per modality).")
@click.option("--new-ids", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The new items' ids, one per line, in row order.")
@click.option("--only-new", is_flag=True, help="Rank only the new items.")
@click.option("--no-verify", is_flag=True, help="Skip checking the files against the manifest's sha256.")
@click.option("--timing", is_flag=True, help="Print load and query times (in-process) on stderr.")
@_friendly
def recommend(folder: Path, user: str | None, users_file: Path | None, k: int, exclude_seen: bool, ann: bool,
              fmt: str, new_items: tuple[str, ...], new_ids: Path | None, only_new: bool, no_verify: bool,
              timing: bool) -> None:
    """Top-K items for a user (or a file of users) from an export folder: raw item ids and scores."""
    t0 = time.perf_counter()
    from mmbench.errors import ServeError
    from mmbench.serve import Recommender

    t_import = time.perf_counter()
    if (user is None) == (users_file is None):
        raise ServeError("give one of --user RAW_ID or --users FILE")
    rec = Recommender.load(folder, verify=not no_verify)
    candidates = None
    if new_items or new_ids or only_new:
        if not new_items or new_ids is None:
            raise ServeError("new items need both --new-items [MODALITY=]FILE.npy and --new-ids FILE")
        ids = _lines(new_ids)
        rec = rec.with_new_items(ids, _new_items(new_items, rec.cold_map().modalities))
        candidates = ids if only_new else None
    t_load = time.perf_counter()
    users = [user] if user is not None else _lines(users_file)  # type: ignore[arg-type]
    lists = rec.recommend_many(users, k, exclude_seen=exclude_seen, ann=ann, candidates=candidates)
    t_query = time.perf_counter()
    short = [len(x) for x in lists if len(x) < k]
    if short:
        click.echo(f"note: k={k} clamped for {len(short)} user(s): only {min(short)} candidate item(s) left", err=True)
    out = sys.stdout
    if fmt == "tsv":
        out.write("user\trank\titem\tscore\n")
        for u, items in zip(users, lists):
            out.writelines(f"{u}\t{r}\t{s.item}\t{s.score:.6g}\n" for r, s in enumerate(items, 1))
    else:
        for u, items in zip(users, lists):
            out.write(json.dumps({"user": u, "items": [s.item for s in items],
                                  "scores": [round(s.score, 6) for s in items]}) + "\n")
    if timing:
        click.echo(f"timing: import {1e3 * (t_import - t0):.1f} ms, load {1e3 * (t_load - t_import):.1f} ms "
                   f"(sha256 {'off' if no_verify else 'on'}), query {1e3 * (t_query - t_load):.2f} ms for "
                   f"{len(users)} user(s){' (ann)' if ann else ''}", err=True)
