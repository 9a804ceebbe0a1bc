"""Robustness figures: one recipe's curves, a dataset's headline overview, readable however many models there are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from matplotlib.colors import to_hex

from _figures import assert_plot_area, assert_png, crowded, robustness_rows
from mmbench.errors import MMBenchError
from mmbench.results.drawing import role_colour
from mmbench.results.robustness_plots import robustness_curves, robustness_overview


def legend_texts(fig: Any) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts() if t.get_text()]


def one_recipe() -> list[dict[str, Any]]:
    """beauty-kd-variant-00 of the crowded dataset: a teacher under three imputers, KD student, no-KD student."""
    _, curves, kd = crowded()
    parts = {(m["role"], m["component"]): m["kd"] for m in kd if m["recipe"] == "beauty-kd-variant-00"}
    return [{**r, "kd": parts[(r["role"], r["component"])]} for r in curves if r["recipe"] == "beauty-kd-variant-00"]


def test_robustness_curves_writes_a_png(tmp_path: Path, figures: list[Any]) -> None:
    assert_png(robustness_curves(robustness_rows(), tmp_path / "r.png"))
    fig = figures[0]
    visible = [ax for ax in fig.axes if ax.get_visible()]
    # text and image before "all"
    assert [ax.get_title() for ax in visible] == ["missing text", "missing image", "all modalities missing"]
    # the student is unaffected by images only: its legend line is an affected one, no "(unaffected)"
    assert set(legend_texts(fig)) == {"teacher: mm-gnn", "student: lightgcn + mean"}
    image_ax = visible[1]
    dotted = [line for line in image_ax.get_lines() if line.get_marker() in (None, "None")]
    assert len(dotted) == 1 and list(dotted[0].get_xdata()) == [0.0, 1.0]
    assert len(set(dotted[0].get_ydata())) == 1  # flat
    assert_plot_area(fig)


def test_one_recipe_colours_by_role_and_styles_by_imputer(tmp_path: Path, figures: list[Any]) -> None:
    robustness_curves(one_recipe(), tmp_path / "r.png", title="beauty-kd-variant-00")
    fig = figures[0]
    assert legend_texts(fig) == ["teacher: mm-gnn", "teacher: mm-gnn + mean", "teacher: mm-gnn + neighbor-mean",
                                 "KD student: lightgcn (unaffected)", "no-KD student: lightgcn (unaffected)"]
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    teacher = [lines[f"teacher: mm-gnn{s}"] for s in ("", " + mean", " + neighbor-mean")]
    assert {to_hex(line.get_color()) for line in teacher} == {to_hex(role_colour("teacher"))}
    assert len({line.get_linestyle() for line in teacher}) == 3  # one style per imputer
    assert to_hex(lines["KD student: lightgcn"].get_color()) == to_hex(role_colour("student"))
    assert to_hex(lines["no-KD student: lightgcn"].get_color()) == to_hex(role_colour("baseline"))
    assert_plot_area(fig)
    renderer = fig.canvas.get_renderer()
    column = {t.get_text(): round(t.get_window_extent(renderer).x0) for t in fig.legends[0].get_texts()}
    assert len({column[t] for t in legend_texts(fig)[:3]}) == 1  # one column per role
    assert len({column[t] for t in legend_texts(fig)}) == 3


def test_fifty_models_in_one_figure_keep_their_panels(tmp_path: Path, figures: list[Any]) -> None:
    """The old figure: every model of a dataset in one legend, which squeezed the panels to nothing."""
    _, curves, _ = crowded()
    assert_png(robustness_curves(curves, tmp_path / "r.png"))
    fig = figures[0]
    assert len(legend_texts(fig)) == 16 * 5
    assert_plot_area(fig)  # the figure grows with its legend instead


def test_overview_draws_the_picks_as_trained(tmp_path: Path, figures: list[Any]) -> None:
    rows = one_recipe()
    picks = [{"recipe": "beauty-kd-variant-00", "role": role, "component": comp, "pick": pick}
             for role, comp, pick in (("teacher", "mm-gnn", "teacher"), ("student", "lightgcn", "KD student"),
                                      ("baseline", "lightgcn", "no-KD student"))]
    assert_png(robustness_overview(rows, picks, tmp_path / "o.png"))
    fig = figures[0]
    assert legend_texts(fig) == ["teacher: beauty-kd-variant-00 · mm-gnn",
                                 "KD student: beauty-kd-variant-00 · lightgcn (unaffected)",
                                 "no-KD student: beauty-kd-variant-00 · lightgcn (unaffected)"]
    assert all(len(ax.get_lines()) == 3 for ax in fig.axes)  # the teacher once: only its trained imputer
    assert "headline models" in fig.get_suptitle() and "amazon-beauty" in fig.get_suptitle()
    assert_plot_area(fig)


def test_overview_of_models_without_curves_says_so(tmp_path: Path) -> None:
    picks = [{"recipe": "elsewhere", "role": "teacher", "component": "vbpr", "pick": "best teacher"}]
    with pytest.raises(MMBenchError, match=r"no robustness row of 'NDCG@10' for the models.*eval\.robustness"):
        robustness_overview(one_recipe(), picks, tmp_path / "o.png")
    assert not list(tmp_path.iterdir())


def test_robustness_curves_other_metric_rows_ignored_and_errors(tmp_path: Path) -> None:
    rows = robustness_rows() + [{**robustness_rows()[0], "metric": "HR@10", "value": 0.5}]
    assert_png(robustness_curves(rows, tmp_path / "r.png", title="t"))
    with pytest.raises(MMBenchError, match=r"'Recall@20'.*\['HR@10', 'NDCG@10'\]"):
        robustness_curves(rows, tmp_path / "x.png", metric="Recall@20")
    incomplete = [{k: v for k, v in robustness_rows()[0].items() if k != "rate"}]
    with pytest.raises(MMBenchError, match="rate"):
        robustness_curves(incomplete, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
