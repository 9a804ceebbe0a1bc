"""The knowledge-distillation report (PROTOCOL rule 10): per run, and over seeds for the leaderboard.

Per run (``RunRecord.kd``), for the teacher, the KD student and the same student trained without KD:

- **retention** = student metric / teacher metric (1.0 = the student keeps all of the teacher's accuracy);
- **gain** = student metric / no-KD student metric - 1 (what distillation adds at the same size and budget);
- over seeds also **teacher gain** = teacher metric / no-KD student metric - 1 (what the teacher has to give);
- **params_ratio**, **latency_ratio** (p50 single-user request, served tables) and **latency_enc_ratio**
  (the same request when the models run their feature encoders), student / teacher;
- **paired tests over test users** (student vs no-KD student, student vs teacher) on the selection metric:
  a paired t-test on the per-user values of the one seed;
- the **gate** (``recipe.kd_gate``, :mod:`mmbench.runner.kd_gate`): did the teacher beat the no-KD student
  on **valid** before distilling, and what the run did about it. Records written before the gate have none.

Over seeds (:func:`kd_rows`), every number is a mean ± 95% CI, and the paired tests are **across seeds**:
the per-seed metric of the student against that of the no-KD student (and of the teacher) of the same seed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from statistics import fmean
from typing import Any

import numpy as np

from mmbench.results.record import ModelResult, RunRecord
from mmbench.results.stats import ci95, paired_t_test

REPORT_METRICS = ("HR@10", "NDCG@10", "HR@20", "NDCG@20")
KD_KEY = ("recipe", "dataset", "split", "teacher", "student")
_PER_METRIC = ("teacher", "student", "baseline", "retention", "gain", "teacher_gain")


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def kd_triple(models: Sequence[ModelResult]) -> tuple[ModelResult, ModelResult, ModelResult] | None:
    """(teacher, KD student, no-KD student) of a run, or None when the run is not a KD run."""
    teacher = next((m for m in models if m.role == "teacher"), None)
    student = next((m for m in models if m.role == "student" and m.distill), None)
    baseline = next((m for m in models if m.without_kd_of == "student"), None)
    return (teacher, student, baseline) if teacher and student and baseline else None


KD_PARTS = ("teacher", "KD student", "no-KD student")


def kd_members(labelled: Sequence[tuple[str, RunRecord]]) -> list[dict[str, str]]:
    """The models of every KD run as plain rows, each model once however many seeds ran.

    Args:
        labelled: (recipe label, record) pairs, as :func:`mmbench.results.leaderboard.recipe_labels` gives them.

    Returns:
        Dicts with ``recipe`` (the label), ``dataset``, ``split``, ``role``, ``component`` and ``kd``: the
        model's part in distillation (``teacher``, ``KD student`` or ``no-KD student``), sorted.
    """
    parts: dict[tuple[str, str, str, str, str], str] = {}
    for label, rec in labelled:
        triple = kd_triple(rec.models)
        for part, m in zip(KD_PARTS, triple or ()):
            parts[(label, rec.dataset.key, rec.dataset.split, m.role, m.component)] = part
    keys = ("recipe", "dataset", "split", "role", "component")
    return [{**dict(zip(keys, key)), "kd": part} for key, part in sorted(parts.items())]


def _lat(m: ModelResult, key: str) -> float | None:
    return m.latency.get(key) if m.latency else None


def kd_report(models: Sequence[ModelResult], *, select_metric: str = "NDCG@10",
              per_user: Mapping[str, np.ndarray] | None = None,
              gate: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The run's KD report, or None without a teacher, a KD student and its no-KD twin.

    Args:
        models: the run's model results.
        select_metric: the metric of the paired per-user tests.
        per_user: ``{"teacher" | "student" | "baseline": per-user test values of select_metric}`` over the
            same users in the same order; without it the per-user tests are left out.
        gate: the KD gate's decision on valid (:func:`mmbench.runner.kd_gate.check`), kept as ``gate``.
    """
    triple = kd_triple(models)
    if triple is None:
        return None
    teacher, student, baseline = triple
    t, s, b = (m.metrics["test"] for m in triple)
    metrics = {}
    for col in dict.fromkeys([select_metric, *REPORT_METRICS]):
        if col in s and col in t and col in b:
            metrics[col] = {"teacher": t[col], "student": s[col], "baseline": b[col],
                            "retention": _ratio(s[col], t[col]),
                            "gain": (s[col] / b[col] - 1.0) if b[col] else None}
    tests = None
    if per_user is not None:
        tests = {"metric": select_metric, "over": "test users", "method": "paired t-test, two-sided",
                 "vs_baseline": paired_t_test(per_user["student"], per_user["baseline"]),
                 "vs_teacher": paired_t_test(per_user["student"], per_user["teacher"])}
    return {
        "teacher": teacher.component, "student": student.component, "baseline": baseline.component,
        "metrics": metrics,
        "params_ratio": _ratio(student.size["params"], teacher.size["params"]),
        "latency_ratio": _ratio(_lat(student, "latency_ms_p50"), _lat(teacher, "latency_ms_p50")),
        "latency_enc_ratio": _ratio(_lat(student, "latency_enc_ms_p50"), _lat(teacher, "latency_enc_ms_p50")),
        "refresh_ratio": _ratio(_lat(student, "refresh_ms"), _lat(teacher, "refresh_ms")),
        "tests": tests,
        **({"gate": dict(gate)} if gate is not None else {}),
    }


def gate_verdict(gates: Sequence[Mapping[str, Any] | None]) -> str:
    """The KD gate over seeds, one cell: did the teacher beat the no-KD student on valid, and what was done.

    ``teacher > no-KD on valid 3/3``; ``⚠ teacher ≤ no-KD on valid 2/3; distilled anyway`` (or ``KD
    skipped``); ``–`` when no seed has a gate (records written before it), ``(1 unchecked)`` for some.
    """
    known = [g for g in gates if g]
    if not known:
        return "–"
    weak = [g for g in known if not g["passed"]]
    margins = sorted({g["min_gain"] for g in (weak or known)})
    bar = "no-KD" + "".join(f" {m * 100:+.1f}%" for m in margins if m) if len(margins) == 1 else "no-KD + margin"
    unchecked = f" ({len(gates) - len(known)} unchecked)" if len(known) < len(gates) else ""
    if not weak:
        return f"teacher > {bar} on valid {len(known)}/{len(gates)}{unchecked}"
    skipped = sum(1 for g in weak if not g["distilled"])
    done = ("KD skipped" if skipped == len(weak) else "distilled anyway" if not skipped
            else f"KD skipped in {skipped}, distilled in {len(weak) - skipped}")
    return f"⚠ teacher ≤ {bar} on valid {len(weak)}/{len(gates)}{unchecked}; {done}"


def kd_rows(records: Sequence[RunRecord], metric: str = "NDCG@10") -> list[dict[str, Any]]:
    """KD leaderboard rows: one per (recipe, dataset, split, teacher, student), mean ± 95% CI over seeds.

    Columns: the KD ``gate`` (did the teacher beat the no-KD student on valid, see :func:`gate_verdict`; only
    once some record has a gate), the three models' ``metric``, ``retention``, ``gain``, ``teacher gain``
    (teacher / no-KD student - 1 on test), the ratios, and the across-seed paired t-test p-values of the
    student against the no-KD student and against the teacher.
    """
    from mmbench.results.leaderboard import recipe_labels

    groups: dict[tuple[str, ...], list[dict[str, float | None]]] = defaultdict(list)
    gates: dict[tuple[str, ...], list[Mapping[str, Any] | None]] = defaultdict(list)
    for label, rec in recipe_labels(records):
        triple = kd_triple(rec.models)
        if triple is None:
            continue
        teacher, student, baseline = triple
        t, s, b = (m.metrics["test"].get(metric) for m in triple)
        if t is None or s is None or b is None:
            continue
        key = (label, rec.dataset.key, rec.dataset.split, teacher.component, student.component)
        gates[key].append((rec.kd or {}).get("gate"))
        groups[key].append({
            "teacher": t, "student": s, "baseline": b, "retention": _ratio(s, t),
            "gain": (s / b - 1.0) if b else None, "teacher_gain": (t / b - 1.0) if b else None,
            "params_ratio": _ratio(student.size["params"], teacher.size["params"]),
            "latency_ratio": _ratio(_lat(student, "latency_ms_p50"), _lat(teacher, "latency_ms_p50")),
            "latency_enc_ratio": _ratio(_lat(student, "latency_enc_ms_p50"), _lat(teacher, "latency_enc_ms_p50")),
        })
    out = []
    gated = any(g for gs in gates.values() for g in gs)
    for key in sorted(groups):
        runs = groups[key]
        row: dict[str, Any] = dict(zip(KD_KEY, key))
        row["seeds"] = len(runs)
        if gated:  # the column exists once any record was gated, so older leaderboards keep their shape
            row["gate"] = gate_verdict(gates[key])
        for col in ("teacher", "student", "baseline", "retention", "gain", "teacher_gain", "params_ratio",
                    "latency_ratio", "latency_enc_ratio"):
            vals = [r[col] for r in runs if r[col] is not None]
            if len(vals) == len(runs):
                name = f"{col.replace('_', ' ')} {metric}" if col in _PER_METRIC else col
                row[name] = fmean(vals)
                row[f"{name}_ci95"] = ci95(vals)
        for other, name in (("baseline", "p_vs_baseline"), ("teacher", "p_vs_teacher")):
            row[name] = paired_t_test([r["student"] for r in runs], [r[other] for r in runs])["p"]
        out.append(row)
    return out
