"""write_plots and the shared drawing: which figures per group, file names, clear errors, atomic writes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from _figures import assert_plot_area, assert_png, crowded, lb_row, leaderboard_rows, robustness_rows
from mmbench.errors import MMBenchError
from mmbench.results.drawing import safe_filename
from mmbench.results.pareto import pareto_chart
from mmbench.results.plots import write_plots


def names(plots: list[Any]) -> list[str]:
    return [p.path.name for p in plots]


def test_every_figure_of_a_crowded_dataset_keeps_its_plot_area(tmp_path: Path, figures: list[Any]) -> None:
    """Fifty models of one dataset: the figures the old write_plots drew collapsed (legend) or crowded (names)."""
    lb, curves, kd = crowded()
    plots = write_plots(lb, curves, tmp_path / "plots", kd_models=kd)
    assert len(figures) == 2 + 16  # Pareto, overview, one per KD recipe (the MF run has no curves)
    for fig in figures:
        assert_plot_area(fig)
        assert all(len(legend.get_texts()) <= 10 for legend in fig.legends)  # no legend of every model
    assert [(p.kind, p.recipe) for p in plots[:3]] == [("pareto", None), ("robustness", None),
                                                        ("robustness-recipe", "beauty-kd-variant-00")]
    assert names(plots)[:3] == ["pareto_amazon-beauty_loo-time.png", "robustness_amazon-beauty_loo-time.png",
                                "robustness_amazon-beauty_loo-time_beauty-kd-variant-00.png"]
    assert names(plots)[-1] == "robustness_amazon-beauty_loo-time_beauty-kd-variant-15.png"
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(names(plots))
    for p in plots[:3]:
        assert_png(p.path)


def test_write_plots_one_set_per_group(tmp_path: Path) -> None:
    records = leaderboard_rows() + [{**r, "dataset": "ml/1m", "split": "random:80/10"} for r in leaderboard_rows()]
    plots = write_plots(records, robustness_rows(), tmp_path / "plots")
    assert names(plots) == ["pareto_amazon-beauty_loo-time.png", "robustness_amazon-beauty_loo-time.png",
                            "robustness_amazon-beauty_loo-time_kd.png",
                            "pareto_ml-1m_random-80-10.png"]  # no robustness rows for ml/1m
    assert all(p.path.parent == tmp_path / "plots" for p in plots)
    assert [(p.dataset, p.split) for p in plots][-1] == ("ml/1m", "random:80/10")  # the group as it is named


def test_write_plots_without_kd_models_shows_the_best_of_each_role(tmp_path: Path, figures: list[Any]) -> None:
    write_plots([], robustness_rows(), tmp_path)
    overview = figures[0]
    assert [t.get_text() for t in overview.legends[0].get_texts()] == ["best teacher: kd · mm-gnn",
                                                                       "best student: kd · lightgcn"]


def test_safe_filename() -> None:
    assert safe_filename("pareto_amazon/beauty_random:80/10") == "pareto_amazon-beauty_random-80-10"
    assert safe_filename("../../etc passwd") == "-..-etc-passwd"
    assert safe_filename("a b\u00e9c.d_e-f") == "a-b-c.d_e-f"
    assert safe_filename("...") == "plot"


def test_write_plots_names_that_sanitise_alike_do_not_overwrite(tmp_path: Path) -> None:
    records = [{**r, "dataset": name} for name in ("a/b", "a:b") for r in leaderboard_rows()]
    plots = write_plots(records, [], tmp_path)
    assert len(plots) == 2 and len({p.path for p in plots}) == 2
    assert names(plots)[0] == "pareto_a-b_loo-time.png"
    assert names(plots)[1].startswith("pareto_a-b_loo-time-") and plots[1].path.suffix == ".png"
    curves = [{**r, "recipe": name} for name in ("x/y", "x:y") for r in robustness_rows()]
    recipe_plots = [p for p in write_plots([], curves, tmp_path / "r") if p.recipe]
    assert len({p.path for p in recipe_plots}) == 2  # one recipe's figure never overwrites another's
    with pytest.raises(MMBenchError, match="nothing to plot"):
        write_plots([], [], tmp_path / "empty")


def test_write_plots_without_latency_anywhere_says_how_to_get_it(tmp_path: Path) -> None:
    rows = [lb_row("kd", "student", "mf", 0.05, None)]
    with pytest.raises(MMBenchError, match="eval.latency"):
        write_plots(rows, [], tmp_path)


def test_write_plots_skips_groups_without_latency(tmp_path: Path) -> None:
    rows = leaderboard_rows() + [{**lb_row("kd", "student", "mf", 0.05, None), "dataset": "other"}]
    assert names(write_plots(rows, [], tmp_path)) == ["pareto_amazon-beauty_loo-time.png"]


def test_missing_matplotlib_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    with pytest.raises(MMBenchError, match=r'pip install "mmbench\[plot\]"'):
        pareto_chart(leaderboard_rows(), tmp_path / "p.png")
    with pytest.raises(MMBenchError, match=r'pip install "mmbench\[plot\]"'):
        write_plots([], robustness_rows(), tmp_path)


def test_saved_png_is_readable_like_any_file_the_user_writes(tmp_path: Path) -> None:
    from PIL import Image

    out = pareto_chart(leaderboard_rows(), tmp_path / "p.png")
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]  # no temporary file left behind
    with Image.open(out) as image:
        assert image.mode == "P" and len(image.getcolors(256) or []) > 8  # a palette, and still in colour
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


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
