"""The headline leaderboard view: per KD recipe, the teacher, the KD student and the no-KD student side by side.

Three rows per KD recipe (a run with a teacher, a student trained with distillation losses and the same
student trained without them), in that order, with the columns a reader compares first: accuracy at 10 and
20, single-user latency, size, and the relative change of the metric when half of the items lose their
modalities. The numbers are those of the models view (:func:`mmbench.results.leaderboard.rows`, test split,
mean ± 95% CI over seeds), relabelled; nothing is aggregated again. Other baselines (e.g. ``pop``) are left out.
Once any record has a KD gate, the KD student's row also says whether its teacher beat the no-KD student on
valid before distilling (:func:`mmbench.results.kd.gate_verdict`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from mmbench.metrics.robustness import ALL, delta_column
from mmbench.results.kd import gate_verdict, kd_triple
from mmbench.results.record import ModelResult, RunRecord
from mmbench.results.tables import View

HEADLINE_KEY = ("recipe", "dataset", "split", "model")
VALUES = ("HR@10", "NDCG@10", "HR@20", "NDCG@20", "latency_ms_p50", "latency_enc_ms_p50", "params")
RATE = 0.5  # the missing rate of the Δ column
EMPTY = ("No KD runs found (the headline view needs a run with a teacher, a student with distill losses and "
         "its no-KD twin).")


def delta_name(metric: str) -> str:
    """The headline's robustness column, e.g. ``ΔNDCG@10@50%``."""
    return f"Δ{metric}@{RATE:.0%}"


def _conditions(models: Sequence[ModelResult]) -> set[str]:
    return {c for m in models if m.robustness for c in m.robustness.get("modalities", [])}


def _condition(conditions: set[str]) -> str | None:
    """The condition the Δ reports: ``all`` when the run has it, else its one modality (None: not measured)."""
    if ALL in conditions:
        return ALL
    return next(iter(conditions)) if len(conditions) == 1 else None


def headline_rows(records: Sequence[RunRecord], metric: str = "NDCG@10") -> list[dict[str, Any]]:
    """Headline rows: teacher, KD student and no-KD student of every KD recipe, mean ± 95% CI over seeds."""
    from mmbench.results.leaderboard import KEY, recipe_labels, rows

    members: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {}
    conditions: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    gates: dict[tuple[str, str, str], list[dict[str, Any] | None]] = defaultdict(list)
    for label, rec in recipe_labels(records):
        triple = kd_triple(rec.models)
        if triple is None:
            continue
        teacher, student, twin = triple
        key = (label, rec.dataset.key, rec.dataset.split)
        members[key] = [(teacher.role, teacher.component, f"teacher ({teacher.component})"),
                        (student.role, student.component, f"KD student ({student.component})"),
                        (twin.role, twin.component, f"no-KD student ({twin.component})")]
        conditions[key] |= _conditions(triple)
        gates[key].append((rec.kd or {}).get("gate"))
    if not members:
        return []
    table = {tuple(r[k] for k in KEY): r for r in rows(records, metric)}
    gated = any(g for gs in gates.values() for g in gs)  # no column at all for records from before the gate
    out = []
    for key in sorted(members, key=lambda k: (k[1], k[2], k[0])):
        condition = _condition(conditions[key])
        delta = delta_column(metric, condition, RATE) if condition else None
        for role, component, name in members[key]:
            src = table[(*key, role, component)]
            row: dict[str, Any] = {**dict(zip(HEADLINE_KEY, (*key, name))), "seeds": src["seeds"]}
            if gated and role == "student":
                row["gate"] = gate_verdict(gates[key])
            for col in VALUES:
                row.update({c: src[c] for c in (col, f"{col}_ci95") if c in src})
            if delta and delta in src:  # an unaffected model carries a flat curve: Δ = 0, never missing
                row[delta_name(metric)] = src[delta]
                row[f"{delta_name(metric)}_ci95"] = src[f"{delta}_ci95"]
            out.append(row)
    return out


def _order(values: list[str]) -> list[str]:
    rest = sorted((c for c in values if c not in VALUES), key=lambda c: c == "gate")  # the KD gate last
    return [c for c in VALUES if c in values] + rest


def headline_view(metric: str = "NDCG@10") -> View:
    """The ``headline`` view of the leaderboard, its Δ column reporting ``metric``."""
    note = (f"Headline: per KD recipe, the teacher, the KD student and the same student trained without KD "
            f"(other baselines: see the models view). HR@K, NDCG@K: test split, full ranking, models selected "
            f"on the validation split. latency_ms_p50: median latency in ms of a single-user request (score "
            f"every item + top-K, served model, no feature encoders) on the device recorded with the run; "
            f"latency_enc_ms_p50: the same request when the model also runs its feature encoders on one "
            f"item's raw input (the cost of serving a new or changed item; equal for ID-only models). "
            f"params: trainable parameters. {delta_name(metric)}: relative change of {metric} when {RATE:.0%} "
            f"of the items lose their features (item-level masks, model as trained), in the 'all' condition "
            f"(every modality missing from the same items) when the recipe has several modalities, else in "
            f"its one modality; +0.0% for a model that reads no item features; blank when the recipe did not "
            f"measure robustness at {RATE:.0%}. Mean ± 95% CI over seeds (Student t).")
    return View("headline", HEADLINE_KEY, headline_rows, _order, note, EMPTY)
