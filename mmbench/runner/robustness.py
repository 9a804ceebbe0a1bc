"""Robustness evaluation of a trained model: test metrics when items lose a modality (PROTOCOL rule 9).

For each modality of the recipe (and ``all`` of them at once when there are several), each missing rate and
each mask seed, the model's item side is put under the item-level condition (:meth:`ItemSide.masked`), the
served model is rebuilt under it (tables, k-NN item graphs and folded adapters are condition-aware) and
evaluated on the test split. Rates 0 and 1 need one mask seed (every seed gives the same mask there).

Imputers: the model is first evaluated as trained (its recipe imputer, or masking when it has none); each
imputer of ``eval.robustness.imputers`` is then swapped in at test time. Only parameter-free imputers can
be swapped in (``mmbench validate`` refuses trainable ones: they belong to training, as the recipe imputer).

A model that reads no features of a modality (an ID-only student, or a modality no item has) is reported as
**unaffected**: its curve is flat at the clean metrics and says so; nothing is skipped silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from statistics import fmean
from typing import Any

from torch import nn

from mmbench.components._items import ItemSide
from mmbench.data.types import Split
from mmbench.kinds import IMPUTERS
from mmbench.metrics.robustness import ALL, condition_keep, curve_summary, seeds_for
from mmbench.recipe.schema import EvalSpec
from mmbench.runner.evaluate import evaluate

Log = Callable[[str], None]


def _serve(model: nn.Module) -> nn.Module:
    model.eval()
    return model.folded() if callable(getattr(model, "folded", None)) else model


def _mean(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    return {col: fmean(r[col] for r in runs) for col in runs[0]}


def condition_modalities(requested: Sequence[str], encoders: Sequence[str]) -> list[str]:
    """The modality conditions of a run: the requested ones (default: every encoder's) plus ``all`` if ≥ 2."""
    names = list(requested) or list(encoders)
    return names + ([ALL] if len(names) > 1 else [])


def _unaffected_note(modality: str, items: ItemSide | None) -> str | None:
    """Why the model cannot be affected by losing ``modality``, or None when it can."""
    if items is None or not items.names:
        return "reads no item features"
    if modality == ALL:
        return None
    if modality in items.names:
        return None
    if modality in items.absent:
        return f"no item has {modality} features, so the model runs without them"
    return f"reads no {modality} features"


def evaluate_robustness(model: nn.Module, items: ItemSide | None, split: Split, ev: EvalSpec, *,
                        modalities: Sequence[str], clean: dict[str, float], trained_imputer: str | None,
                        absent: Sequence[str] = (), log: Log = print) -> dict[str, Any]:
    """Test metrics of ``model`` under every missing-modality condition of ``ev.robustness``.

    ``absent`` names the modalities no item of the dataset has (their curves are flat for every model and
    marked ``absent``). Returns the record's ``robustness`` section: the rates, mask seeds and a list of curves, one per
    (modality, imputer), each with its points (rate, mean metrics over mask seeds, per-seed metrics) and a
    summary (area under the curve, relative change per rate).
    """
    spec = ev.robustness
    rates = sorted(set(spec.rates) | {0.0})
    imputers: list[tuple[str, Callable[[int], nn.Module] | None, bool]] = [(trained_imputer or "none", None, False)]
    for imp in spec.imputers:
        if imp.name != (trained_imputer or "none"):
            imputers.append((imp.name, lambda dim, _i=imp: IMPUTERS.get(_i.name)(dim, **_i.params), True))
    t_start, n_evals = time.perf_counter(), 0
    curves = []
    for label, factory, swapped in imputers:
        for modality in modalities:
            note = _unaffected_note(modality, items)
            points = []
            if note is not None:
                points = [{"rate": r, "metrics": dict(clean), "per_seed": None} for r in rates]
            else:
                for rate in rates:
                    if rate == 0.0 and not swapped:
                        points.append({"rate": 0.0, "metrics": dict(clean), "per_seed": None})
                        continue
                    runs = []
                    for mask_seed in seeds_for(rate, spec.mask_seeds):
                        keep = condition_keep(modality, items.names, items.n_items, rate, mask_seed)
                        with ExitStack() as stack:
                            stack.enter_context(items.masked(keep))
                            if swapped:
                                stack.enter_context(items.imputing(factory))
                            served = _serve(model)
                            runs.append(evaluate(served.score, split, "test", metrics=ev.metrics, ks=ev.ks,
                                                 batch_size=ev.batch_size))
                        n_evals += 1
                    points.append({"rate": rate, "metrics": _mean(runs),
                                   "per_seed": runs if len(runs) > 1 else None})
                col = "NDCG@10" if "NDCG@10" in clean else next(iter(clean))
                log(f"  robustness no-{modality} [{label}]: {col} "
                    + " · ".join(f"{p['rate']:.0%} {p['metrics'][col]:.4f}" for p in points))
            curves.append({"modality": modality, "imputer": label, "imputer_at_test_only": swapped,
                           "unaffected": note is not None, "note": note,
                           "absent": modality in absent, "points": points,
                           "summary": curve_summary(points, list(clean))})
    _serve(model)  # leave the model as it was: clean condition, eval mode
    return {"rates": rates, "mask_seeds": spec.mask_seeds, "modalities": list(modalities), "curves": curves,
            "evaluations": n_evals, "seconds": round(time.perf_counter() - t_start, 3)}
