"""Rendering of leaderboard tables (md, csv, json, html): one section per dataset and split, mean ± 95% CI.

A :class:`View` names its key columns (what identifies a row), how to order its value columns and the
note printed under it. Cells show ``mean ± CI`` (the CI only when there are several seeds and it does not
round to zero); relative changes and ratios as percentages; p-values with three significant digits.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from mmbench.errors import ResultsError

Row = dict[str, Any]


@dataclass(frozen=True)
class View:
    """One kind of leaderboard table."""

    name: str
    key: tuple[str, ...]
    build: Callable[[Sequence[Any], str], list[Row]]
    order: Callable[[list[str]], list[str]] | None  # value columns in display order (None: as first seen)
    note: str
    empty: str = "No run records found."


def _direction(col: str) -> bool | None:
    from mmbench.results.leaderboard import higher_is_better

    hib = higher_is_better(col)
    if hib is not None:
        return hib
    if col.startswith(("retention ", "gain ", "teacher ", "student ", "baseline ", "p=", "Δ@", "AUC")):
        return True
    if col.endswith("_ratio"):
        return False
    return None


def columns(table: Sequence[Row], view: View) -> list[str]:
    """Key columns, ``seeds``, then the view's value columns (CI columns are shown inside their cells)."""
    cols: list[str] = []
    for row in table:
        cols += [c for c in row if c not in cols and not c.endswith("_ci95")]
    fixed = [*view.key, "seeds"]
    values = [c for c in cols if c not in fixed]
    return fixed + (view.order(values) if view.order else values)


def _header(col: str) -> str:
    hib = _direction(col)
    return col if hib is None else f"{col} {'↑' if hib else '↓'}"


def _percent(col: str) -> bool:
    return col.startswith(("Δ", "gain", "retention", "teacher gain"))


def cell(row: Row, col: str) -> str:
    """The text of one cell."""
    value = row.get(col)
    if value is None:
        return ""
    if col == "params":
        return f"{value:,}"
    if col.startswith("p_vs_") and isinstance(value, float):
        return "<0.001" if value < 1e-3 else f"{value:.3g}"
    if isinstance(value, float):
        ci = row.get(f"{col}_ci95")
        if _percent(col):
            sign = "+" if col.startswith(("Δ", "gain", "teacher gain")) else ""
            shown = f"{ci * 100:.1f}%" if ci else ""
            text = f"{value * 100:{sign}.1f}%"
        else:
            digits = 3 if col.startswith("latency") or col.endswith("_ratio") or col.startswith("AUC") else 4
            shown = f"{ci:.{digits}f}" if ci else ""
            text = f"{value:.{digits}f}"
        visible = shown and float(shown.rstrip("%")) > 0 and row.get("seeds", 1) > 1  # a CI rounding to 0 says nothing
        return text + (f" ± {shown}" if visible else "")
    return str(value)


def _sections(table: Sequence[Row]) -> dict[tuple[str, str], list[Row]]:
    out: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in table:
        out[(row["dataset"], row["split"])].append(row)
    return out


def to_markdown(table: Sequence[Row], view: View) -> str:
    if not table:
        return f"{view.empty}\n"
    parts = []
    for (dataset, split), group in _sections(table).items():
        cols = [c for c in columns(group, view) if c not in ("dataset", "split")]
        body = [[cell(r, c) for c in cols] for r in group]
        parts.append(f"## {dataset} · {split}\n\n"
                     + tabulate(body, headers=[_header(c) for c in cols], tablefmt="github", disable_numparse=True))
    return "\n\n".join(parts) + f"\n\n{view.note}\n"


def to_json(table: Sequence[Row], view: View) -> str:
    return json.dumps(list(table), indent=2, ensure_ascii=False) + "\n"


def to_csv(table: Sequence[Row], view: View) -> str:
    cols = columns(table, view)
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


def _html_cell(row: Row, col: str) -> str:
    value, sep, ci = cell(row, col).partition(" ± ")
    return html.escape(value) + (f"<span class='ci'> ± {html.escape(ci)}</span>" if sep else "")


def html_sections(table: Sequence[Row], view: View) -> str:
    """The sortable tables of one view (one per dataset and split), as an HTML fragment."""
    sections = []
    for (dataset, split), group in _sections(table).items():
        cols = [c for c in columns(group, view) if c not in ("dataset", "split")]
        head = "".join(f"<th title='click to sort'>{html.escape(_header(c))}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td data-v='{html.escape(str(r.get(c, '')), quote=True)}'>{_html_cell(r, c)}</td>"
                             for c in cols) + "</tr>" for r in group)
        sections.append(f"<h2>{html.escape(dataset)} · {html.escape(split)}</h2>\n"
                        f"<div class='wrap'><table class='lb'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
    return "\n".join(sections)


_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
          "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}"
          "th{cursor:pointer;background:#f3f3f3}td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}"
          ".wrap{overflow-x:auto}tbody tr:nth-child(even){background:#f5f5f5}.ci{color:#888;font-size:85%}"
          "th::after{content:'';display:inline-block;width:1.2em}"
          "th[data-dir=asc]::after{content:' ▲'}th[data-dir=desc]::after{content:' ▼'}")


def page(body: str, title: str = "mmbench leaderboard") -> str:
    """A single static page (no server, no network) whose tables sort by any column on click."""
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n{body}\n"
            f"<script>{_SORT_JS}</script></body></html>\n")


def to_html(table: Sequence[Row], view: View) -> str:
    content = html_sections(table, view) or f"<p>{html.escape(view.empty)}</p>"
    return page(f"{content}\n<p>{html.escape(view.note)}</p>")


FORMATS: dict[str, Callable[[Sequence[Row], View], str]] = {
    "md": to_markdown, "csv": to_csv, "json": to_json, "html": to_html}


def select_columns(table: Sequence[Row], wanted: Sequence[str], view: View) -> list[Row]:
    """Keep the key columns, ``seeds`` and the named value columns (with their CIs), in the given order."""
    known = {c for row in table for c in row}
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ResultsError(f"unknown leaderboard column(s) {unknown}; available: "
                           f"{', '.join(c for c in columns(table, view) if c not in (*view.key, 'seeds'))}")
    keep = [*view.key, "seeds", *(c2 for c in wanted for c2 in (c, f"{c}_ci95"))]
    return [{c: row[c] for c in keep if c in row} for row in table]
