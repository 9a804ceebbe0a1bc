"""Result plots: the Pareto front, PNG files that open, clear errors, sanitised names, atomic writes."""

from __future__ import annotations

import math
import os
import random
import sys
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest

from mmbench.errors import MMBenchError
from mmbench.results import plots
from mmbench.results.plots import pareto_chart, pareto_front, robustness_curves, safe_filename, write_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def lb_row(recipe: str, role: str, component: str, ndcg: float, latency: float | None, **extra: Any) -> dict:
    row = {"recipe": recipe, "dataset": "amazon-beauty", "split": "loo-time", "role": role, "component": component,
           "seeds": 3, "NDCG@10": ndcg, "NDCG@10_ci95": 0.002, "params": 1000, **extra}
    if latency is not None:
        row["latency_ms_p50"] = latency
    return row


def leaderboard_rows() -> list[dict]:
    return [lb_row("kd", "teacher", "mm-gnn", 0.062, 40.0, latency_ms_p50_ci95=2.0),
            lb_row("kd", "student", "lightgcn", 0.055, 3.0),
            lb_row("kd", "student", "mf", 0.048, 0.9),
            lb_row("kd", "baseline", "pop", 0.015, 0.2)]


def robustness_rows(dataset: str = "amazon-beauty", split: str = "loo-time") -> list[dict]:
    out = []
    for role, comp, imputer, drops in [("teacher", "mm-gnn", "none", {"text": 0.3, "image": 0.2, "all": 0.6}),
                                       ("student", "lightgcn", "mean", {"text": 0.2, "image": 0.0, "all": 0.2})]:
        for modality, drop in drops.items():
            for rate in (0.0, 0.25, 0.5, 1.0):
                out.append({"recipe": "kd", "dataset": dataset, "split": split, "role": role, "component": comp,
                            "modality": modality, "imputer": imputer, "rate": rate, "metric": "NDCG@10",
                            "value": 0.06 * (1 - drop * rate), "ci95": 0.002, "unaffected": drop == 0.0})
    return out


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert 300 < image.shape[0] < 4000 and 300 < image.shape[1] < 4000
    assert image.std() > 0.01  # not a blank canvas


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The matplotlib figures the plot functions save, for inspecting what was drawn."""
    seen: list[Any] = []
    save = plots._save

    def spy(fig: Any, path: Path) -> Path:
        seen.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    return seen


# --------------------------------------------------------------------------------------------------
# pareto_front
# --------------------------------------------------------------------------------------------------

def test_pareto_front_by_hand() -> None:
    pts = [(10.0, 0.50), (1.0, 0.30), (5.0, 0.45), (6.0, 0.40), (0.5, 0.10), (20.0, 0.49)]
    # (6, 0.40) loses to (5, 0.45); (20, 0.49) to (10, 0.50)
    assert pareto_front(pts) == [4, 1, 2, 0]


def test_pareto_front_ties_and_duplicates() -> None:
    # same latency: only the better metric; same metric: only the faster one
    assert pareto_front([(1.0, 0.3), (1.0, 0.5)]) == [1]
    assert pareto_front([(2.0, 0.5), (1.0, 0.5)]) == [1]
    # exact duplicates dominate neither each other: both stay, in index order
    assert pareto_front([(3.0, 0.2), (1.0, 0.4), (1.0, 0.4), (2.0, 0.4)]) == [1, 2]
    assert pareto_front([(1.0, 0.4)] * 3) == [0, 1, 2]
    assert pareto_front([]) == []
    assert pareto_front([(7.0, 0.1)]) == [0]
    assert pareto_front([(1.0, math.nan), (2.0, 0.2), (math.nan, 0.9)]) == [1]


def test_pareto_front_matches_the_definition_on_random_points() -> None:
    rng = random.Random(0)
    for _ in range(200):
        pts = [(float(rng.randint(1, 6)), float(rng.randint(1, 6))) for _ in range(rng.randint(1, 12))]
        dominated = {i for i, (x, y) in enumerate(pts)
                     for (x2, y2) in pts if x2 <= x and y2 >= y and (x2, y2) != (x, y)}
        front = pareto_front(pts)
        assert sorted(front) == [i for i in range(len(pts)) if i not in dominated], pts
        assert [pts[i][0] for i in front] == sorted(pts[i][0] for i in front)


# --------------------------------------------------------------------------------------------------
# pareto_chart
# --------------------------------------------------------------------------------------------------

def test_pareto_chart_writes_a_png(tmp_path: Path, figures: list[Any]) -> None:
    out = pareto_chart(leaderboard_rows(), tmp_path / "p.png")
    assert out == tmp_path / "p.png"
    assert_png(out)
    ax = figures[0].axes[0]
    assert ax.get_xscale() == "log"  # 0.2 .. 40 ms spans 200x
    labels = {t.get_text() for t in ax.texts}
    assert {"teacher: mm-gnn", "student: lightgcn", "student: mf", "baseline: pop"} <= labels
    arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 2  # the teacher to each of its two students, none to the baseline
    assert "NDCG@10" in ax.get_title() and "amazon-beauty" in ax.get_title()
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any file the user writes


def test_pareto_chart_several_recipes(tmp_path: Path, figures: list[Any]) -> None:
    rows = [lb_row("kd-a", "teacher", "vbpr", 0.06, 4.0), lb_row("kd-a", "student", "mf", 0.05, 2.0),
            lb_row("kd-b", "teacher", "vbpr", 0.07, 5.0), lb_row("kd-b", "student", "mf", 0.055, 2.5),
            lb_row("kd-b", "student", "no-latency", 0.09, None)]
    assert_png(pareto_chart(rows, tmp_path / "p.png", title="custom"))
    ax = figures[0].axes[0]
    assert ax.get_xscale() == "linear" and ax.get_title() == "custom"
    labels = {t.get_text() for t in ax.texts}
    assert "kd-a · teacher: vbpr" in labels and "kd-b · student: mf" in labels
    assert not any("no-latency" in label for label in labels)  # skipped: no latency column
    assert len([t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]) == 2  # within a recipe only


def test_pareto_chart_missing_columns_raise_clear_errors(tmp_path: Path) -> None:
    rows = [lb_row("kd", "student", "mf", 0.05, None), lb_row("kd", "teacher", "vbpr", 0.06, None)]
    with pytest.raises(MMBenchError, match=r"'latency_ms_p50'.*fix: enable eval\.latency in the recipe"):
        pareto_chart(rows, tmp_path / "p.png")
    with pytest.raises(MMBenchError, match="'HR@10'"):
        pareto_chart(leaderboard_rows(), tmp_path / "p.png", metric="HR@10")
    with pytest.raises(MMBenchError, match="latency_ms_p95"):
        pareto_chart(leaderboard_rows(), tmp_path / "p.png", latency="latency_ms_p95")
    assert not list(tmp_path.iterdir())


def test_missing_matplotlib_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    with pytest.raises(MMBenchError, match=r'pip install "mmbench\[plot\]"'):
        pareto_chart(leaderboard_rows(), tmp_path / "p.png")


def test_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    target = tmp_path / "p.png"
    target.write_bytes(b"old")

    def broken(self: Any, fh: Any, **kwargs: Any) -> None:
        fh.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        pareto_chart(leaderboard_rows(), target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]


# --------------------------------------------------------------------------------------------------
# robustness_curves
# --------------------------------------------------------------------------------------------------

def test_robustness_curves_writes_a_png(tmp_path: Path, figures: list[Any]) -> None:
    assert_png(robustness_curves(robustness_rows(), tmp_path / "r.png"))
    fig = figures[0]
    visible = [ax for ax in fig.axes if ax.get_visible()]
    # text and image before "all"
    assert [ax.get_title() for ax in visible] == ["missing text", "missing image", "all modalities missing"]
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert legend == {"teacher: mm-gnn", "student: lightgcn + mean", "student: lightgcn + mean (unaffected)"}
    image_ax = visible[1]
    dashed = [line for line in image_ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and list(dashed[0].get_xdata()) == [0.0, 1.0]
    assert len(set(dashed[0].get_ydata())) == 1  # flat


def test_robustness_curves_other_metric_rows_ignored_and_errors(tmp_path: Path) -> None:
    rows = robustness_rows() + [{**robustness_rows()[0], "metric": "HR@10", "value": 0.5}]
    assert_png(robustness_curves(rows, tmp_path / "r.png", title="t"))
    with pytest.raises(MMBenchError, match=r"'Recall@20'.*\['HR@10', 'NDCG@10'\]"):
        robustness_curves(rows, tmp_path / "x.png", metric="Recall@20")
    incomplete = [{k: v for k, v in robustness_rows()[0].items() if k != "rate"}]
    with pytest.raises(MMBenchError, match="rate"):
        robustness_curves(incomplete, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# --------------------------------------------------------------------------------------------------
# write_plots
# --------------------------------------------------------------------------------------------------

def test_safe_filename() -> None:
    assert safe_filename("pareto_amazon/beauty_random:80/10") == "pareto_amazon-beauty_random-80-10"
    assert safe_filename("../../etc passwd") == "-..-etc-passwd"
    assert safe_filename("a b\u00e9c.d_e-f") == "a-b-c.d_e-f"
    assert safe_filename("...") == "plot"


def test_write_plots_one_file_per_group(tmp_path: Path) -> None:
    records = leaderboard_rows() + [{**r, "dataset": "ml/1m", "split": "random:80/10"} for r in leaderboard_rows()]
    paths = write_plots(records, robustness_rows(), tmp_path / "plots")
    assert [p.name for p in paths] == ["pareto_amazon-beauty_loo-time.png", "robustness_amazon-beauty_loo-time.png",
                                       "pareto_ml-1m_random-80-10.png"]  # no robustness rows for ml/1m
    assert all(p.parent == tmp_path / "plots" for p in paths)
    for p in paths:
        assert_png(p)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(p.name for p in paths)


def test_write_plots_groups_that_sanitise_alike_do_not_overwrite(tmp_path: Path) -> None:
    records = [{**r, "dataset": name} for name in ("a/b", "a:b") for r in leaderboard_rows()]
    paths = write_plots(records, [], tmp_path)
    assert len(paths) == 2 and len(set(paths)) == 2
    assert paths[0].name == "pareto_a-b_loo-time.png"
    assert paths[1].name.startswith("pareto_a-b_loo-time-") and paths[1].suffix == ".png"
    with pytest.raises(MMBenchError, match="nothing to plot"):
        write_plots([], [], tmp_path / "empty")


def test_write_plots_without_latency_anywhere_says_how_to_get_it(tmp_path: Path) -> None:
    rows = [lb_row("kd", "student", "mf", 0.05, None)]
    with pytest.raises(MMBenchError, match="eval.latency"):
        write_plots(rows, [], tmp_path)


def test_write_plots_skips_groups_without_latency(tmp_path: Path) -> None:
    rows = leaderboard_rows() + [{**lb_row("kd", "student", "mf", 0.05, None), "dataset": "other"}]
    paths = write_plots(rows, [], tmp_path)
    assert [p.name for p in paths] == ["pareto_amazon-beauty_loo-time.png"]
