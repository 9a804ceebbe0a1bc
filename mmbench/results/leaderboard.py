"""Leaderboards from run records: one row per (recipe, dataset, split, role, component), mean ± 95% CI over seeds.

Only **test** metrics appear (selection happened on valid). Records of one recipe name with different
recipe hashes never share a row: the recipe column then carries ``@<hash>``. Nor do records whose split
content differs (e.g. a bring-your-own file that changed between runs): the column then also carries
``~data:<split hash>``. If a seed was run twice with the same recipe and data, the newest record counts.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from statistics import mean, stdev
from typing import Any

from tabulate import tabulate

from mmbench.errors import ResultsError
from mmbench.kinds import METRICS
from mmbench.results.record import RunRecord

KEY = ("recipe", "dataset", "split", "role", "component")
# two-sided 95% Student-t quantiles by degrees of freedom (1..30); beyond, the normal 1.96
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042]
_METRIC_COL = re.compile(r"^(?P<label>[A-Za-z]+)@(?P<k>\d+)$")
EXTRA = {"latency_ms_p50": False, "latency_ms_p95": False, "params": False}


def ci95(values: Sequence[float]) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t); 0 for a single value."""
    n = len(values)
    if n < 2:
        return 0.0
    t = _T95[n - 2] if n - 2 < len(_T95) else 1.96
    return t * stdev(values) / math.sqrt(n)


def higher_is_better(column: str) -> bool | None:
    """Direction of a column: from the metric registry for ``LABEL@K``, fixed for latency and size."""
    if column in EXTRA:
        return EXTRA[column]
    match = _METRIC_COL.match(column)
    if match:
        for entry in METRICS.entries():
            if entry.meta.get("label") == match["label"]:
                return bool(entry.meta.get("higher_is_better", True))
    return None


def _metric_order(columns: set[str]) -> list[str]:
    labels = [e.meta.get("label") for e in METRICS.entries()]
    preferred = ["HR", "NDCG", "Recall", "MRR"]
    rank = {lab: i for i, lab in enumerate(preferred + [lab for lab in labels if lab not in preferred])}

    def key(col: str) -> tuple[int, str, int]:
        m = _METRIC_COL.match(col)
        return (rank.get(m["label"], 99), m["label"], int(m["k"])) if m else (100, col, 0)

    return sorted(columns, key=key)


def rows(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """Aggregate records into leaderboard rows (dicts with means, ``<col>_ci95`` and ``seeds``)."""
    hashes: dict[str, set[str]] = defaultdict(set)
    data: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for rec in records:
        hashes[rec.recipe.name].add(rec.recipe.hash)
        data[(rec.recipe.name, rec.recipe.hash, rec.dataset.key, rec.dataset.split)].add(rec.dataset.split_hash)
    newest: dict[tuple[Any, ...], RunRecord] = {}
    for rec in sorted(records, key=lambda r: r.created_at):
        newest[(rec.recipe.name, rec.recipe.hash, rec.dataset.key, rec.dataset.split, rec.dataset.split_hash,
                rec.seed)] = rec
    groups: dict[tuple[str, ...], list[dict[str, float]]] = defaultdict(list)
    for rec in newest.values():
        recipe = rec.recipe.name if len(hashes[rec.recipe.name]) == 1 else f"{rec.recipe.name}@{rec.recipe.hash[:8]}"
        if len(data[(rec.recipe.name, rec.recipe.hash, rec.dataset.key, rec.dataset.split)]) > 1:
            recipe += f"~data:{rec.dataset.split_hash[:8]}"
        keys = [(m.role, m.component) for m in rec.models]
        if len(set(keys)) != len(keys):
            raise ResultsError(f"run {rec.run_id} holds two models with the same role and component {keys}; "
                               "fix: delete that record (recipes can no longer produce one)")
        for m in rec.models:
            values = dict(m.metrics["test"])
            if m.latency:
                values["latency_ms_p50"] = m.latency["latency_ms_p50"]
                values["latency_ms_p95"] = m.latency["latency_ms_p95"]
            values["params"] = m.size["params"]
            groups[(recipe, rec.dataset.key, rec.dataset.split, m.role, m.component)].append(values)
    out = []
    role_order = {"teacher": 0, "student": 1, "baseline": 2}
    for key in sorted(groups, key=lambda k: (k[1], k[2], k[0], role_order.get(k[3], 9), k[4])):
        runs = groups[key]
        row: dict[str, Any] = dict(zip(KEY, key))
        row["seeds"] = len(runs)
        columns = _metric_order({c for r in runs for c in r if c not in EXTRA}) + [c for c in EXTRA if any(c in r for r in runs)]
        for col in columns:
            vals = [r[col] for r in runs if col in r]
            if len(vals) != len(runs):
                continue  # measured in some seeds only: not comparable, left out
            row[col] = mean(vals) if col != "params" else int(round(mean(vals)))
            if col != "params":
                row[f"{col}_ci95"] = ci95(vals)
        out.append(row)
    return out


def _columns(table: Sequence[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in table:
        cols += [c for c in row if c not in cols and not c.endswith("_ci95")]
    fixed = [*KEY, "seeds"]
    values = [c for c in cols if c not in fixed]
    metric = _metric_order({c for c in values if c not in EXTRA})
    return fixed + metric + [c for c in EXTRA if c in values]


def _header(col: str) -> str:
    hib = higher_is_better(col)
    return col if hib is None else f"{col} {'↑' if hib else '↓'}"


def _cell(row: dict[str, Any], col: str) -> str:
    value = row.get(col)
    if value is None:
        return ""
    if col == "params":
        return f"{value:,}"
    if isinstance(value, float):
        digits = 3 if col.startswith("latency") else 4
        ci = row.get(f"{col}_ci95")
        shown = f"{ci:.{digits}f}" if ci else ""
        visible = shown and float(shown) > 0 and row.get("seeds", 1) > 1  # a CI that rounds to 0 says nothing
        return f"{value:.{digits}f}" + (f" ± {shown}" if visible else "")
    return str(value)


def _sections(table: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in table:
        out[(row["dataset"], row["split"])].append(row)
    return out


def to_markdown(table: Sequence[dict[str, Any]]) -> str:
    if not table:
        return "No run records found.\n"
    parts = []
    for (dataset, split), group in _sections(table).items():
        cols = [c for c in _columns(group) if c not in ("dataset", "split")]
        body = [[_cell(r, c) for c in cols] for r in group]
        parts.append(f"## {dataset} · {split}\n\n"
                     + tabulate(body, headers=[_header(c) for c in cols], tablefmt="github", disable_numparse=True))
    note = ("Test-split metrics, full ranking; mean ± 95% CI over seeds (Student t); "
            "models selected on the validation split.")
    return "\n\n".join(parts) + f"\n\n{note}\n"


def to_json(table: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(table), indent=2) + "\n"


def to_csv(table: Sequence[dict[str, Any]]) -> str:
    cols = _columns(table)
    cols = [c2 for c in cols for c2 in ([c, f"{c}_ci95"] if any(f"{c}_ci95" in r for r in table) else [c])]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return buf.getvalue()


_SORT_JS = """
document.querySelectorAll('table.lb').forEach(function (t) {
  var heads = Array.from(t.tHead.rows[0].cells);
  heads.forEach(function (th, i) {
    th.addEventListener('click', function () {
      var asc = th.dataset.dir !== 'asc';
      heads.forEach(function (o) { delete o.dataset.dir; });
      th.dataset.dir = asc ? 'asc' : 'desc';
      var rows = Array.from(t.tBodies[0].rows);
      var num = function (v) { return v.trim() !== '' && isFinite(v) ? Number(v) : NaN; };
      rows.sort(function (a, b) {
        var x = a.cells[i].dataset.v || '', y = b.cells[i].dataset.v || '';
        if (x === '' || y === '') { return (x === '') - (y === ''); }  // blanks last, either direction
        var nx = num(x), ny = num(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y, undefined, {numeric: true});
        return asc ? c : -c;
      });
      rows.forEach(function (r) { t.tBodies[0].appendChild(r); });
    });
  });
});
"""


def _html_cell(row: dict[str, Any], col: str) -> str:
    value, sep, ci = _cell(row, col).partition(" ± ")
    return html.escape(value) + (f"<span class='ci'> ± {html.escape(ci)}</span>" if sep else "")


def to_html(table: Sequence[dict[str, Any]]) -> str:
    """A single static page (no server, no network) whose tables sort by any column on click."""
    sections = []
    for (dataset, split), group in _sections(table).items():
        cols = [c for c in _columns(group) if c not in ("dataset", "split")]
        head = "".join(f"<th title='click to sort'>{html.escape(_header(c))}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td data-v='{html.escape(str(r.get(c, '')), quote=True)}'>{_html_cell(r, c)}</td>"
                             for c in cols) + "</tr>" for r in group)
        sections.append(f"<h2>{html.escape(dataset)} · {html.escape(split)}</h2>\n"
                        f"<div class='wrap'><table class='lb'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
    style = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
             "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}"
             "th{cursor:pointer;background:#f3f3f3}td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}"
             ".wrap{overflow-x:auto}tbody tr:nth-child(even){background:#f5f5f5}.ci{color:#888;font-size:85%}"
             "th::after{content:'';display:inline-block;width:1.2em}"
             "th[data-dir=asc]::after{content:' ▲'}th[data-dir=desc]::after{content:' ▼'}")
    content = "\n".join(sections) or "<p>No run records found.</p>"
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>mmbench leaderboard</title>"
            f"<style>{style}</style></head><body><h1>mmbench leaderboard</h1>\n{content}\n"
            f"<p>Test-split metrics, full ranking; mean ± 95% CI over seeds; selection on validation.</p>"
            f"<script>{_SORT_JS}</script></body></html>\n")


FORMATS = {"md": to_markdown, "csv": to_csv, "json": to_json, "html": to_html}


def select_columns(table: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Keep the key columns, ``seeds`` and the named value columns (with their CIs), in the given order."""
    known = {c for row in table for c in row}
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ResultsError(f"unknown leaderboard column(s) {unknown}; available: "
                           f"{', '.join(c for c in _columns(table) if c not in (*KEY, 'seeds'))}")
    keep = [*KEY, "seeds", *(c2 for c in columns for c2 in (c, f"{c}_ci95"))]
    return [{c: row[c] for c in keep if c in row} for row in table]


def render(records: Sequence[RunRecord], fmt: str, columns: Sequence[str] = ()) -> str:
    """The leaderboard of ``records`` in ``fmt`` (md, csv, json or html), optionally only some columns."""
    table = rows(records)
    return FORMATS[fmt](select_columns(table, columns) if columns else table)
