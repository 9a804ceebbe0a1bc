"""An export must reproduce its record: its tables re-evaluated on the test part with the project's evaluator."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mmbench.data.types import Split
from mmbench.errors import ExportError
from mmbench.recipe.schema import Recipe
from mmbench.runner.evaluate import evaluate_users
from mmbench.serve.recommender import Recommender

# metrics are float64 means over users of rank-based values computed from identical tables: the same run's
# numbers agree to the last digits; a real difference (another model, other data) moves them by ≥ 1 / users
TOLERANCE = 1e-6


def reevaluate(rec: Recommender, split: Split, recipe: Recipe) -> dict[str, float]:
    """Test metrics of the exported tables (``users[u] · items[i]``, train ∪ valid masked), as the runner computes
    them (:func:`mmbench.runner.evaluate.evaluate_users`, the recipe's metrics, cut-offs and batch size)."""
    users, items = torch.tensor(rec.users), torch.tensor(rec.items)
    ev = recipe.eval
    _, per_user = evaluate_users(lambda u: users[u] @ items.T, split, "test", metrics=ev.metrics, ks=ev.ks,
                                 batch_size=ev.batch_size)
    return {col: float(v.mean()) for col, v in per_user.items()}


def check_reproduces(got: dict[str, float], want: dict[str, float], what: str, fix: str,
                     tolerance: float = TOLERANCE) -> dict[str, Any]:
    """The verification block of the manifest, or an :class:`~mmbench.errors.ExportError` naming every metric
    that the export does not reproduce."""
    missing = sorted(set(want) - set(got))
    diffs = {col: abs(got[col] - want[col]) for col in want if col in got}
    bad = [f"{col} {got[col]:.6f} vs recorded {want[col]:.6f}" for col, d in diffs.items() if not d <= tolerance]
    if missing or bad:
        raise ExportError(f"the exported tables of {what} do not reproduce its record on the test part "
                          f"({'; '.join(bad + [f'{c} not computed' for c in missing])}); nothing was written. "
                          f"The cached weights, the code or the data differ from the run's; fix: {fix}")
    return {"part": "test", "metrics": got, "max_abs_diff": float(np.max(list(diffs.values()) or [0.0])),
            "tolerance": tolerance, "evaluator": "mmbench.runner.evaluate.evaluate_users"}
