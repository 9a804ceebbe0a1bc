"""The ``datasets`` view: every tuned model across the datasets, with its cold- and warm-item metric.

One row per tuned model (the model a ``<dataset>-<model>-tuned`` recipe was generated for by its study
``tune-<dataset>-<model>``) and per KD student of a tuned KD recipe (``*-kd-*tuned``), one group of columns
per dataset: the test metric (mean ± 95% CI over seeds), its relative change over the dataset's tuned LightGCN,
and the metric on the test pairs of cold and of warm items (:mod:`mmbench.runner.slices`) where the dataset has
cold test items and every seed recorded them. The numbers are those of the records; nothing is tuned here.
A model with records from two recipes on one dataset (e.g. ``kd-tuned`` and ``kd-<teacher>-tuned`` distil the
same teacher) takes the recipe with the most seeds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from statistics import mean
from typing import Any

from mmbench.results.kd import kd_triple
from mmbench.results.record import ModelResult, RunRecord
from mmbench.results.stats import ci95
from mmbench.results.tables import View
from mmbench.results.tuning import model_spec

CROSS_KEY = ("dataset", "split", "role", "model")
REFERENCE = ("student", "lightgcn")  # the row every Δ column is relative to
_KINDS = ("", "Δ", "[cold]", "[warm]")
EMPTY = "No tuned records found (recipes named *-tuned, written by `mmbench sweep` studies)."


def tuned_models(rec: RunRecord) -> list[tuple[str, ModelResult]]:
    """``(row label, model)`` of a tuned recipe's record: its study's model, or its KD student."""
    name = rec.recipe.name
    if not name.endswith("-tuned"):
        return []
    triple = kd_triple(rec.models)
    if triple is not None:
        teacher, student, _ = triple
        # it reads features (an adapter, content heads for cold items): another model, its own row
        extra = (" + adapter" if student.params.get("adapter") else "") \
            + (" + cold heads" if student.params.get("cold_head") else "")
        return [(f"KD {student.component}{extra} ← {teacher.component}", student)]
    study = f"tune-{name.removesuffix('-tuned')}"
    return [(m.component, m) for m in rec.models if (model_spec(rec, m).get("tuning") or {}).get("study") == study]


def _column(metric: str, kind: str, dataset: str) -> str:
    return f"Δ{metric} {dataset}" if kind == "Δ" else f"{metric}{kind} {dataset}"


def cross_rows(records: Sequence[RunRecord], metric: str = "NDCG@10") -> list[dict[str, Any]]:
    """Rows of the ``datasets`` view for ``metric``."""
    from mmbench.results.leaderboard import recipe_labels

    runs: dict[tuple[str, str, str], dict[str, list[dict[str, float]]]] = defaultdict(lambda: defaultdict(list))
    for recipe, rec in recipe_labels(records):
        for label, model in tuned_models(rec):
            role = "KD student" if label.startswith("KD ") else model.role
            runs[(role, label, rec.dataset.key)][recipe].append(model.test_values())
    chosen = {key: max(by_recipe.values(), key=len) for key, by_recipe in runs.items()}
    datasets = sorted({d for _, _, d in chosen})
    order = {"teacher": 0, "student": 1, "baseline": 2, "KD student": 3}
    out = []
    for role, label in sorted({k[:2] for k in chosen}, key=lambda k: (order.get(k[0], 9), k[1])):
        row: dict[str, Any] = {"dataset": "all datasets", "split": "tuned recipes", "role": role, "model": label}
        seeds = []
        for ds in datasets:
            values = chosen.get((role, label, ds))
            if not values or any(metric not in v for v in values):
                continue
            seeds.append(len(values))
            for kind in ("", "[cold]", "[warm]"):
                col = f"{metric}{kind}"
                if all(col in v for v in values):
                    row[_column(metric, kind, ds)] = mean(v[col] for v in values)
                    row[f"{_column(metric, kind, ds)}_ci95"] = ci95([v[col] for v in values])
            ref = chosen.get((*REFERENCE, ds))
            if ref and all(metric in v for v in ref):
                row[_column(metric, "Δ", ds)] = row[_column(metric, "", ds)] / mean(v[metric] for v in ref) - 1
        if seeds:
            row["seeds"] = min(seeds)
            out.append(row)
    return out


def cross_view(metric: str = "NDCG@10") -> View:
    """The ``datasets`` view of the leaderboard for ``metric``."""

    def order(cols: list[str]) -> list[str]:
        def key(col: str) -> tuple[str, int]:
            head, _, ds = col.rpartition(" ")
            kind = "Δ" if head.startswith("Δ") else next((k for k in _KINDS[2:] if head.endswith(k)), "")
            return ds, _KINDS.index(kind)
        return sorted(cols, key=key)

    note = (f"Every tuned model across the datasets (test {metric}, mean ± 95% CI over seeds; seeds: the fewest "
            f"over the datasets shown): the model each tuned recipe's study chose, and the KD student of each "
            f"tuned KD recipe. Δ: relative to the dataset's tuned LightGCN. [cold] / [warm]: the metric on the test "
            f"pairs whose item has no / some train interaction (only where the dataset has cold test items).")
    return View("datasets", CROSS_KEY, cross_rows, order, note, EMPTY)
