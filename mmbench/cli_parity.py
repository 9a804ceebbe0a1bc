"""``mmbench parity``: mmbench's ``lightgcn`` and RecBole 1.2.1's LightGCN on one split, side by side."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mmbench.cli import _friendly

if TYPE_CHECKING:
    from mmbench.interop.parity import ParityResult

_DEFAULTS = dict(dim=64, layers=3, reg=1e-3, lr=1e-2, batch_size=4096, epochs=100, eval_every=2, patience=5,
                 eval_batch_size=4096)  # the suite's Beauty LightGCN settings (recipes/beauty/lightgcn.yaml)


def _param(value: str) -> tuple[str, Any]:
    import yaml

    key, sep, raw = value.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{value!r}: expected KEY=VALUE", param_hint="--param")
    return key, yaml.safe_load(raw)


def _num(value: float | int | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def parity_table(result: ParityResult) -> str:
    """metric | mmbench | RecBole | ratio, then selection and timing rows (test metrics; times in seconds)."""
    from tabulate import tabulate

    mm, rb = result.mmbench, result.recbole
    rows = [[col, _num(mm.test[col]), _num(rb.test[col]), _num(result.ratio[col], 3)] for col in mm.test]
    sel = result.hyperparameters["select_metric"]
    rows.append([f"valid {sel} (best)", _num(mm.valid.get(sel)), _num(rb.valid.get(sel)), ""])
    rows.append(["best epoch / epochs run", f"{mm.best_epoch} / {mm.epochs_run}", f"{rb.best_epoch} / {rb.epochs_run}", ""])
    rows.append(["median training epoch (s)", _num(statistics.median(mm.epoch_seconds), 2) if mm.epoch_seconds else "-",
                 _num(statistics.median(rb.epoch_seconds), 2) if rb.epoch_seconds else "-", ""])
    for key, label in (("build_s", "build model (s)"), ("train_s", "training epochs (s)"),
                       ("valid_s", "validation (s)"), ("test_s", "test evaluation (s)")):
        rows.append([label, _num(mm.timings[key], 1), _num(rb.timings[key], 1), ""])
    rows.append(["wall time (s)", _num(mm.timings["wall_s"], 1), _num(rb.timings["wall_s"], 1),
                 _num(result.wall_ratio, 3)])
    rows.append(["data preparation (s, not in wall)", _num(mm.timings["prepare_s"], 1),
                 _num(rb.timings["prepare_s"], 1), ""])
    return tabulate(rows, headers=["test metric", "mmbench", "RecBole", "ratio"], tablefmt="github",
                    disable_numparse=True, colalign=("left", "right", "right", "right"))


def verdict(result: ParityResult) -> str:
    from mmbench.interop.parity import NDCG_TOLERANCE, WALL_GOAL

    g = result.goal()
    ndcg = f"NDCG@10 {_num(g['ndcg10_ratio'], 3)}× RecBole's (goal ≥ {1 - NDCG_TOLERANCE:.2f}×): " \
           f"{'met' if g['ndcg10_ok'] else 'missed'}"
    wall = f"wall time {_num(g['wall_ratio'], 3)}× (goal ≤ {WALL_GOAL}×): {'met' if g['wall_ok'] else 'missed'}"
    return f"goal {'MET' if g['met'] else 'NOT MET'}: {ndcg}; {wall}"


@click.command()
@click.option("--dataset", required=True, help="A registered dataset, e.g. movielens-100k or amazon-beauty.")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE",
              help="A dataset param, YAML-parsed, e.g. -p max_users=500 (repeatable).")
@click.option("--split", default="loo-time", show_default=True, help="The split both tools use.")
@click.option("--seed", default=0, show_default=True, type=int, help="Each tool's seed.")
@click.option("--dim", default=_DEFAULTS["dim"], show_default=True, type=click.IntRange(min=1))
@click.option("--layers", default=_DEFAULTS["layers"], show_default=True, type=click.IntRange(min=0))
@click.option("--reg", default=_DEFAULTS["reg"], show_default=True, type=click.FloatRange(min=0),
              help="mmbench's reg; RecBole gets reg_weight = 2 × reg with require_pow.")
@click.option("--lr", default=_DEFAULTS["lr"], show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--batch-size", default=_DEFAULTS["batch_size"], show_default=True, type=click.IntRange(min=1))
@click.option("--epochs", default=_DEFAULTS["epochs"], show_default=True, type=click.IntRange(min=1))
@click.option("--eval-every", default=_DEFAULTS["eval_every"], show_default=True, type=click.IntRange(min=1),
              help="Validate every N epochs (RecBole: eval_step).")
@click.option("--patience", default=_DEFAULTS["patience"], show_default=True, type=click.IntRange(min=1),
              help="Validations without improvement before stopping (RecBole: stopping_step = patience - 1).")
@click.option("--eval-batch-size", default=_DEFAULTS["eval_batch_size"], show_default=True,
              type=click.IntRange(min=1), help="Users per evaluation batch, both tools.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads for both tools (default: torch's current count).")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the full result (metrics, timings, both configs, versions) as JSON, atomically.")
@click.option("--quiet", "-q", is_flag=True, help="Only print the table.")
@_friendly
def parity(dataset: str, params: tuple[str, ...], split: str, seed: int, dim: int, layers: int, reg: float,
           lr: float, batch_size: int, epochs: int, eval_every: int, patience: int, eval_batch_size: int,
           threads: int | None, json_out: Path | None, quiet: bool) -> None:
    """Run mmbench's lightgcn and RecBole 1.2.1's LightGCN on one split with the same hyperparameters.

    Both select their epoch on valid with early stopping and evaluate test once (full ranking). Prints
    both metric sets, their ratio mmbench / RecBole and both wall times; the goal is NDCG@10 within 5 %
    of RecBole's (or better) in at most 0.25× its wall time. Needs RecBole: pip install --no-deps
    recbole==1.2.1.
    """
    from mmbench.interop import parity as parity_mod
    from mmbench.results.store import atomic_write_json

    hp = parity_mod.ParityParams(dim=dim, layers=layers, reg=reg, lr=lr, batch_size=batch_size, epochs=epochs,
                                 eval_every=eval_every, patience=patience, eval_batch_size=eval_batch_size)
    result = parity_mod.run_parity(dataset, params=dict(_param(p) for p in params), split=split, seed=seed, hp=hp,
                                   threads=threads, log=(lambda _: None) if quiet else
                                   (lambda m: click.echo(m, err=True)))
    v, host = result.versions, result.host
    load = "/".join(f"{x:.1f}" for x in host.get("loadavg_before", [])[:1] + host.get("loadavg_after", [])[:1])
    click.echo(f"{result.dataset} {result.dataset_params or ''} · {result.split} · seed {result.seed} · "
               f"{result.threads} torch thread(s) · load average before/after {load or '-'} · "
               f"mmbench {v.get('mmbench')} vs RecBole {v.get('recbole')}")
    click.echo(parity_table(result))
    click.echo(verdict(result))
    if json_out is not None:
        atomic_write_json(json_out, result.to_dict())
        click.echo(f"wrote {json_out}")
