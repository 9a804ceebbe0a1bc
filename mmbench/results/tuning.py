"""The ``tuning`` view: every model's tuning budget beside its test metric (PROTOCOL rule 12).

A model tuned by a study carries the study's ``tuning:`` block in its recipe (written with the tuned
recipe; see :mod:`mmbench.results.tune`), so every record it makes says how it was found: trials, sampler,
pruner, epoch cap and seeds per trial. A model without one is ``untuned``. Within a dataset and split, a
row whose budget differs from another row's is flagged: an untuned or less-tuned rival is no rival.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from statistics import mean
from typing import Any

from mmbench.results.record import ModelResult, RunRecord
from mmbench.results.stats import ci95
from mmbench.results.tables import View

TUNING_KEY = ("dataset", "split", "recipe", "role", "component")
#: the test metrics shown beside the view's metric (when evaluated); ``--columns`` picks among them
# the cold/warm columns exist only on datasets whose test part has items without train interactions
SHOWN = ("HR@10", "NDCG@10", "HR@20", "NDCG@20", "Recall@20", "NDCG@20[cold]", "NDCG@20[warm]")
_INFO = ("budget", "study", "study valid", "budgets in dataset")
EMPTY = "No run records found."


def model_spec(rec: RunRecord, model: ModelResult) -> dict[str, Any]:
    """The resolved recipe entry of one model of a record (teacher, student, or the baseline it is)."""
    resolved = rec.recipe.resolved
    if model.role == "teacher":
        return resolved.get("teacher") or {}
    if model.role == "student" or model.without_kd_of == "student":
        return resolved.get("student") or {}
    same = [b for b in resolved.get("baselines", []) if b.get("name") == model.component]
    return same[0] if same else {}


def tunable(role: str, component: str) -> bool:
    """Whether a model has anything to tune (a declared space, or training settings); unknown ones count."""
    from mmbench.kinds import STUDENTS, TEACHERS
    from mmbench.search_space import declared_space

    registry = TEACHERS if role == "teacher" else STUDENTS
    if component not in registry:
        return True
    cls = registry.get(component)
    return bool(declared_space(cls)) or getattr(cls, "tunes_training", True)


def budget_text(tuning: dict[str, Any] | None, can_tune: bool = True) -> str:
    """``24 trials · tpe · median · ≤200 ep · 1 seed``, ``untuned``, or ``n/a`` (nothing to tune)."""
    if not tuning:
        return "untuned" if can_tune else "n/a (nothing to tune)"
    b = tuning.get("budget", {})
    return (f"{b.get('trials')} trials · {b.get('sampler')} · {b.get('pruner')} pruner · ≤{b.get('epochs')} ep · "
            f"{b.get('seeds_per_trial')} seed/trial")


def _budget_key(tuning: dict[str, Any] | None) -> tuple[Any, ...]:
    b = (tuning or {}).get("budget", {})
    return tuple(b.get(k) for k in ("trials", "sampler", "pruner", "epochs", "seeds_per_trial"))


def tuning_rows(records: Sequence[RunRecord], metric: str = "NDCG@10") -> list[dict[str, Any]]:
    """One row per (dataset, split, recipe, role, component): its budget, study, best valid and test metric."""
    from mmbench.results.leaderboard import recipe_labels

    wanted = [metric, *(c for c in SHOWN if c != metric)]
    groups: dict[tuple[str, ...], list[tuple[dict[str, Any] | None, dict[str, float]]]] = defaultdict(list)
    for recipe, rec in recipe_labels(records):
        for m in rec.models:
            tuning = model_spec(rec, m).get("tuning")
            groups[(rec.dataset.key, rec.dataset.split, recipe, m.role, m.component)].append(
                (tuning, {c: v for c, v in m.test_values().items() if c in wanted}))
    budgets: dict[tuple[str, str], set[tuple[Any, ...]]] = defaultdict(set)
    for key, runs in groups.items():
        if runs[0][0] or tunable(key[3], key[4]):  # popularity has no budget to compare
            budgets[key[:2]].add(_budget_key(runs[0][0]))
    out = []
    order = {"teacher": 0, "student": 1, "baseline": 2}
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], order.get(k[3], 9), k[4])):
        runs = groups[key]
        tuning = runs[0][0]
        row: dict[str, Any] = dict(zip(TUNING_KEY, key))
        row["seeds"] = len(runs)
        row["budget"] = budget_text(tuning, tunable(key[3], key[4]))
        row["study"] = (tuning or {}).get("study", "")
        valid = (tuning or {}).get("valid", {})
        row["study valid"] = f"{valid.get('metric')} {valid.get('value'):.4f}" if valid else ""
        row["budgets in dataset"] = "equal" if len(budgets[key[:2]]) <= 1 else "⚠ differ"
        for col in wanted:
            values = [v[col] for _, v in runs if col in v]
            if values and len(values) == len(runs):
                row[col] = mean(values)
                row[f"{col}_ci95"] = ci95(values)
        out.append(row)
    return out


def tuning_view(metric: str = "NDCG@10") -> View:
    """The ``tuning`` view of the leaderboard, reporting ``metric`` on test."""
    note = (f"Tuning budget per model (PROTOCOL rule 12): the study that chose its settings on the validation "
            f"split (trials, sampler, pruner, epoch cap, seeds per trial; `untuned` when none did), the study's "
            f"best valid value, and the test {metric} (then {', '.join(c for c in SHOWN if c != metric)}) of the "
            f"recipe, mean ± 95% CI over seeds. "
            f"'budgets in dataset' flags a dataset whose models did not all get the same budget.")
    first = (*_INFO, metric)
    return View("tuning", TUNING_KEY, tuning_rows,
                lambda cols: [c for c in first if c in cols] + [c for c in cols if c not in first], note, EMPTY)
