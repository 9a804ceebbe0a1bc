"""Leaderboards from run records: one row per (recipe, dataset, split, role, component), mean ± 95% CI over seeds.

Only **test** metrics appear (selection happened on valid). Records of one recipe name with different
recipe hashes never share a row: the recipe column then carries ``@<hash>``. Nor do records whose split
content differs (e.g. a bring-your-own file that changed between runs): the column then also carries
``~data:<split hash>``. If a seed was run twice with the same recipe and data, the newest record counts.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING, Any

from mmbench.errors import ResultsError
from mmbench.kinds import METRICS
from mmbench.results.record import RunRecord
from mmbench.results.stats import ci95
from mmbench.results.tables import FORMATS, View
from mmbench.results.tables import select_columns as _select

if TYPE_CHECKING:
    from mmbench.results.plots import Plot

KEY = ("recipe", "dataset", "split", "role", "component")
# a metric column, optionally of a test slice: NDCG@20, NDCG@20[cold] (mmbench.runner.slices)
_METRIC_COL = re.compile(r"^(?P<label>[A-Za-z]+)@(?P<k>\d+)(\[(?P<slice>cold|warm)\])?$")
_SLICE_ORDER = {None: 0, "cold": 1, "warm": 2}
EXTRA = {"latency_ms_p50": False, "latency_ms_p95": False, "latency_enc_ms_p50": False, "params": False}
# robustness columns: ΔNDCG@10[no-text@50%] (relative change), AUC-NDCG@10[no-text] (mean relative metric)
# and the headline's ΔNDCG@10@50%
_ROBUST_COL = re.compile(r"^(Δ|AUC-)[A-Za-z]+@\d+[\[@]")


def higher_is_better(column: str) -> bool | None:
    """Direction of a column: from the metric registry for ``LABEL@K``, fixed for latency and size."""
    if column in EXTRA:
        return EXTRA[column]
    if _ROBUST_COL.match(column):
        return True
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

    def key(col: str) -> tuple[int, str, int, int]:
        m = _METRIC_COL.match(col)
        if m:
            return (rank.get(m["label"], 99), m["label"], int(m["k"]), _SLICE_ORDER[m["slice"]])
        return (100 if _ROBUST_COL.match(col) else 101, col, 0, 0)

    return sorted(columns, key=key)


def recipe_labels(records: Sequence[RunRecord]) -> list[tuple[str, RunRecord]]:
    """The records that count (the newest per recipe, data and seed), each with its recipe label.

    The label is the recipe name, plus ``@<hash>`` when records of that name differ in recipe hash, plus
    ``~data:<split hash>`` when they differ in split content: such runs never share a row.
    """
    hashes: dict[str, set[str]] = defaultdict(set)
    data: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for rec in records:
        hashes[rec.recipe.name].add(rec.recipe.hash)
        data[(rec.recipe.name, rec.recipe.hash, rec.dataset.key, rec.dataset.split)].add(rec.dataset.split_hash)
    newest: dict[tuple[Any, ...], RunRecord] = {}
    for rec in sorted(records, key=lambda r: r.created_at):  # duplicate_notes() reports the ones left out
        newest[_record_key(rec)] = rec
    out = []
    for rec in newest.values():
        recipe = rec.recipe.name if len(hashes[rec.recipe.name]) == 1 else f"{rec.recipe.name}@{rec.recipe.hash[:8]}"
        if len(data[(rec.recipe.name, rec.recipe.hash, rec.dataset.key, rec.dataset.split)]) > 1:
            recipe += f"~data:{rec.dataset.split_hash[:8]}"
        keys = [(m.role, m.component) for m in rec.models]
        if len(set(keys)) != len(keys):
            raise ResultsError(f"run {rec.run_id} holds two models with the same role and component {keys}; "
                               "fix: delete that record (recipes can no longer produce one)")
        out.append((recipe, rec))
    return out


def _record_key(rec: RunRecord) -> tuple[Any, ...]:
    return (rec.recipe.name, rec.recipe.hash, rec.dataset.key, rec.dataset.split, rec.dataset.split_hash, rec.seed)


def duplicate_notes(records: Sequence[RunRecord]) -> list[str]:
    """One line per (recipe, data, seed) with more than one record: which record the leaderboard counts (the
    newest) and which it does not, each with its date, hardware and code, so none is dropped unseen."""
    groups: dict[tuple[Any, ...], list[RunRecord]] = defaultdict(list)
    for rec in records:
        groups[_record_key(rec)].append(rec)

    def describe(rec: RunRecord) -> str:
        git = rec.git or {}
        code = f"git {str(git.get('sha') or '?')[:8]}{' dirty' if git.get('dirty') else ''}"
        return f"{rec.run_id} ({rec.created_at[:16].replace('T', ' ')}, {(rec.hardware or {}).get('tag', '?')}, {code})"

    out = []
    for (name, rhash, _, split, _, seed), recs in groups.items():
        if len(recs) < 2:
            continue
        recs = sorted(recs, key=lambda r: r.created_at)
        out.append(f"{len(recs)} records of {name} (recipe {rhash[:8]}) seed {seed} on {recs[0].dataset.key} · {split}: "
                   f"counted: the newest, {describe(recs[-1])}; not counted: "
                   + "; ".join(describe(r) for r in recs[:-1])
                   + ". Fix: delete the records you do not want, or keep runs apart with --results-dir")
    return out


def check_metric(records: Sequence[RunRecord], metric: str) -> None:
    """Raise a ResultsError naming the metrics the records have when none of their models reports ``metric``
    (a typo must not read as "no runs found")."""
    known = sorted({c for rec in records for m in rec.models for c in m.test_values()})
    if known and metric not in known:
        hint = difflib.get_close_matches(metric, known, n=1)
        raise ResultsError(f"unknown --metric {metric!r}{f' (did you mean {hint[0]!r}?)' if hint else ''}; these "
                           f"records report: {', '.join(c for c in known if '[' not in c)} (and per-slice columns "
                           "such as NDCG@20[cold]); fix: pass one of them")


def filter_recipes(records: Sequence[RunRecord], patterns: Sequence[str]) -> list[RunRecord]:
    """The records whose recipe name matches any of the shell-style ``patterns`` (all records without any).

    Raises:
        ResultsError: no record matches any pattern; the message names the recipes present.
    """
    if not patterns:
        return list(records)
    kept = [rec for rec in records if any(fnmatchcase(rec.recipe.name, p) for p in patterns)]
    if not kept:
        names = sorted({rec.recipe.name for rec in records})
        raise ResultsError(f"no run record matches --recipe {', '.join(repr(p) for p in patterns)}; recipes present: "
                           f"{', '.join(names) if names else '(none)'}; fix: pass a recipe name or a shell-style "
                           "glob on it, e.g. --recipe 'beauty-*'")
    return kept


def rows(records: Sequence[RunRecord], metric: str = "NDCG@10") -> list[dict[str, Any]]:
    """Aggregate records into leaderboard rows (dicts with means, ``<col>_ci95`` and ``seeds``).

    ``metric``: the metric of the robustness columns (Δ at the summary rate, AUC).
    """
    from mmbench.results.robustness import model_columns

    groups: dict[tuple[str, ...], list[dict[str, float]]] = defaultdict(list)
    for recipe, rec in recipe_labels(records):
        for m in rec.models:
            values = m.test_values()
            values.update(model_columns(m, metric))
            if m.latency:
                for col in ("latency_ms_p50", "latency_ms_p95", "latency_enc_ms_p50"):
                    if col in m.latency:
                        values[col] = m.latency[col]
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


def _model_order(values: list[str]) -> list[str]:
    return _metric_order({c for c in values if c not in EXTRA}) + [c for c in EXTRA if c in values]


def _view(name: str, metric: str = "NDCG@10") -> View:
    from mmbench.results.cross import cross_view
    from mmbench.results.headline import headline_view
    from mmbench.results.kd import KD_KEY, kd_rows
    from mmbench.results.robustness import ROBUST_KEY, robustness_rows
    from mmbench.results.tuning import tuning_view

    views = {
        "models": View("models", KEY, lambda recs, metric: rows(recs), _model_order,
                       "Test-split metrics, full ranking; mean ± 95% CI over seeds (Student t); "
                       "models selected on the validation split."),
        "kd": View("kd", KD_KEY, lambda recs, metric: kd_rows(recs, metric), None,
                   "Knowledge distillation: retention = student / teacher, gain = student / no-KD student - 1, "
                   "teacher gain = teacher / no-KD student - 1, ratios student / teacher; mean ± 95% CI over seeds; "
                   "p: paired t-test across seeds.",
                   "No KD runs found (a KD run has a teacher, a student with distill losses and its no-KD twin)."),
        "robustness": View("robustness", ROBUST_KEY,
                           lambda recs, metric: robustness_rows(recipe_labels(recs), metric), None,
                           "Test metric when a share p of items lose the modality (item-level masks, mean over "
                           "mask seeds), mean ± 95% CI over seeds; Δ relative to p=0%; AUC = mean of metric / "
                           "clean metric over the rates (1 = unaffected).",
                           "No robustness results found (enable eval.robustness in a recipe with encoders)."),
        "headline": headline_view(metric),
        "tuning": tuning_view(metric),
        "datasets": cross_view(metric),
    }
    if name not in views:
        raise ResultsError(f"unknown leaderboard view {name!r}; views: {', '.join(views)}")
    return views[name]


VIEWS = ("models", "kd", "robustness", "headline", "tuning", "datasets")


def table(records: Sequence[RunRecord], view: str = "models", metric: str = "NDCG@10") -> tuple[View, list[dict[str, Any]]]:
    """The rows of one leaderboard view (``models``, ``kd``, ``robustness`` or ``headline``) and its description."""
    spec = _view(view, metric)
    return spec, spec.build(records, metric)


def render(records: Sequence[RunRecord], fmt: str, columns: Sequence[str] = (), view: str = "models",
           metric: str = "NDCG@10", figures: Sequence[Plot] = (), figures_from: Path | None = None) -> str:
    """The leaderboard of ``records`` in ``fmt`` (md, csv, json or html), optionally only some columns.

    ``view``: ``models`` (one row per model), ``kd`` (the KD report), ``robustness`` (metric vs missing
    rate) or ``headline`` (teacher, KD student, no-KD student per KD recipe); ``metric`` is the column the kd
    and robustness views report and the headline's Δ column. ``figures`` (what
    :func:`mmbench.results.plots.write_plots` wrote) appear in the html page, linked relative to the folder
    ``figures_from`` (the page's; the working directory if None); other formats ignore them.
    """
    spec, data = table(records, view, metric)
    shown = _select(data, columns, spec) if columns else data
    if fmt == "html" and figures:
        from mmbench.results.html_page import to_html

        return to_html(shown, spec, figures, figures_from)
    return FORMATS[fmt](shown, spec)


def select_columns(data: Sequence[dict[str, Any]], columns: Sequence[str], view: str = "models") -> list[dict[str, Any]]:
    """Keep the key columns, ``seeds`` and the named value columns (with their CIs), in the given order."""
    return _select(data, columns, _view(view))
