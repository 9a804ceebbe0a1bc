"""Rendering of leaderboard tables (md, csv, json; html in :mod:`mmbench.results.html_page`): one section per
dataset and split, mean ± 95% CI.

A :class:`View` names its key columns (what identifies a row), how to order its value columns and the
note printed under it. Cells show ``mean ± CI`` (the CI only when there are several seeds and it does not
round to zero); relative changes and ratios as percentages; p-values with three significant digits.
"""

from __future__ import annotations

import csv
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


def to_html(table: Sequence[Row], view: View) -> str:
    from mmbench.results.html_page import to_html as page  # its own module: the page, its script and style

    return page(table, view)


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
