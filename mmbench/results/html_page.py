"""The HTML leaderboard: one static page (no server, no network) of sortable, filterable tables and the figures.

Per dataset and split: the headline figures (the robustness overview and the Pareto chart, when the page is
written together with ``--plot``), the table, then the per-recipe robustness figures folded under it. Figures are
linked by paths relative to the page's folder, never inlined, so the page stays small and shows the very PNGs of
the plot folder (keep the two together when moving them). In each table the best mean of every column that has a
direction (↑ highest, ↓ lowest) within the dataset and split is bold. A recipe box (a substring, or a shell-style
pattern with ``*`` and ``?``) and a model menu hide the rows, and the per-recipe figures, that do not match; the
bold marks then follow the rows shown (the best of what is visible, by the rule of :func:`best_cells`). The filter
is kept in the page's address (``#recipe=kd&model=lightgcn``), so a filtered view can be linked to.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmbench.results.tables import Row, View, _direction, _header, _sections, cell, columns

if TYPE_CHECKING:
    from mmbench.results.plots import Plot

MODEL_COLUMNS = ("component", "model", "student")  # the column the model menu filters, the first a view has

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

_FILTER_JS = r"""
(function () {
  var box = document.getElementById('f-recipe'), menu = document.getElementById('f-model');
  var count = document.getElementById('f-count');
  if (!box && !menu) { return; }
  function matcher(text) {  // a substring, or a shell-style pattern when it has * or ?
    text = text.trim().toLowerCase();
    if (!text) { return null; }
    if (!/[*?]/.test(text)) { return function (s) { return s.indexOf(text) >= 0; }; }
    var re = new RegExp('^' + text.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
                                  .replace(/\?/g, '.') + '$');
    return function (s) { return re.test(s); };
  }
  function remark() {  // the best of each directed column among the rows shown, as best_cells() does in Python
    document.querySelectorAll('table.lb').forEach(function (t) {
      var rows = Array.from(t.tBodies[0].rows).filter(function (tr) { return !tr.hidden; });
      Array.from(t.tHead.rows[0].cells).forEach(function (th, i) {
        var dir = th.dataset.best;
        if (!dir) { return; }
        var vals = [];
        Array.from(t.tBodies[0].rows).forEach(function (tr) { tr.cells[i].classList.remove('best'); });
        rows.forEach(function (tr) {
          var v = tr.cells[i].dataset.v;
          if (v !== undefined && v.trim() !== '' && isFinite(v)) { vals.push([tr.cells[i], Number(v)]); }
        });
        var distinct = new Set(vals.map(function (p) { return p[1]; }));
        if (distinct.size < 2) { return; }  // one value, or all equal: nothing is best
        var top = dir === 'hi' ? Math.max.apply(null, Array.from(distinct)) : Math.min.apply(null, Array.from(distinct));
        vals.forEach(function (p) { if (p[1] === top) { p[0].classList.add('best'); } });
      });
    });
  }
  function fromHash() {  // #recipe=...&model=...
    var params = new URLSearchParams(location.hash.replace(/^#/, ''));
    if (box && params.has('recipe')) { box.value = params.get('recipe'); }
    if (menu && params.has('model')) { menu.value = params.get('model'); }
  }
  function toHash() {
    var params = new URLSearchParams();
    if (box && box.value.trim()) { params.set('recipe', box.value.trim()); }
    if (menu && menu.value) { params.set('model', menu.value); }
    var h = params.toString();
    if (h !== location.hash.replace(/^#/, '')) { history.replaceState(null, '', h ? '#' + h : location.pathname); }
  }
  function apply() {
    var match = matcher(box ? box.value : ''), model = menu ? menu.value : '', shown = 0, total = 0;
    document.querySelectorAll('table.lb tbody tr').forEach(function (tr) {
      var ok = (!match || match((tr.dataset.recipe || '').toLowerCase())) && (!model || tr.dataset.model === model);
      tr.hidden = !ok;
      total += 1;
      shown += ok ? 1 : 0;
    });
    document.querySelectorAll('figure[data-recipe]').forEach(function (f) {
      f.hidden = !!match && !match(f.dataset.recipe.toLowerCase());
    });
    count.textContent = shown + ' of ' + total + ' rows';
    remark();
  }
  function changed() { apply(); toHash(); }
  if (box) { box.addEventListener('input', changed); }
  if (menu) { menu.addEventListener('change', changed); }
  window.addEventListener('hashchange', function () { fromHash(); apply(); });
  fromHash();
  apply();
})();
"""

_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
          "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}"
          "th{cursor:pointer;background:#f3f3f3}td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}"
          ".wrap{overflow-x:auto}tbody tr:nth-child(even){background:#f5f5f5}.ci{color:#888;font-size:85%}"
          "th::after{content:'';display:inline-block;width:1.2em}"
          "th[data-dir=asc]::after{content:' ▲'}th[data-dir=desc]::after{content:' ▼'}"
          "td.best{font-weight:700;background:#fff1c2}"
          ".filters{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd;z-index:1}"
          ".filters label{margin-right:1.5em}#f-count{color:#666}"
          ".figs{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}figure{margin:0;max-width:100%}"
          ".figs figure{flex:1 1 560px;max-width:900px}figure img{width:100%;height:auto;border:1px solid #eee}"
          "figcaption{color:#555;font-size:90%}details{margin:1em 0}summary{cursor:pointer;font-weight:600}")

CAPTIONS = {
    "robustness": ("Robustness of the headline models, each as trained: the KD recipe whose KD student scores "
                   "best (its teacher, KD student and no-KD student) and the dataset's best teacher."),
    "pareto": ("Accuracy against single-user latency: every model (faint), the Pareto front, and the front's "
               "and the headline models' names."),
}


def best_cells(group: Sequence[Row], cols: Sequence[str]) -> set[tuple[int, str]]:
    """(row index, column) of the best mean of each column with a direction (every row that ties for it), when
    the column's values differ at all."""
    best: set[tuple[int, str]] = set()
    for col in cols:
        higher = _direction(col)
        if higher is None or col == "seeds":
            continue
        values = {i: float(r[col]) for i, r in enumerate(group) if isinstance(r.get(col), (int, float))
                  and not isinstance(r.get(col), bool) and math.isfinite(r[col])}
        if len(set(values.values())) < 2:
            continue  # one value, or all equal: nothing is best
        top = max(values.values()) if higher else min(values.values())
        best |= {(i, col) for i, v in values.items() if v == top}
    return best


def _best_attr(col: str) -> str:
    """The direction the page's script marks a column's best in (``data-best``), as :func:`best_cells` does."""
    higher = _direction(col)
    if higher is None or col == "seeds":
        return ""
    return f" data-best='{'hi' if higher else 'lo'}'"


def _html_cell(row: Row, col: str) -> str:
    value, sep, ci = cell(row, col).partition(" ± ")
    return html.escape(value) + (f"<span class='ci'> ± {html.escape(ci)}</span>" if sep else "")


def _attr(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _model_column(view: View) -> str | None:
    return next((c for c in MODEL_COLUMNS if c in view.key), None)


def _table(group: Sequence[Row], view: View) -> str:
    cols = [c for c in columns(group, view) if c not in ("dataset", "split")]
    marks = best_cells(group, cols)
    model = _model_column(view)
    head = "".join(f"<th title='click to sort'{_best_attr(c)}>{html.escape(_header(c))}</th>" for c in cols)
    body = []
    for i, r in enumerate(group):
        attrs = (f" data-recipe='{_attr(r['recipe'])}'" if "recipe" in view.key else "") + (
            f" data-model='{_attr(r.get(model, ''))}'" if model else "")
        tds = "".join(f"<td data-v='{_attr(r.get(c, ''))}'" + (" class='best'" if (i, c) in marks else "")
                      + f">{_html_cell(r, c)}</td>" for c in cols)
        body.append(f"<tr{attrs}>{tds}</tr>")
    return (f"<div class='wrap'><table class='lb'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _figure(plot: Plot, src: str) -> str:
    recipe = plot.recipe
    caption = recipe if recipe else CAPTIONS.get(plot.kind, "")
    attrs = f" data-recipe='{_attr(recipe)}'" if recipe else ""
    return (f"<figure{attrs}><a href='{_attr(src)}'><img src='{_attr(src)}' alt='{_attr(plot.path.name)}' "
            f"loading='lazy'></a><figcaption>{html.escape(caption)}</figcaption></figure>")


def _figures(plots: Sequence[Plot], base: Path | None) -> tuple[str, str]:
    """The headline figures of one group and its folded per-recipe figures, as HTML."""
    def src(plot: Plot) -> str:
        return Path(os.path.relpath(Path(plot.path).resolve(), (base or Path.cwd()).resolve())).as_posix()

    heads = [p for p in plots if p.kind in ("robustness", "pareto")]
    heads.sort(key=lambda p: p.kind != "robustness")  # the overview first
    recipes = [p for p in plots if p.kind not in ("robustness", "pareto")]
    top = (f"<div class='figs'>{''.join(_figure(p, src(p)) for p in heads)}</div>" if heads else "")
    folded = (f"<details><summary>Robustness per recipe ({len(recipes)} figures)</summary><div class='figs'>"
              f"{''.join(_figure(p, src(p)) for p in recipes)}</div></details>" if recipes else "")
    return top, folded


def html_sections(table: Sequence[Row], view: View, figures: Sequence[Plot] = (), base: Path | None = None) -> str:
    """The tables of one view (one per dataset and split) and the figures of each group, as an HTML fragment.

    Args:
        table: The view's rows.
        view: The view.
        figures: :class:`mmbench.results.plots.Plot` objects (kind, dataset, split, recipe, path).
        base: The folder the page is written to: image paths are relative to it (the working directory if None).
    """
    sections = _sections(table)
    groups = list(sections) + sorted({(f.dataset, f.split) for f in figures} - set(sections))
    out = []
    for dataset, split in groups:
        top, folded = _figures([f for f in figures if (f.dataset, f.split) == (dataset, split)], base)
        rows = sections.get((dataset, split))
        out.append(f"<h2>{html.escape(dataset)} · {html.escape(split)}</h2>\n{top}"
                   + (_table(rows, view) if rows else "") + folded)
    return "\n".join(out)


def _controls(table: Sequence[Row], view: View) -> str:
    parts = []
    if "recipe" in view.key:
        parts.append("<label>recipe <input id='f-recipe' type='search' placeholder='kd, or beauty-kd-*' "
                     "autocomplete='off'></label>")
    model = _model_column(view)
    if model:
        options = "".join(f"<option value='{_attr(m)}'>{html.escape(m)}</option>"
                          for m in sorted({str(r.get(model, "")) for r in table}))
        parts.append(f"<label>{html.escape(model)} <select id='f-model'><option value=''>all</option>{options}"
                     "</select></label>")
    if not parts:
        return ""
    return f"<div class='filters'>{''.join(parts)}<span id='f-count'></span></div>"


def page(body: str, title: str = "mmbench leaderboard", controls: str = "") -> str:
    """A single static page (no server, no network) whose tables sort by any column on click and filter."""
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n{controls}\n{body}\n"
            f"<script>{_SORT_JS}{_FILTER_JS}</script></body></html>\n")


def to_html(table: Sequence[Row], view: View, figures: Sequence[Plot] = (), base: Path | None = None) -> str:
    """The page of one view: filters, then per dataset and split its figures and table, then the view's note."""
    content = html_sections(table, view, figures, base) or f"<p>{html.escape(view.empty)}</p>"
    note = ("Bold: the best mean of a column (↑ highest, ↓ lowest) within the dataset and split. "
            if table else "")
    return page(f"{content}\n<p>{html.escape(note + view.note)}</p>", controls=_controls(table, view))
