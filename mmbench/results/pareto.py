"""The accuracy-vs-latency chart: every model as a point, the Pareto front, and names only where they help.

A dataset has dozens of models, most of them students of equal latency. Naming every point crowds the axes, so
only the points on the Pareto front and a few named ones (the dataset's headline models,
:mod:`mmbench.results.figure_picks`) carry a name, in a column beside the axes joined to the point by a thin
line; every other point is a faint marker coloured by its role. A chart of a few models names them all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.results.drawing import (MARKERS, default_title, model_label, new_figure, role_colour, role_name,
                                     save_png, several)

FEW = 8  # a chart of this many models or fewer names every one
LABEL_PT = 8.5  # font size of the names beside the axes


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


def spread(positions: Sequence[float], gap: float) -> list[float]:
    """Positions in [0, 1] as close to ``positions`` as possible, in the same order, at least ``gap`` apart.

    Used to stack names beside the axes at the height of their points without overlapping. The gap shrinks to
    1 / len(positions) when that many names would not fit otherwise.
    """
    gap = min(gap, 1.0 / max(len(positions), 1))
    order = sorted(range(len(positions)), key=lambda i: (positions[i], i))
    out = [0.0] * len(positions)
    floor = -math.inf
    for i in order:  # up from the bottom, pushing each name above the one below it
        out[i] = max(min(max(positions[i], 0.0), 1.0), floor)
        floor = out[i] + gap
    ceiling = 1.0
    for i in reversed(order):  # then down from the top, so that none leaves the axes
        out[i] = min(out[i], ceiling)
        ceiling = out[i] - gap
    return out


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["recipe"], row.get("dataset"), row.get("split"), row["role"], row["component"])


def pareto_chart(rows: Sequence[dict[str, Any]], path: Path, metric: str = "NDCG@10",
                 latency: str = "latency_ms_p50", title: str | None = None,
                 named: Sequence[dict[str, Any]] = ()) -> Path:
    """Plot quality against inference latency with the Pareto front, naming the front and the ``named`` models.

    Args:
        rows: Leaderboard rows (:func:`mmbench.results.leaderboard.rows`); rows lacking ``metric`` or
            ``latency`` are skipped. ``<col>_ci95`` columns become error bars of the named points; an optional
            ``kd`` key (``KD student``...) names a model's part in distillation.
        path: The PNG file to write.
        metric: The quality column (y axis).
        latency: The latency column in milliseconds (x axis; log scale when it spans more than 10×).
        title: The figure title; by default names the dataset and split.
        named: Models to name besides the front (matched on recipe, dataset, split, role, component), e.g.
            :func:`mmbench.results.figure_picks.headline_picks`; a ``pick`` key is added to the name.

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
    xs = [float(r[latency]) for r in points]
    ys = [float(r[metric]) for r in points]
    front = pareto_front(list(zip(xs, ys)))
    picks = {_key(p): p.get("pick") for p in named}
    shown = [i for i, r in enumerate(points) if len(points) <= FEW or i in front or _key(r) in picks]
    fig = new_figure(11.0, max(5.6, 0.19 * len(shown) + 2.4))  # taller when many names must stack
    ax = fig.add_subplot()
    log_x = min(xs) > 0 and max(xs) > 10 * min(xs)
    fx, fy = [xs[i] for i in front], [ys[i] for i in front]
    if max(xs) > fx[-1]:  # carry the front on to the slowest model: nothing slower does better
        fx, fy = fx + [max(xs)], fy + [fy[-1]]
    ax.step(fx, fy, where="post", color="0.55", linewidth=1.3, zorder=1)
    for i, r in enumerate(points):
        style = {"fmt": MARKERS.get(r["role"], "D"), "color": role_colour(r["role"]), "zorder": 2}
        if i in shown:
            ax.errorbar(xs[i], ys[i], yerr=r.get(f"{metric}_ci95") or None, xerr=r.get(f"{latency}_ci95") or None,
                        markersize=8, markeredgecolor="black", markeredgewidth=0.9 if i in front else 0.0,
                        capsize=3, **{**style, "zorder": 3})
        else:
            ax.errorbar(xs[i], ys[i], markersize=6, alpha=0.4, markeredgewidth=0.0, **style)
    if log_x:
        _log_axis(ax)
    ax.margins(x=0.08, y=0.1)
    ax.autoscale_view()
    _name_points(ax, points, shown, xs, ys, picks, several(points, "recipe"), metric)
    arrows = _distillation_arrows(ax, points, shown, xs, ys)
    match = re.fullmatch(r"latency_ms_(p\d+)", latency)
    ax.set_xlabel(f"inference latency, {match[1]} (ms; lower is better)" if match else f"{latency} (lower is better)")
    ax.set_ylabel(f"{metric} (higher is better)")
    ax.grid(True, which="both" if log_x else "major", alpha=0.3)
    _legend(fig, points, arrows > 0)
    ax.set_title(title or default_title(f"Quality vs latency ({metric})", points), fontsize=13)
    return save_png(fig, path)


def _log_axis(ax: Any) -> None:
    """A log x axis labelled in plain decimals (0.02, 0.05, 0.1), not powers of ten."""
    from matplotlib.ticker import FuncFormatter

    def minor(v: float, _: Any) -> str:  # label the 2s and 5s between the decades
        return f"{v:g}" if v > 0 and round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else ""

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(minor))


def _name_points(ax: Any, points: Sequence[dict[str, Any]], shown: Sequence[int], xs: Sequence[float],
                 ys: Sequence[float], picks: dict[tuple[Any, ...], Any], with_recipe: bool, metric: str) -> None:
    """Each shown point's name and values in a column right of the axes, at its point's height, joined to it by
    a line in its role's colour."""
    lo, hi = ax.get_ylim()
    height_in = ax.figure.get_figheight() - 2.0  # the axes' height, roughly: title, x label and legend take the rest
    gap = 1.45 * LABEL_PT / 72 / max(height_in, 1.0)
    heights = spread([(ys[i] - lo) / (hi - lo) if hi > lo else 0.5 for i in shown], gap)
    for i, height in zip(shown, heights):
        r = points[i]
        text = model_label(r, with_recipe)
        pick = picks.get(_key(r))
        if pick and pick not in (role_name(r), "teacher"):  # "best teacher": say why it is named
            text += f" ({pick})"
        text += f"   {ys[i]:.4f} at {xs[i]:.3g} ms"
        colour = role_colour(r["role"])
        ax.annotate(text, (xs[i], ys[i]), xytext=(1.02, height), textcoords="axes fraction", ha="left",
                    va="center", fontsize=LABEL_PT, color=colour, gid="name", annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": colour, "alpha": 0.55, "linewidth": 0.7,
                                "shrinkA": 1, "shrinkB": 5, "relpos": (0.0, 0.5)})


def _distillation_arrows(ax: Any, points: Sequence[dict[str, Any]], shown: Sequence[int], xs: Sequence[float],
                         ys: Sequence[float]) -> int:
    """A dashed arrow from each named teacher to the named students of its recipe (what it was distilled into).

    Returns:
        How many arrows were drawn.
    """
    drawn = 0
    for i in shown:
        if points[i]["role"] != "teacher":
            continue
        for j in shown:
            student = points[j]
            if student["recipe"] == points[i]["recipe"] and (student.get("kd") == "KD student" or (
                    "kd" not in student and student["role"] == "student")):
                ax.annotate("", xy=(xs[j], ys[j]), xytext=(xs[i], ys[i]), zorder=2, gid="kd-arrow",
                            arrowprops={"arrowstyle": "-|>", "color": "0.4", "linewidth": 1.1,
                                        "linestyle": (0, (4, 2)), "shrinkA": 7, "shrinkB": 7})
                drawn += 1
    return drawn


def _legend(fig: Any, points: Sequence[dict[str, Any]], arrows: bool) -> None:
    from matplotlib.lines import Line2D  # matplotlib is known to import by now

    handles = [Line2D([], [], linestyle="", marker=m, color=role_colour(role), markersize=8, label=role)
               for role, m in MARKERS.items() if any(r["role"] == role for r in points)]
    handles.append(Line2D([], [], linestyle="", marker="o", color="white", markeredgecolor="black",
                          markeredgewidth=0.9, markersize=8, label="on the Pareto front (named)"))
    handles.append(Line2D([], [], color="0.55", linewidth=1.3, drawstyle="steps-post", label="Pareto front"))
    if arrows:
        handles.append(Line2D([], [], color="0.4", linestyle=(0, (4, 2)), label="distilled into"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, fontsize=9)
