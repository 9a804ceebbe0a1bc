"""``mmbench bench scale``: each size measured in its own process, rows with time, peak memory and ratios."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mmbench.cli import main
from mmbench.runner.scale import render_markdown, synthetic_sizes


def test_sizes_grow_items_and_users_with_the_data():
    assert synthetic_sizes([1_000_000, 10_000_000]) == [
        {"interactions": 1_000_000, "items": 100_000, "users": 50_000},
        {"interactions": 10_000_000, "items": 1_000_000, "users": 500_000}]


def test_bench_scale_measures_each_size_in_its_own_process(tmp_path, monkeypatch):
    monkeypatch.setenv("MMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "scale.json"
    res = CliRunner().invoke(main, ["bench", "scale", "--sizes", "20k,60k", "--steps", "2", "--eval-users", "50",
                                    "--batch-size", "1024", "--out", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    small, big = report["rows"]
    assert (small["interactions"], big["interactions"]) == (20_000, 60_000)
    assert (small["params"]["items"], big["params"]["items"], big["params"]["users"]) == (2_000, 6_000, 3_000)
    # an item or user the generator never drew is not in the prepared data
    assert 1_900 < small["items"] <= 2_000 and 5_700 < big["items"] <= 6_000 and 2_900 < big["users"] <= 3_000
    assert small["steps_per_epoch"] == -(-small["train"] // 1024) and small["eval_users"] == 50
    for r in (small, big):
        assert 0 < r["step_s"] and 0 < r["eval_s"] and r["rss_peak_mib"] >= r["rss_train_mib"] >= r["rss_data_mib"]
        assert r["threads"] == 1
    assert "| synthetic | 60,000 |" in res.output and "| 3.0 |" in res.output  # the data × column


def test_markdown_ratios_are_against_the_first_row():
    row = {"dataset": "d", "interactions": 10, "users": 1, "items": 1, "step_s": 0.1, "epoch_s_estimate": 1.0,
           "eval_s_estimate": 1.0, "rss_peak_mib": 100.0}
    big = {**row, "interactions": 100, "step_s": 0.9, "epoch_s_estimate": 90.0, "rss_peak_mib": 700.0}
    table = render_markdown({"rows": [row, big]})
    assert table.splitlines()[-1].endswith("| 10.0 | 9.0 | 90.0 | 7.0 |")


def _row(dataset: str, n: int, step: float, rss: float) -> dict:
    return {"dataset": dataset, "interactions": n, "users": n // 20, "items": n // 10, "step_s": step,
            "epoch_s_estimate": step * n / 8192, "eval_s_estimate": n / 1e5, "rss_peak_mib": rss}


def test_bench_scale_from_a_report_prints_and_plots_without_measuring(tmp_path):
    import pytest

    pytest.importorskip("matplotlib")
    report = {"threads": 1, "batch_size": 8192, "rows": [_row("synthetic", 10**6, 0.2, 1900.0),
                                                         _row("synthetic", 10**7, 4.0, 8300.0),
                                                         _row("gowalla", 1_027_370, 0.12, 1365.0)]}
    src, png = tmp_path / "scale.json", tmp_path / "scale.png"
    src.write_text(json.dumps(report))
    res = CliRunner().invoke(main, ["bench", "scale", "--from", str(src), "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert "| synthetic | 10,000,000 |" in res.output and "| gowalla | 1,027,370 |" in res.output
    from PIL import Image

    with Image.open(png) as im:  # two panels side by side, not collapsed
        assert im.size[0] > 1200 and im.size[1] > 500


def test_bench_scale_from_a_file_that_is_not_a_report_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    res = CliRunner().invoke(main, ["bench", "scale", "--from", str(bad)])
    assert res.exit_code == 2 and "is not a report `mmbench bench scale --out` wrote" in res.output
