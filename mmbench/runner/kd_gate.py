"""The KD gate: distil only a teacher that beats the student's no-KD twin on **valid** (``recipe.kd_gate``).

A KD run trains the teacher and the same student without KD first; before the KD student trains, the
teacher's validation value of ``train.select_metric`` at its selected epoch is compared with the twin's.
The teacher passes when ``teacher > twin * (1 + min_gain)``. A teacher that does not pass is what the recipe
says: ``warn`` (a loud log line, then distil as before), ``skip`` (no KD student is trained: the served
student *is* the no-KD model, and the record says so) or ``fail`` (:class:`KDGateError` before distilling).
Test metrics are never read here: deciding on them would leak the test split into the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.recipe.schema import ModelSlot, Recipe
from mmbench.results.record import ModelResult

SKIPPED = "kd skipped"


class KDGateError(MMBenchError):
    """The teacher does not beat the no-KD student on valid and the recipe says ``on_weak_teacher: fail``."""


def training_order(slots: Sequence[ModelSlot]) -> list[int]:
    """Indices of a record's ``slots`` in training order: the teacher, the no-KD twin, then the rest as listed.

    The gate compares the teacher with the twin before the KD student trains. Every model is seeded on its own
    and no cache key names another slot, so the order changes no metric and no cache key.
    """
    def rank(slot: ModelSlot) -> int:
        if slot.role == "teacher":
            return 0
        return 1 if slot.role == "baseline" and slot.loc == ("student",) else 2  # model_slots' twin

    return sorted(range(len(slots)), key=lambda i: rank(slots[i]))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f}%"


def check(teacher: ModelResult, twin: ModelResult, recipe: Recipe) -> dict[str, Any]:
    """The gate's decision for one seed, from the two models' validation metrics only (the record's ``kd.gate``).

    Returns:
        ``{"metric", "split": "valid", "teacher_valid", "baseline_valid", "teacher_gain_valid", "min_gain",
        "passed", "action", "distilled"}``; ``teacher_gain_valid`` is teacher / no-KD - 1 (None when the no-KD
        value is 0), ``distilled`` whether the KD student is trained.
    """
    gate, metric = recipe.kd_gate, recipe.train.select_metric
    t, b = teacher.metrics["valid"][metric], twin.metrics["valid"][metric]
    passed = t > b * (1.0 + gate.min_gain)
    return {"metric": metric, "split": "valid", "teacher_valid": t, "baseline_valid": b,
            "teacher_gain_valid": t / b - 1.0 if b else None, "min_gain": gate.min_gain, "passed": passed,
            "action": gate.on_weak_teacher, "distilled": passed or gate.on_weak_teacher == "warn"}


def describe(gate: dict[str, Any], teacher: str = "teacher", student: str = "student") -> str:
    """One line on the comparison: both validation values, the relative gap and the margin asked for."""
    bar = f" (needs > {_pct(gate['min_gain'])})" if gate["min_gain"] else ""
    verb = "beats" if gate["passed"] else "does not beat"
    return (f"teacher {teacher} {verb} the no-KD {student} on valid: {gate['metric']} {gate['teacher_valid']:.4f} "
            f"vs {gate['baseline_valid']:.4f} ({_pct(gate['teacher_gain_valid'])}{bar})")


def enforce(gate: dict[str, Any], teacher: str, student: str, log: Callable[[str], None]) -> None:
    """Log the decision; a failing gate warns loudly, or raises with ``on_weak_teacher: fail``.

    Raises:
        KDGateError: the teacher did not pass and the recipe asks to fail (before any distillation).
    """
    what = describe(gate, teacher, student)
    if gate["passed"]:
        log(f"kd gate: passed, {what}")
        return
    if gate["action"] == "fail":
        raise KDGateError(f"kd gate: {what}; stopped before distilling (kd_gate.on_weak_teacher: fail); fix: tune "
                          f"the teacher (e.g. `mmbench sweep` over its params), or set kd_gate.on_weak_teacher: "
                          f"warn or skip")
    if gate["action"] == "skip":
        log(f"kd gate: {what}; KD skipped (kd_gate.on_weak_teacher: skip): the student is the no-KD model")
        return
    log(f"WARNING kd gate: {what}; distilling anyway (kd_gate.on_weak_teacher: warn). Distilling a weaker "
        f"teacher usually costs the student accuracy: tune the teacher (e.g. `mmbench sweep` over its params), "
        f"or set kd_gate.on_weak_teacher: skip (or fail)")


def skipped_student(twin: ModelResult, recipe: Recipe, gate: dict[str, Any]) -> ModelResult:
    """The KD student's record when the gate skipped KD: the no-KD model it serves instead, marked as such.

    Its metrics, size and latency are the twin's because the served student *is* the twin; ``distill`` keeps
    the teacher and losses the recipe asked for with ``skipped`` giving the reason, so no reader mistakes it
    for a distilled model.
    """
    reason = f"{SKIPPED}: {describe(gate, recipe.teacher.name if recipe.teacher else 'teacher', twin.component)}"
    return twin.model_copy(update={
        "role": "student", "without_kd_of": None, "served": f"the no-KD student ({reason})",
        "distill": {"teacher": recipe.teacher.name if recipe.teacher else None,
                    "losses": [{"name": d.name, "weight": d.weight, "params": d.params} for d in recipe.distill],
                    "skipped": reason}}, deep=True)
