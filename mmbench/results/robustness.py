"""Robustness tables over seeds: a model's metric versus missing rate per modality and imputer.

Reads the ``robustness`` section of each model result (:mod:`mmbench.runner.robustness`). A row (or a curve
point) is one (recipe, dataset, split, role, component, modality, imputer); values are means over seeds
with a 95% CI (each seed's value is already the mean over its mask seeds). Models that read no features of
a modality carry ``unaffected`` and flat values, so they are shown, never dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from statistics import fmean
from typing import Any

from mmbench.metrics.robustness import auc_column, delta_column, summary_rate
from mmbench.results.record import ModelResult, RunRecord
from mmbench.results.stats import ci95

CurveKey = tuple[str, str, str, str, str, str, str]
ROBUST_KEY = ("recipe", "dataset", "split", "role", "component", "modality", "imputer")


def _curves(m: ModelResult, trained_only: bool = False) -> list[dict[str, Any]]:
    # an unaffected model's curve is the same flat line under every imputer: shown once, as trained
    curves = (m.robustness or {}).get("curves", [])
    return [c for c in curves if not ((trained_only or c["unaffected"]) and c["imputer_at_test_only"])]


def model_columns(m: ModelResult, metric: str = "NDCG@10") -> dict[str, float]:
    """The leaderboard's robustness columns of one model: Δmetric at the summary rate and the AUC, per modality
    (the model as trained; test-time imputers appear in the robustness view)."""
    out: dict[str, float] = {}
    if not m.robustness:
        return out
    rate = summary_rate(m.robustness["rates"])
    for c in _curves(m, trained_only=True):
        if c.get("absent"):
            continue  # no item of the dataset has it: a column of +0.0% for every model says nothing
        delta = c["summary"]["delta"].get(f"{rate:g}", {}).get(metric)
        area = c["summary"]["auc"].get(metric)
        if delta is not None:
            out[delta_column(metric, c["modality"], rate)] = delta
        if area is not None:
            out[auc_column(metric, c["modality"])] = area
    return out


def curve_points(labelled: Sequence[tuple[str, RunRecord]], metric: str = "NDCG@10") -> list[dict[str, Any]]:
    """One dict per curve point, aggregated over seeds (the input of the robustness plots); modalities that no
    item of the dataset has are left out. ``trained`` is False for an imputer swapped in at test time only."""
    values: dict[tuple[CurveKey, float], list[float]] = defaultdict(list)
    unaffected: dict[CurveKey, bool] = {}
    trained: dict[CurveKey, bool] = {}
    for label, rec in labelled:
        for m in rec.models:
            for c in _curves(m):
                if c.get("absent"):
                    continue  # no item of the dataset has the modality: a panel of flat lines says nothing
                key = (label, rec.dataset.key, rec.dataset.split, m.role, m.component, c["modality"], c["imputer"])
                unaffected[key] = c["unaffected"]
                trained[key] = not c["imputer_at_test_only"]
                for p in c["points"]:
                    if metric in p["metrics"]:
                        values[(key, p["rate"])].append(p["metrics"][metric])
    out = []
    for (key, rate), vals in sorted(values.items()):
        row = dict(zip(ROBUST_KEY, key))
        out.append({**row, "rate": rate, "metric": metric, "value": fmean(vals), "ci95": ci95(vals),
                    "seeds": len(vals), "unaffected": unaffected[key], "trained": trained[key]})
    return out


def robustness_rows(labelled: Sequence[tuple[str, RunRecord]], metric: str = "NDCG@10") -> list[dict[str, Any]]:
    """Robustness view rows: ``metric`` at every rate (``p=25%`` columns), ``Δ`` at the summary rate and
    the ``AUC``, mean ± 95% CI over seeds, per model, modality and imputer."""
    groups: dict[CurveKey, list[dict[str, float]]] = defaultdict(list)
    notes: dict[CurveKey, str | None] = {}
    for label, rec in labelled:
        for m in rec.models:
            if not m.robustness:
                continue
            rate = summary_rate(m.robustness["rates"])
            for c in _curves(m):
                key = (label, rec.dataset.key, rec.dataset.split, m.role, m.component, c["modality"], c["imputer"])
                vals = {f"p={p['rate']:.0%}": p["metrics"][metric] for p in c["points"] if metric in p["metrics"]}
                delta = c["summary"]["delta"].get(f"{rate:g}", {}).get(metric)
                if delta is not None:
                    vals[f"Δ@{rate:.0%}"] = delta
                if c["summary"]["auc"].get(metric) is not None:
                    vals["AUC"] = c["summary"]["auc"][metric]
                groups[key].append(vals)
                notes[key] = "unaffected: " + c["note"] if c["unaffected"] else (
                    "imputer swapped in at test time" if c["imputer_at_test_only"] else None)
    role_order = {"teacher": 0, "student": 1, "baseline": 2}
    out = []
    for key in sorted(groups, key=lambda k: (k[1], k[2], k[0], role_order.get(k[3], 9), k[4], k[5], k[6])):
        runs = groups[key]
        row: dict[str, Any] = dict(zip(ROBUST_KEY, key))
        row["seeds"] = len(runs)
        row["metric"] = metric
        for col in dict.fromkeys(c for r in runs for c in r):
            vals = [r[col] for r in runs if col in r]
            if len(vals) == len(runs):
                row[col], row[f"{col}_ci95"] = fmean(vals), ci95(vals)
        row["note"] = notes[key] or ""
        out.append(row)
    return out
