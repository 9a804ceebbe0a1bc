"""The chart of ``mmbench bench scale``: two readable log-log panels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _figures import assert_plot_area, assert_png
from mmbench.errors import MMBenchError
from mmbench.results.bench_plots import scale_chart


def row(dataset: str, n: int, step: float, rss: float) -> dict[str, Any]:
    return {"dataset": dataset, "interactions": n, "users": n // 20, "items": n // 10, "step_s": step,
            "epoch_s_estimate": step * n / 8192, "eval_s_estimate": n / 1e5, "rss_peak_mib": rss}


def test_scale_chart_two_panels_keep_their_plot_area(tmp_path: Path, figures: list[Any]) -> None:
    report = {"threads": 1, "batch_size": 8192, "rows": [
        row("synthetic", 10**6, 0.2, 1900.0), row("synthetic", 3 * 10**6, 0.7, 4000.0),
        row("synthetic", 10**7, 4.0, 8300.0), row("gowalla", 1_027_370, 0.12, 1365.0)]}
    assert_png(scale_chart(report, tmp_path / "scale.png"))
    (fig,) = figures
    time, memory = fig.axes
    assert (time.get_xscale(), time.get_yscale(), memory.get_yscale()) == ("log", "log", "log")
    assert "1 thread" in time.get_title() and memory.get_title() == "Peak memory vs data size"
    assert_plot_area(fig)


def test_scale_chart_needs_two_sizes(tmp_path: Path) -> None:
    with pytest.raises(MMBenchError, match="at least two synthetic sizes"):
        scale_chart({"rows": [row("synthetic", 10**6, 0.2, 1900.0)]}, tmp_path / "x.png")
