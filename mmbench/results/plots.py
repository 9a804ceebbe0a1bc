"""The figures ``mmbench leaderboard --plot DIR`` writes, per dataset and split.

- ``pareto_<dataset>_<split>.png``: accuracy against latency, the Pareto front and the headline models named
  (:mod:`mmbench.results.pareto`);
- ``robustness_<dataset>_<split>.png``: the headline overview, a few models only
  (:func:`mmbench.results.robustness_plots.robustness_overview`, the rule in :mod:`mmbench.results.figure_picks`);
- ``robustness_<dataset>_<split>_<recipe>.png``: one per recipe, its every model and imputer
  (:func:`mmbench.results.robustness_plots.robustness_curves`).

Names are sanitised to [A-Za-z0-9._-]; a name that two figures would share gets a short hash suffix on the
second. Drawing needs matplotlib (the ``plot`` extra); the shared canvas and atomic write are in
:mod:`mmbench.results.drawing`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.results.drawing import safe_filename
from mmbench.results.figure_picks import headline_picks
from mmbench.results.pareto import pareto_chart
from mmbench.results.robustness_plots import robustness_curves, robustness_overview

KINDS = ("pareto", "robustness", "robustness-recipe")


@dataclass(frozen=True)
class Plot:
    """One figure :func:`write_plots` wrote: its kind (one of ``KINDS``), group, recipe (per-recipe figures) and file."""

    kind: str
    dataset: str
    split: str
    recipe: str | None
    path: Path


def _with_kd(rows: Sequence[dict[str, Any]], kd_models: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``rows`` with ``kd`` (the model's part in distillation) where ``kd_models`` lists the model."""
    keys = ("recipe", "dataset", "split", "role", "component")
    parts = {tuple(m[k] for k in keys): m["kd"] for m in kd_models}
    return [{**r, "kd": parts[key]} if (key := tuple(r.get(k) for k in keys)) in parts else dict(r) for r in rows]


def _clean(curves: Sequence[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Each model's clean metric (rate 0 of the curve it was trained with): the candidates of the overview."""
    return [{**r, metric: r["value"]} for r in curves
            if r["rate"] == 0 and r.get("trained", True) and r["metric"] == metric]


def write_plots(records_rows: list[dict[str, Any]], robustness_rows: list[dict[str, Any]], out_dir: Path,
                metric: str = "NDCG@10", kd_models: Sequence[dict[str, Any]] = ()) -> list[Plot]:
    """Write the Pareto chart, the robustness overview and a robustness figure per recipe of each dataset and split.

    A group without leaderboard rows that carry ``latency_ms_p50`` gets no Pareto chart, one without
    robustness rows no robustness figures (so one run without latency never blocks the other groups' plots).

    Args:
        records_rows: Leaderboard rows (:func:`mmbench.results.leaderboard.rows`).
        robustness_rows: Curve points (:func:`mmbench.results.robustness.curve_points`).
        out_dir: The folder to write into (created when missing).
        metric: The metric plotted and the one that picks the headline models.
        kd_models: :func:`mmbench.results.kd.kd_members` rows: they name KD students and their no-KD twins and
            decide the headline KD recipe. Without them every dataset's headline is its best model per role.

    Returns:
        The figures written, per group in order: Pareto, overview, then one per recipe in name order.

    Raises:
        MMBenchError: nothing to plot at all (no latency and no robustness anywhere: the fix names the
            recipe settings), or as the figure functions.
    """
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: {"lb": [], "rob": []})
    for row in _with_kd(records_rows, kd_models):
        if row.get("latency_ms_p50") is not None:
            groups[(str(row["dataset"]), str(row["split"]))]["lb"].append(row)
    for row in _with_kd(robustness_rows, kd_models):
        groups[(str(row["dataset"]), str(row["split"]))]["rob"].append(row)
    if not groups:
        raise MMBenchError(f"nothing to plot: no run record has latency ({len(records_rows)} leaderboard rows) or "
                           f"robustness results; fix: enable eval.latency and eval.robustness in the recipe and re-run")
    out_dir = Path(out_dir)
    used: set[str] = set()
    written: list[Plot] = []

    def write(kind: str, dataset: str, split: str, recipe: str | None, draw: Callable[[Path], Path]) -> None:
        stem = safe_filename("_".join(p for p in (kind.split("-")[0], dataset, split, recipe) if p is not None))
        if stem in used:  # e.g. "a/b" and "a:b": never overwrite another figure
            stem += "-" + hashlib.sha1(f"{kind}\0{dataset}\0{split}\0{recipe}".encode()).hexdigest()[:8]
        used.add(stem)
        written.append(Plot(kind, dataset, split, recipe, draw(out_dir / f"{stem}.png")))

    for (dataset, split), parts in sorted(groups.items()):
        lb, rob = parts["lb"], parts["rob"]
        if lb:
            named = headline_picks(lb, kd_models, metric)
            write("pareto", dataset, split, None, lambda p: pareto_chart(lb, p, metric=metric, named=named))
        if not rob:
            continue
        picks = headline_picks(_clean(rob, metric), kd_models, metric)
        if picks:
            write("robustness", dataset, split, None, lambda p: robustness_overview(rob, picks, p, metric=metric))
        for recipe in sorted({str(r["recipe"]) for r in rob}):
            mine = [r for r in rob if r["recipe"] == recipe]
            title = f"{recipe}: robustness to missing modalities ({metric}) — {dataset} · {split}"
            write("robustness-recipe", dataset, split, recipe,
                  lambda p: robustness_curves(mine, p, metric=metric, title=title))
    return written
