"""The accuracy-vs-latency chart: the Pareto front, names only where they help, readable with fifty models."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from mmbench.errors import MMBenchError
from mmbench.results.pareto import pareto_chart, pareto_front, spread
from _figures import assert_labels_apart, assert_plot_area, assert_png, crowded, lb_row, leaderboard_rows


def names(ax: Any) -> set[str]:
    """The model names written beside the axes (without their values)."""
    return {t.get_text().split("   ")[0] for t in ax.texts if t.get_gid() == "name"}


def arrows(ax: Any) -> list[Any]:
    return [t for t in ax.texts if t.get_gid() == "kd-arrow"]


# --------------------------------------------------------------------------------------------------
# pareto_front, spread
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


def test_spread_keeps_order_and_gap_and_stays_in_the_axes() -> None:
    assert spread([0.2, 0.8], 0.1) == [0.2, 0.8]  # far apart: unmoved
    assert spread([0.5, 0.5, 0.5], 0.1) == pytest.approx([0.5, 0.6, 0.7])  # ties keep their order
    assert spread([0.99, 0.98], 0.1) == pytest.approx([1.0, 0.9])  # pushed back down from the top
    assert spread([-0.5, 0.0], 0.1) == pytest.approx([0.0, 0.1])  # never below the axes
    out = spread([0.5] * 20, 0.1)  # 20 names at a gap of 0.1 cannot fit: the gap shrinks to 1/20
    assert all(0.0 <= p <= 1.0 for p in out)
    assert min(b - a for a, b in zip(out, out[1:])) == pytest.approx(0.05)
    assert spread([], 0.1) == []


# --------------------------------------------------------------------------------------------------
# pareto_chart
# --------------------------------------------------------------------------------------------------

def test_pareto_chart_writes_a_png(tmp_path: Path, figures: list[Any]) -> None:
    out = pareto_chart(leaderboard_rows(), tmp_path / "p.png")
    assert out == tmp_path / "p.png"
    assert_png(out)
    ax = figures[0].axes[0]
    assert ax.get_xscale() == "log"  # 0.2 .. 40 ms spans 200x
    # a few models: every one is named, with its values
    assert names(ax) == {"teacher: mm-gnn", "student: lightgcn", "student: mf", "baseline: pop"}
    assert "teacher: mm-gnn   0.0620 at 40 ms" in {t.get_text() for t in ax.texts}
    assert len(arrows(ax)) == 2  # the teacher to each of its two students, none to the baseline
    assert "NDCG@10" in ax.get_title() and "amazon-beauty" in ax.get_title()
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]  # no temporary file left behind
    assert_plot_area(figures[0])
    assert_labels_apart(ax)


def test_pareto_chart_several_recipes(tmp_path: Path, figures: list[Any]) -> None:
    rows = [lb_row("kd-a", "teacher", "vbpr", 0.06, 4.0), lb_row("kd-a", "student", "mf", 0.05, 2.0),
            lb_row("kd-b", "teacher", "vbpr", 0.07, 5.0), lb_row("kd-b", "student", "mf", 0.055, 2.5),
            lb_row("kd-b", "student", "no-latency", 0.09, None)]
    assert_png(pareto_chart(rows, tmp_path / "p.png", title="custom"))
    ax = figures[0].axes[0]
    assert ax.get_xscale() == "linear" and ax.get_title() == "custom"
    assert "kd-a · teacher: vbpr" in names(ax) and "kd-b · student: mf" in names(ax)
    assert not any("no-latency" in name for name in names(ax))  # skipped: no latency column
    assert len(arrows(ax)) == 2  # within a recipe only


def test_pareto_chart_of_fifty_models_names_the_front_and_the_picks_only(tmp_path: Path, figures: list[Any]) -> None:
    lb, _, kd = crowded()
    from mmbench.results.figure_picks import headline_picks
    from mmbench.results.plots import _with_kd

    rows = _with_kd(lb, kd)
    picks = headline_picks(rows, kd)
    assert_png(pareto_chart(rows, tmp_path / "p.png", named=picks))
    ax = figures[0].axes[0]
    xs_ys = [(r["latency_ms_p50"], r["NDCG@10"]) for r in rows]
    front = {f"{rows[i]['recipe']} · {rows[i].get('kd') or rows[i]['role']}: {rows[i]['component']}"
             for i in pareto_front(xs_ys)}
    picked = {f"{p['recipe']} · {p['pick']}: {p['component']}" for p in picks}
    assert names(ax) == front | picked  # not the other 40-odd models
    assert len(names(ax)) < 12
    assert len(arrows(ax)) == 1  # the headline teacher to its KD student
    assert_plot_area(figures[0])
    assert_labels_apart(ax)  # stacked beside the axes, never on top of each other


def test_pareto_chart_names_the_best_teacher_as_such(tmp_path: Path, figures: list[Any]) -> None:
    rows = leaderboard_rows() + [lb_row("other", "teacher", "freedom", 0.07, 30.0)]
    named = [{**rows[-1], "pick": "best teacher"}]
    pareto_chart(rows, tmp_path / "p.png", named=named)
    assert "other · teacher: freedom (best teacher)" in names(figures[0].axes[0])


def test_pareto_chart_missing_columns_raise_clear_errors(tmp_path: Path) -> None:
    rows = [lb_row("kd", "student", "mf", 0.05, None), lb_row("kd", "teacher", "vbpr", 0.06, None)]
    with pytest.raises(MMBenchError, match=r"'latency_ms_p50'.*fix: enable eval\.latency in the recipe"):
        pareto_chart(rows, tmp_path / "p.png")
    with pytest.raises(MMBenchError, match="'HR@10'"):
        pareto_chart(leaderboard_rows(), tmp_path / "p.png", metric="HR@10")
    with pytest.raises(MMBenchError, match="latency_ms_p95"):
        pareto_chart(leaderboard_rows(), tmp_path / "p.png", latency="latency_ms_p95")
    assert not list(tmp_path.iterdir())
