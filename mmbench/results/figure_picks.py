"""Which models a dataset's headline figures show: the best KD recipe's three models and the best teacher.

The rule is the same on every dataset and uses nothing but the rows it is given (the models a figure can draw:
those with robustness curves for the robustness overview, those with latency for the Pareto chart):

1. the **headline KD recipe** is the KD recipe (a teacher, a KD student and its no-KD twin, as listed by
   :func:`mmbench.results.kd.kd_members`) whose KD student has the highest metric, test split, mean over seeds;
2. its teacher, KD student and no-KD student are shown, and the dataset's **best teacher** (the highest metric
   of any teacher, in any recipe) when that is another model;
3. a dataset without a KD recipe shows the best model of each role instead.

Ties go to the recipe, then the component, that sorts first, so the choice never depends on the order of rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mmbench.results.drawing import ROLE_ORDER

Key = tuple[str, str, str, str, str]  # recipe, dataset, split, role, component


def _key(row: dict[str, Any]) -> Key:
    return (str(row["recipe"]), str(row.get("dataset")), str(row.get("split")), str(row["role"]),
            str(row["component"]))


def _best(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    scored = [r for r in rows if isinstance(r.get(metric), (int, float)) and not math.isnan(r[metric])]
    return min(scored, key=lambda r: (-float(r[metric]), str(r["recipe"]), str(r["component"])), default=None)


def headline_picks(rows: Sequence[dict[str, Any]], kd_models: Sequence[dict[str, Any]],
                   metric: str = "NDCG@10") -> list[dict[str, Any]]:
    """The headline models among ``rows`` (one dataset and split), by the rule of this module.

    Args:
        rows: Candidate models: dicts with ``recipe``, ``role``, ``component`` and the ``metric`` value.
        kd_models: :func:`mmbench.results.kd.kd_members` rows (of any datasets: they are matched on recipe,
            dataset, split, role and component).
        metric: The column that ranks the models (higher is better).

    Returns:
        The picked rows, each a copy with ``pick`` added (``best teacher``, ``teacher``, ``KD student``,
        ``no-KD student``, or ``best <role>`` without a KD recipe): the best teacher first when it is not the
        KD recipe's, then the KD recipe's teacher, KD student and no-KD student.
    """
    parts = {_key(m): m["kd"] for m in kd_models}
    by_key = {_key(r): r for r in rows}
    recipes: dict[str, dict[str, dict[str, Any]]] = {}
    for key, part in parts.items():
        if key in by_key:
            recipes.setdefault(key[0], {})[part] = by_key[key]
    complete = {name: models for name, models in recipes.items() if len(models) == 3}
    best_teacher = _best([r for r in rows if r["role"] == "teacher"], metric)
    headline = _best([models["KD student"] for models in complete.values()], metric)
    if headline is None:  # no KD recipe here: the best of each role
        roles = sorted({str(r["role"]) for r in rows}, key=lambda role: (ROLE_ORDER.get(role, 9), role))
        best = [(role, _best([r for r in rows if r["role"] == role], metric)) for role in roles]
        return [{**b, "pick": f"best {role}"} for role, b in best if b is not None]
    trio = complete[str(headline["recipe"])]
    picks = [{**trio[part], "pick": part} for part in ("teacher", "KD student", "no-KD student")]
    if best_teacher is not None and _key(best_teacher) != _key(trio["teacher"]):
        picks.insert(0, {**best_teacher, "pick": "best teacher"})
    return picks
