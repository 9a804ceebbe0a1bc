"""Robustness figures: the metric against the share of items that miss a modality, one panel per modality.

:func:`robustness_curves` draws any set of curve rows; :func:`mmbench.results.plots.write_plots` gives it one
recipe's (its teacher, students and baselines under every imputer). :func:`robustness_overview` draws a dataset's
few headline models (:mod:`mmbench.results.figure_picks`), each as it was trained. Colour stands for the role
(the same in every figure), line style and marker for the imputer; a model that reads no feature of a modality
is a dotted flat line in that panel. The legend sits below the panels and the figure grows with it, so the
panels keep their size however many curves there are.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.results.drawing import (MARKERS, ROLE_ORDER, default_title, model_label, new_figure, role_colour,
                                     save_png, several)

MODALITY_ORDER = ["text", "image", "audio", "video"]  # then any other, and "all" last
ROBUSTNESS_KEYS = ("recipe", "dataset", "split", "role", "component", "modality", "imputer", "rate", "metric",
                   "value")
# line style and marker per imputer; dotted is kept for the flat line of an unaffected model
IMPUTER_STYLES = {"none": ("-", "o"), "mean": ("--", "s"), "neighbor-mean": ("-.", "^")}
OTHER_STYLES = [((0, (5, 1, 1, 1, 1, 1)), "D"), ((0, (8, 2)), "v"), ((0, (3, 1, 1, 1)), "P")]
UNAFFECTED = (0, (1, 1.5))
PICK_COLOURS = {"best teacher": role_colour("teacher", 1), "teacher": role_colour("teacher"),
                "KD student": role_colour("student"), "no-KD student": role_colour("baseline")}

Curve = tuple[str, str, str, str, str]  # recipe, role, component, imputer, label
Style = dict[str, Any]


def _points(rows: Sequence[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    for row in rows:
        missing = [k for k in ROBUSTNESS_KEYS if k not in row]
        if missing:
            raise MMBenchError(f"robustness row {row} lacks {missing}; fix: produce rows with {list(ROBUSTNESS_KEYS)}")
    points = [r for r in rows if r["metric"] == metric]
    if not points:
        raise MMBenchError(f"no robustness row for metric {metric!r}; fix: pass one of "
                           f"{sorted({r['metric'] for r in rows}) or 'the metrics the recipe evaluates'}")
    return points


def _modality_key(modality: str) -> tuple[int, str]:
    if modality == "all":
        return (len(MODALITY_ORDER) + 1, modality)
    return (MODALITY_ORDER.index(modality) if modality in MODALITY_ORDER else len(MODALITY_ORDER), modality)


def _imputer_style(imputer: str, others: list[str]) -> tuple[Any, str]:
    if imputer in IMPUTER_STYLES:
        return IMPUTER_STYLES[imputer]
    if imputer not in others:
        others.append(imputer)
    return OTHER_STYLES[others.index(imputer) % len(OTHER_STYLES)]


def robustness_curves(rows: Sequence[dict[str, Any]], path: Path, metric: str = "NDCG@10",
                      title: str | None = None) -> Path:
    """Plot the metric against the missing-modality rate, one panel per modality and one line per model and imputer.

    Args:
        rows: One dict per curve point, already aggregated over seeds, with the keys of ``ROBUSTNESS_KEYS``
            plus optional ``ci95`` (drawn as a band), ``unaffected`` (the model reads no feature of that
            modality: drawn as a dotted flat line) and ``kd`` (the model's part in distillation, which names
            it). Rows of other metrics are ignored.
        path: The PNG file to write.
        metric: The metric to plot.
        title: The figure title; by default names the dataset and split.

    Returns:
        ``path``.

    Raises:
        MMBenchError: no row of ``metric``, a row without a required key, or matplotlib missing.
    """
    points = _points(rows, metric)
    with_recipe = several(points, "recipe")
    shades: dict[str, list[tuple[str, str]]] = defaultdict(list)  # per role, its models in order of appearance
    for r in sorted(points, key=lambda r: (r["recipe"], r["component"])):
        if (r["recipe"], r["component"]) not in shades[r["role"]]:
            shades[r["role"]].append((r["recipe"], r["component"]))
    others: list[str] = []

    def style(r: dict[str, Any]) -> tuple[str, Style]:
        linestyle, marker = _imputer_style(str(r["imputer"]), others)
        shade = shades[r["role"]].index((r["recipe"], r["component"]))
        return model_label(r, with_recipe), {"color": role_colour(r["role"], shade), "linestyle": linestyle,
                                             "marker": marker}

    return _draw(points, path, metric, style,
                 title or default_title(f"Robustness to missing modalities ({metric})", points))


def robustness_overview(rows: Sequence[dict[str, Any]], picks: Sequence[dict[str, Any]], path: Path,
                        metric: str = "NDCG@10", title: str | None = None) -> Path:
    """Plot only the ``picks`` (a dataset's headline models), each with the imputer it was trained with.

    Args:
        rows: Curve rows as for :func:`robustness_curves`, with ``trained`` (False for an imputer swapped in at
            test time only; rows without the key count as trained).
        picks: The models to draw (:func:`mmbench.results.figure_picks.headline_picks`): ``recipe``,
            ``role``, ``component`` and ``pick``, which names and colours the curve.
        path: The PNG file to write.
        metric: The metric to plot.
        title: The figure title; by default names the dataset and split.

    Returns:
        ``path``.

    Raises:
        MMBenchError: no row of ``metric`` for any pick, a row without a required key, or matplotlib missing.
    """
    named = {(p["recipe"], p["role"], p["component"]): str(p["pick"]) for p in picks}
    points = [r for r in _points(rows, metric) if (r["recipe"], r["role"], r["component"]) in named
              and r.get("trained", True)]
    if not points:
        raise MMBenchError(f"no robustness row of {metric!r} for the models {sorted(named)}; fix: pick models "
                           "whose recipes measured robustness (eval.robustness)")

    def style(r: dict[str, Any]) -> tuple[str, Style]:
        pick = named[(r["recipe"], r["role"], r["component"])]
        return f"{pick}: {r['recipe']} · {r['component']}", {
            "color": PICK_COLOURS.get(pick, role_colour(r["role"])), "linestyle": "-",
            "marker": MARKERS.get(r["role"], "D")}

    order = {key: i for i, key in enumerate(named)}
    points.sort(key=lambda r: order[(r["recipe"], r["role"], r["component"])])
    return _draw(points, path, metric, style, title or default_title(
        f"Robustness to missing modalities ({metric}): headline models", points), sort_legend=False)


def _draw(points: list[dict[str, Any]], path: Path, metric: str,
          style: Callable[[dict[str, Any]], tuple[str, Style]], title: str, sort_legend: bool = True) -> Path:
    """One panel per modality, one line per (recipe, role, component, imputer), the legend below the panels."""
    by_modality: dict[str, dict[Curve, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in points:
        label, _ = style(r)
        by_modality[r["modality"]][(r["recipe"], r["role"], r["component"], r["imputer"], label)].append(r)
    modalities = sorted(by_modality, key=_modality_key)
    ncols = 2 if len(modalities) == 4 else min(len(modalities), 3)
    nrows = math.ceil(len(modalities) / ncols)
    curves = list(dict.fromkeys(c for m in modalities for c in by_modality[m]))
    if sort_legend:
        curves.sort(key=lambda c: (ROLE_ORDER.get(c[1], 9), c[1], c[0], c[2], c[3] != "none", c[3]))
    flat = {c: all(r.get("unaffected") for m in modalities for r in by_modality[m].get(c, [])) for c in curves}
    labels = {c: c[4] + (" (unaffected)" if flat[c] else "") for c in curves}
    width = max(7.0, 4.3 * ncols + 0.6)
    if sort_legend:  # wide enough for one legend column per role (a one-panel figure would stack them)
        width = max(width, min(14.0, len({c[1] for c in curves}) * _entry_width(labels) + 0.5))
    slots, legend_cols = _legend_slots(curves, labels, width, by_role=sort_legend)
    fig = new_figure(width, 3.5 * nrows + 0.9 + 0.24 * math.ceil(len(slots) / legend_cols))  # legend adds height
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    handles: dict[Curve, Any] = {}  # the line the legend shows: dotted only for a model unaffected everywhere
    for ax, modality in zip(axes, modalities):
        for curve in curves:
            if curve in by_modality[modality]:
                line, affected = _curve(ax, by_modality[modality][curve], style)
                if affected or flat[curve]:
                    handles.setdefault(curve, line)
        ax.set_title(f"missing {modality}" if modality != "all" else "all modalities missing", fontsize=11)
        ax.set_xlim(-0.03, 1.03)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
        ax.set_xlabel("items missing the modality")
        ax.grid(True, alpha=0.3)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(f"{metric} (mean over seeds)")
    for ax in axes[len(modalities):]:
        ax.set_visible(False)
    from matplotlib.lines import Line2D  # matplotlib is known to import by now

    blank = Line2D([], [], linestyle="", marker="")
    fig.legend([handles[c] if c else blank for c in slots], [labels[c] if c else "" for c in slots],
               loc="outside lower center", ncols=legend_cols, frameon=False, fontsize=9)
    fig.suptitle(title, fontsize=13)
    return save_png(fig, path)


def _entry_width(labels: dict[Curve, str]) -> float:
    """Inches of the widest legend entry (9 pt text and its line), roughly."""
    return 0.065 * max(len(label) for label in labels.values()) + 0.8


def _legend_slots(curves: list[Curve], labels: dict[Curve, str], width: float,
                  by_role: bool) -> tuple[list[Curve | None], int]:
    """The legend's entries in matplotlib's column-major order, and its number of columns.

    By role: one column per role (padded with blanks, None) when they fit the figure's width, else up to three
    columns filled in order. Otherwise: all in one row when it fits, else one column.
    """
    fit = max(1, int(width // _entry_width(labels)))
    if not by_role:
        return list(curves), len(curves) if len(curves) <= fit else 1
    groups = [[c for c in curves if c[1] == role] for role in dict.fromkeys(c[1] for c in curves)]
    if 1 < len(groups) <= fit:
        rows = max(len(g) for g in groups)
        return [c for g in groups for c in [*g, *[None] * (rows - len(g))]], len(groups)
    cols = min(3, len(curves), fit)
    return list(curves), cols


def _curve(ax: Any, curve: list[dict[str, Any]], style: Callable[[dict[str, Any]], tuple[str, Style]]
           ) -> tuple[Any, bool]:
    """Draw one model's curve in one panel (a flat dotted line when the model reads no feature of the modality)."""
    curve = sorted(curve, key=lambda r: r["rate"])
    rates = [float(r["rate"]) for r in curve]
    values = [float(r["value"]) for r in curve]
    cis = [float(r.get("ci95") or 0.0) for r in curve]
    label, look = style(curve[0])
    affected = not any(r.get("unaffected") for r in curve)
    if affected:
        look = {**look, "markersize": 5, "linewidth": 1.8}
    else:  # its inputs are untouched by this mask: one level across the whole rate axis
        level, ci = sum(values) / len(values), max(cis)
        rates, values, cis = [0.0, 1.0], [level, level], [ci, ci]
        look = {**look, "linestyle": UNAFFECTED, "marker": None, "linewidth": 1.6}
    (line,) = ax.plot(rates, values, label=label, **look)
    if any(cis):
        ax.fill_between(rates, [v - c for v, c in zip(values, cis)], [v + c for v, c in zip(values, cis)],
                        color=line.get_color(), alpha=0.12 if affected else 0.07, linewidth=0)
    return line, affected
