"""Plots of results: robustness curves (metric vs missing-modality rate) and the latency/quality Pareto chart.

matplotlib is optional (``pip install "mmbench[plot]"``) and imported only when a plot is drawn. Figures are
built on the Agg canvas directly, never through pyplot, so drawing changes no global backend or state.
Files are written atomically: a reader never sees a half-written PNG.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.results.store import atomic_write_bytes

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies, and in greyscale by marker
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MARKERS = {"teacher": "s", "student": "o", "baseline": "^"}
ROLE_ORDER = {"teacher": 0, "student": 1, "baseline": 2}
MODALITY_ORDER = ["text", "image", "audio", "video"]  # then any other, and "all" last
ROBUSTNESS_KEYS = ("recipe", "dataset", "split", "role", "component", "modality", "imputer", "rate", "metric",
                   "value")
DPI = 150


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MMBenchError(f'plots need matplotlib, which is not installed ({exc}); '
                           'fix: pip install "mmbench[plot]"') from exc
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()  # rendered in memory, then written atomically: a reader never sees half a PNG
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return atomic_write_bytes(Path(path), buf.getvalue())


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _several(rows: Sequence[dict[str, Any]], key: str) -> bool:
    return len({r.get(key) for r in rows}) > 1


def _label(row: dict[str, Any], with_recipe: bool) -> str:
    label = f"{row['role']}: {row['component']}"
    if row.get("imputer", "none") not in ("none", None, ""):
        label += f" + {row['imputer']}"
    return f"{row['recipe']} · {label}" if with_recipe else label


def _default_title(prefix: str, rows: Sequence[dict[str, Any]]) -> str:
    groups = sorted({f"{r.get('dataset')} · {r.get('split')}" for r in rows})
    return prefix + (f" — {groups[0]}" if len(groups) == 1 else "")


def _modality_key(modality: str) -> tuple[int, str]:
    if modality == "all":
        return (len(MODALITY_ORDER) + 1, modality)
    return (MODALITY_ORDER.index(modality) if modality in MODALITY_ORDER else len(MODALITY_ORDER), modality)


def robustness_curves(rows: Sequence[dict[str, Any]], path: Path, metric: str = "NDCG@10",
                      title: str | None = None) -> Path:
    """Plot the metric against the missing-modality rate, one subplot per modality and one line per model.

    Args:
        rows: One dict per curve point, already aggregated over seeds, with the keys of ``ROBUSTNESS_KEYS``
            plus optional ``ci95`` (drawn as a band) and ``unaffected`` (the model reads no feature of that
            modality: drawn as a dashed flat line). Rows of other metrics are ignored.
        path: The PNG file to write.
        metric: The metric to plot.
        title: The figure title; by default names the dataset and split.

    Returns:
        ``path``.

    Raises:
        MMBenchError: no row of ``metric``, a row without a required key, or matplotlib missing.
    """
    for row in rows:
        missing = [k for k in ROBUSTNESS_KEYS if k not in row]
        if missing:
            raise MMBenchError(f"robustness row {row} lacks {missing}; fix: produce rows with {list(ROBUSTNESS_KEYS)}")
    points = [r for r in rows if r["metric"] == metric]
    if not points:
        raise MMBenchError(f"no robustness row for metric {metric!r}; fix: pass one of "
                           f"{sorted({r['metric'] for r in rows}) or 'the metrics the recipe evaluates'}")
    with_recipe = _several(points, "recipe")
    models = sorted({(ROLE_ORDER.get(r["role"], 9), _label(r, with_recipe)) for r in points})
    colour = {m: _colour(i) for i, (_, m) in enumerate(models)}
    by_modality: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in points:
        by_modality[r["modality"]][_label(r, with_recipe)].append(r)
    modalities = sorted(by_modality, key=_modality_key)
    ncols = 2 if len(modalities) == 4 else min(len(modalities), 3)
    nrows = math.ceil(len(modalities) / ncols)
    fig = _figure(max(6.5, 4.2 * ncols + 0.5), 3.4 * nrows + 0.9)
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    handles: dict[str, Any] = {}
    for ax, modality in zip(axes, modalities):
        for model, curve in sorted(by_modality[modality].items()):
            curve.sort(key=lambda r: r["rate"])
            rates = [float(r["rate"]) for r in curve]
            values = [float(r["value"]) for r in curve]
            cis = [float(r.get("ci95") or 0.0) for r in curve]
            marker = MARKERS.get(curve[0]["role"], "D")
            if any(r.get("unaffected") for r in curve):
                # its inputs are untouched by this mask: one level across the whole rate axis
                level, ci = sum(values) / len(values), max(cis)
                rates, values, cis = [0.0, 1.0], [level, level], [ci, ci]
                style = {"linestyle": "--", "marker": None, "linewidth": 1.4}
                model += " (unaffected)"
            else:
                style = {"linestyle": "-", "marker": marker, "markersize": 5, "linewidth": 1.8}
            (line,) = ax.plot(rates, values, color=colour[model.removesuffix(" (unaffected)")], label=model,
                              **style)
            if any(cis):
                ax.fill_between(rates, [v - c for v, c in zip(values, cis)], [v + c for v, c in zip(values, cis)],
                                color=line.get_color(), alpha=0.15, linewidth=0)
            handles.setdefault(model, line)
        ax.set_title(f"missing {modality}" if modality != "all" else "all modalities missing", fontsize=11)
        ax.set_xlim(-0.03, 1.03)
        ax.set_xlabel("missing rate p")
        ax.grid(True, alpha=0.3)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(f"{metric} (mean over seeds)")
    for ax in axes[len(modalities):]:
        ax.set_visible(False)
    order = {m: i for i, (_, m) in enumerate(models)}
    labels = sorted(handles, key=lambda m: (m.endswith("(unaffected)"), order[m.removesuffix(" (unaffected)")]))
    fig.legend([handles[m] for m in labels], labels, loc="outside lower center", ncols=min(3, len(labels)),
               frameon=False, fontsize=9)
    fig.suptitle(title or _default_title(f"Robustness to missing modalities ({metric})", points), fontsize=13)
    return _save(fig, path)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (latency, metric) points no other point beats: lower latency and higher metric win.

    A point is dominated by one at most as slow and at least as good that differs from it; exact duplicates
    therefore both stay on the front. Points with a NaN are never on it. The indices come sorted by latency
    (ties by index), i.e. in the order of the front from fast to good.
    """
    valid = [i for i, (x, y) in enumerate(points) if not (math.isnan(x) or math.isnan(y))]
    front: list[int] = []
    best: tuple[float, float] | None = None
    for i in sorted(valid, key=lambda i: (points[i][0], -points[i][1], i)):
        x, y = points[i]
        if best is None or y > best[1] or (x, y) == best:
            front.append(i)
            best = (x, y)
    return front


def _position(x: float, xs: Sequence[float], log_x: bool) -> float:
    """Where x lies between the smallest and largest of xs, from 0 to 1 (in log space on a log axis)."""
    f = math.log10 if log_x else float
    lo, hi = f(min(xs)), f(max(xs))
    return (f(x) - lo) / (hi - lo) if hi > lo else 0.0


def pareto_chart(rows: Sequence[dict[str, Any]], path: Path, metric: str = "NDCG@10",
                 latency: str = "latency_ms_p50", title: str | None = None) -> Path:
    """Plot quality against inference latency, with the Pareto front and teacher → student arrows.

    Args:
        rows: Leaderboard rows (:func:`mmbench.results.leaderboard.rows`); rows lacking ``metric`` or
            ``latency`` are skipped. ``<col>_ci95`` columns become error bars.
        path: The PNG file to write.
        metric: The quality column (y axis).
        latency: The latency column in milliseconds (x axis; log scale when it spans more than 10×).
        title: The figure title; by default names the dataset and split.

    Returns:
        ``path``.

    Raises:
        MMBenchError: no row has both columns (the message names the missing one), or matplotlib missing.
    """
    points = [r for r in rows if r.get(metric) is not None and r.get(latency) is not None]
    if not points:
        absent = latency if not any(r.get(latency) is not None for r in rows) else metric
        fix = ("enable eval.latency in the recipe and rerun it" if absent == latency else
               "plot a metric the recipes evaluate (see `mmbench leaderboard`)")
        raise MMBenchError(f"no leaderboard row has the column {absent!r} needed by the Pareto chart; fix: {fix}")
    with_recipe = _several(points, "recipe")
    numbered = len(points) > 5
    xs = [float(r[latency]) for r in points]
    ys = [float(r[metric]) for r in points]
    # the numbered legend lists every point beside the axes: grow the figure with it so the axes keep their size
    fig = _figure(8.0, max(5.2, 0.23 * (len(points) + 5) + 0.8) if numbered else 5.2)
    ax = fig.add_subplot()
    log_x = min(xs) > 0 and max(xs) > 10 * min(xs)
    front = pareto_front(list(zip(xs, ys)))
    fx, fy = [xs[i] for i in front], [ys[i] for i in front]
    if max(xs) > fx[-1]:  # carry the front on to the slowest model: nothing slower does better
        fx, fy = fx + [max(xs)], fy + [fy[-1]]
    ax.step(fx, fy, where="post", color="0.55", linewidth=1.3, zorder=1)
    for i, r in enumerate(points):
        err = {"yerr": r.get(f"{metric}_ci95") or None, "xerr": r.get(f"{latency}_ci95") or None}
        ax.errorbar(xs[i], ys[i], **err, fmt=MARKERS.get(r["role"], "D"), color=_colour(i), markersize=8,
                    markeredgecolor="black", markeredgewidth=0.6 if i in front else 0, capsize=3, zorder=3)
        right = _position(xs[i], xs, log_x) > 0.7  # label towards the middle, not off the plot
        # many points crowd each other (models of equal latency): number them, and name them in the legend
        text = str(i + 1) if numbered else _label(r, with_recipe)
        ax.annotate(text, (xs[i], ys[i]), xytext=(-8 if right else 8, 6),
                    textcoords="offset points", ha="right" if right else "left", fontsize=8.5, color="0.15",
                    zorder=4)
    for i, teacher in enumerate(points):  # knowledge distillation: each teacher to its recipe's students
        if teacher["role"] != "teacher":
            continue
        for j, student in enumerate(points):
            if student["role"] == "student" and student["recipe"] == teacher["recipe"]:
                ax.annotate("", xy=(xs[j], ys[j]), xytext=(xs[i], ys[i]), zorder=2,
                            arrowprops={"arrowstyle": "-|>", "color": "0.4", "linewidth": 1.1,
                                        "linestyle": (0, (4, 2)), "shrinkA": 7, "shrinkB": 7})
    if log_x:
        ax.set_xscale("log")
    ax.margins(x=0.12, y=0.12)
    match = re.fullmatch(r"latency_ms_(p\d+)", latency)
    ax.set_xlabel(f"inference latency, {match[1]} (ms; lower is better)" if match else f"{latency} (lower is better)")
    ax.set_ylabel(f"{metric} (higher is better)")
    ax.grid(True, which="both" if log_x else "major", alpha=0.3)
    from matplotlib.lines import Line2D  # matplotlib is known to import by now

    legend = [Line2D([], [], linestyle="", marker=m, color="0.35", markersize=8, label=role)
              for role, m in MARKERS.items() if any(r["role"] == role for r in points)]
    legend.append(Line2D([], [], color="0.55", linewidth=1.3, drawstyle="steps-post", label="Pareto front"))
    if any(r["role"] == "teacher" for r in points) and any(r["role"] == "student" for r in points):
        legend.append(Line2D([], [], color="0.4", linestyle=(0, (4, 2)), marker=">", markevery=[1],
                             label="distilled into"))
    if numbered:
        legend += [Line2D([], [], linestyle="", marker=MARKERS.get(r["role"], "D"), color=_colour(i),
                          markersize=7, label=f"{i + 1}. {_label(r, with_recipe)}") for i, r in enumerate(points)]
    ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9,
              handletextpad=0.9, borderaxespad=0.0)
    ax.set_title(title or _default_title(f"Quality vs latency ({metric})", points), fontsize=13)
    return _save(fig, path)


def safe_filename(name: str) -> str:
    """``name`` with every run of characters outside [A-Za-z0-9._-] replaced by one '-' (no path separators)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).lstrip(".") or "plot"


def write_plots(records_rows: list[dict[str, Any]], robustness_rows: list[dict[str, Any]], out_dir: Path,
                metric: str = "NDCG@10") -> list[Path]:
    """Write ``pareto_<dataset>_<split>.png`` and ``robustness_<dataset>_<split>.png`` for each group.

    A group without leaderboard rows that carry ``latency_ms_p50`` gets no Pareto chart, one without
    robustness rows no robustness plot (so one run without latency never blocks the other groups' plots).
    Names are sanitised to [A-Za-z0-9._-]; two groups that sanitise alike get a short hash suffix.

    Returns:
        The paths written, in group order (Pareto before robustness).

    Raises:
        MMBenchError: nothing to plot at all (no latency and no robustness anywhere: the fix names the
            recipe settings), or as :func:`robustness_curves`.
    """
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: {"lb": [], "rob": []})
    for row in records_rows:
        if row.get("latency_ms_p50") is not None:
            groups[(str(row["dataset"]), str(row["split"]))]["lb"].append(row)
    for row in robustness_rows:
        groups[(str(row["dataset"]), str(row["split"]))]["rob"].append(row)
    if not groups:
        raise MMBenchError(f"nothing to plot: no run record has latency ({len(records_rows)} leaderboard rows) or "
                           f"robustness results; fix: enable eval.latency and eval.robustness in the recipe and re-run")
    out_dir = Path(out_dir)
    used: set[str] = set()
    written: list[Path] = []
    for (dataset, split), parts in sorted(groups.items()):
        jobs = (("pareto", parts["lb"], pareto_chart), ("robustness", parts["rob"], robustness_curves))
        for kind, rows, draw in jobs:
            if not rows:
                continue
            stem = safe_filename(f"{kind}_{dataset}_{split}")
            if stem in used:  # e.g. "a/b" and "a:b": never overwrite another group's plot
                stem += "-" + hashlib.sha1(f"{dataset}\0{split}".encode()).hexdigest()[:8]
            used.add(stem)
            written.append(draw(rows, out_dir / f"{stem}.png", metric=metric))
    return written
