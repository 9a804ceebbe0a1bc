"""Charts of ``mmbench bench`` reports (plain data in, one PNG out), drawn like the leaderboard's figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.results.drawing import colour, new_figure, save_png


def scale_chart(report: dict[str, Any], path: Path) -> Path:
    """``mmbench bench scale``'s rows as two log-log panels against interactions: seconds (a BPR step, an epoch at
    the fixed batch, full-ranking evaluation) and peak memory, each beside a dashed line of linear growth from the
    smallest size. Rows of named datasets (not ``synthetic``) are single labelled points.

    Raises:
        MMBenchError: fewer than two synthetic rows (no curve), or matplotlib missing.
    """
    rows = sorted((r for r in report["rows"] if r["dataset"] == "synthetic"), key=lambda r: r["interactions"])
    if len(rows) < 2:
        raise MMBenchError("a scale chart needs at least two synthetic sizes; fix: run `mmbench bench scale` with "
                           "--sizes listing two or more")
    others = [r for r in report["rows"] if r["dataset"] != "synthetic"]
    fig = new_figure(11, 4.6)
    ax_t, ax_m = fig.subplots(1, 2)
    xs = [r["interactions"] for r in rows]
    series = [("BPR step", "step_s"), (f"epoch (batch {report.get('batch_size', '?'):,})", "epoch_s_estimate"),
              ("full-ranking evaluation", "eval_s_estimate")]
    for i, (label, key) in enumerate(series):
        ys = [r[key] for r in rows]
        ax_t.plot(xs, ys, marker="o", color=colour(i), label=label)
        ax_t.plot(xs, [ys[0] * x / xs[0] for x in xs], linestyle="--", color=colour(i), alpha=0.5, linewidth=1)
        for r in others:
            ax_t.scatter([r["interactions"]], [r[key]], marker="s", color=colour(i), zorder=3)
    ax_m.plot(xs, [r["rss_peak_mib"] for r in rows], marker="o", color=colour(3), label="peak RSS")
    ax_m.plot(xs, [rows[0]["rss_peak_mib"] * x / xs[0] for x in xs], linestyle="--", color=colour(3), alpha=0.5,
              linewidth=1, label="linear growth")
    for r in others:
        ax_m.scatter([r["interactions"]], [r["rss_peak_mib"]], marker="s", color=colour(3), zorder=3)
        for ax, value in ((ax_t, r["epoch_s_estimate"]), (ax_m, r["rss_peak_mib"])):
            ax.annotate(r["dataset"], (r["interactions"], value), textcoords="offset points", xytext=(6, -12),
                        fontsize=9)
    ax_t.set(xscale="log", yscale="log", xlabel="interactions", ylabel="seconds (log)",
             title=f"Time vs data size ({report.get('threads', '?')} thread(s))")
    ax_m.set(xscale="log", yscale="log", xlabel="interactions", ylabel="MiB (log)", title="Peak memory vs data size")
    handles = ax_t.get_legend_handles_labels()
    from matplotlib.lines import Line2D

    extra = [Line2D([], [], linestyle="--", color="grey", label="linear growth from the smallest size"),
             Line2D([], [], marker="s", linestyle="", color="grey", label="named dataset (e.g. gowalla)")]
    ax_t.legend(handles=[*handles[0], *extra], fontsize=8, loc="upper left")
    ax_m.legend(fontsize=8, loc="upper left")
    for ax in (ax_t, ax_m):
        ax.grid(True, which="major", alpha=0.3)
    return save_png(fig, path)
