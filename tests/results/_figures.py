"""Shared by the figure tests: whether a reader can see a figure's plots, whether a PNG is one, and test data."""

from __future__ import annotations

import warnings
from itertools import combinations
from pathlib import Path
from typing import Any

import matplotlib.image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    """Fail unless ``path`` is a PNG of a sensible size that is not blank."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert 300 < image.shape[0] < 4000 and 300 < image.shape[1] < 4000
    assert image.std() > 0.01  # not a blank canvas


def assert_plot_area(fig: Any, min_width: float = 0.35, min_height: float = 0.25) -> None:
    """Fail when a legend, labels or a title squeeze the axes of ``fig`` into a sliver of the saved picture.

    The picture is what ``save_png`` writes (``bbox_inches="tight"``: the figure grown or cropped to everything
    drawn, legends outside it included). Together the visible axes must span at least ``min_width`` of its width
    and ``min_height`` of its height; each axes at least that share of its own cell of the subplot grid (a panel
    of three side by side needs a third of it), so no single panel collapses either. A figure legend must not
    cover an axes, and the layout engine must not give up (it does when decorations leave the axes no room).
    """
    from matplotlib.transforms import Bbox

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()  # runs the layout engine: extents are final only after a draw
    gave_up = [str(w.message) for w in caught if "layout not applied" in str(w.message)]
    assert not gave_up, f"the layout engine gave up: {gave_up[0]}"
    renderer = fig.canvas.get_renderer()
    picture = fig.get_tightbbox(renderer)  # inches
    width, height = picture.width * fig.dpi, picture.height * fig.dpi
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert axes, "the figure has no visible axes"
    boxes = [ax.get_window_extent(renderer) for ax in axes]
    for ax, box in zip(axes, boxes):
        spec = ax.get_subplotspec()
        nrows, ncols = spec.get_geometry()[:2] if spec is not None else (1, 1)
        assert box.width >= min_width * width / ncols and box.height >= min_height * height / nrows, (
            f"axes {ax.get_title()!r} is {box.width:.0f}x{box.height:.0f} px in a {width:.0f}x{height:.0f} px "
            f"picture ({nrows}x{ncols} grid): its plot area collapsed")
    union = Bbox.union(boxes)
    assert union.width >= min_width * width and union.height >= min_height * height, (
        f"the axes span {union.width:.0f}x{union.height:.0f} px of a {width:.0f}x{height:.0f} px picture")
    for legend in fig.legends:
        lbox = legend.get_window_extent(renderer)
        for ax, box in zip(axes, boxes):
            assert not lbox.overlaps(box), f"the figure legend covers axes {ax.get_title()!r}"


def assert_labels_apart(ax: Any) -> None:
    """Fail when two text labels inside ``ax`` overlap (crowded point labels are unreadable)."""
    renderer = ax.figure.canvas.get_renderer()
    texts = [t for t in ax.texts if t.get_visible() and t.get_text()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    clashes = [(a, b) for (a, abox), (b, bbox) in combinations(boxes, 2) if abox.overlaps(bbox)]
    assert not clashes, f"{len(clashes)} pair(s) of labels overlap, e.g. {clashes[:3]}"


def lb_row(recipe: str, role: str, component: str, ndcg: float, latency: float | None, **extra: Any) -> dict:
    """A leaderboard row of Beauty with NDCG@10 (± 0.002) and, unless None, p50 latency."""
    row = {"recipe": recipe, "dataset": "amazon-beauty", "split": "loo-time", "role": role, "component": component,
           "seeds": 3, "NDCG@10": ndcg, "NDCG@10_ci95": 0.002, "params": 1000, **extra}
    if latency is not None:
        row["latency_ms_p50"] = latency
    return row


def leaderboard_rows() -> list[dict]:
    """A KD recipe's teacher and two students, and a popularity baseline, 0.2 to 40 ms."""
    return [lb_row("kd", "teacher", "mm-gnn", 0.062, 40.0, latency_ms_p50_ci95=2.0),
            lb_row("kd", "student", "lightgcn", 0.055, 3.0),
            lb_row("kd", "student", "mf", 0.048, 0.9),
            lb_row("kd", "baseline", "pop", 0.015, 0.2)]


def robustness_rows(dataset: str = "amazon-beauty", split: str = "loo-time") -> list[dict]:
    """Curve points of a teacher (no imputer) and a student (mean imputer, unaffected by images)."""
    out = []
    for role, comp, imputer, drops in [("teacher", "mm-gnn", "none", {"text": 0.3, "image": 0.2, "all": 0.6}),
                                       ("student", "lightgcn", "mean", {"text": 0.2, "image": 0.0, "all": 0.2})]:
        for modality, drop in drops.items():
            for rate in (0.0, 0.25, 0.5, 1.0):
                out.append({"recipe": "kd", "dataset": dataset, "split": split, "role": role, "component": comp,
                            "modality": modality, "imputer": imputer, "rate": rate, "metric": "NDCG@10",
                            "value": 0.06 * (1 - drop * rate), "ci95": 0.002, "unaffected": drop == 0.0})
    return out


def crowded() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """A dataset shaped like the committed Beauty records: ``recipes`` KD recipes (a teacher under three imputers,
    a KD student and its no-KD twin, both ID-only) plus a BPR-MF and a popularity run.

    Returns:
        Leaderboard rows (with latency), robustness curve points (text, image, all) and kd_members rows.
    """
    import random

    rng = random.Random(0)
    base = {"dataset": "amazon-beauty", "split": "loo-time", "seeds": 3, "params": 1000}
    lb, curves, kd = [], [], []
    for i in range(16):
        recipe = f"beauty-kd-variant-{i:02d}"
        for role, comp, part, latency, ndcg in (("teacher", "mm-gnn", "teacher", 0.13, 0.027),
                                                ("student", "lightgcn", "KD student", 0.08, 0.025),
                                                ("baseline", "lightgcn", "no-KD student", 0.08, 0.0224)):
            value = ndcg + rng.uniform(-0.002, 0.002)
            lb.append({**base, "recipe": recipe, "role": role, "component": comp, "NDCG@10": value,
                       "NDCG@10_ci95": 0.002, "latency_ms_p50": latency * rng.uniform(0.9, 1.1)})
            kd.append({"recipe": recipe, "dataset": "amazon-beauty", "split": "loo-time", "role": role,
                       "component": comp, "kd": part})
            imputers = ("none", "mean", "neighbor-mean") if role == "teacher" else ("none",)
            for imputer in imputers:
                drop = rng.uniform(0.1, 0.6) if role == "teacher" else 0.0
                for modality in ("text", "image", "all"):
                    for rate in (0.0, 0.25, 0.5, 0.75, 1.0):
                        curves.append({"recipe": recipe, "dataset": "amazon-beauty", "split": "loo-time",
                                       "role": role, "component": comp, "modality": modality, "imputer": imputer,
                                       "rate": rate, "metric": "NDCG@10", "value": value * (1 - drop * rate),
                                       "ci95": 0.001, "unaffected": drop == 0.0, "trained": imputer == "none"})
    lb.append({**base, "recipe": "beauty-mf", "role": "student", "component": "mf", "NDCG@10": 0.016,
               "latency_ms_p50": 0.074})
    lb.append({**base, "recipe": "beauty-mf", "role": "baseline", "component": "pop", "NDCG@10": 0.0054,
               "latency_ms_p50": 0.014})
    return lb, curves, kd
