"""``mmbench run``: data → models (train, select on valid) → test once → latency → one record per seed."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split, split_key
from mmbench.data.types import PreparedData, Split
from mmbench.errors import MMBenchError
from mmbench.kinds import DATASETS, STUDENTS, TEACHERS
from mmbench.metrics.latency import measure_latency, model_size
from mmbench.params import param_specs
from mmbench.recipe.load import recipe_hash
from mmbench.recipe.schema import ModelSpec, Recipe
from mmbench.results.record import DatasetInfo, ModelResult, RecipeInfo, RunRecord
from mmbench.results.store import write_record
from mmbench.runner import provenance
from mmbench.runner.evaluate import evaluate
from mmbench.runner.features import extract_all
from mmbench.runner.train import fit, seed_everything

Log = Callable[[str], None]


class UnsupportedRecipeError(MMBenchError):
    """The recipe asks for a stage this runner does not provide yet."""


def check_supported(recipe: Recipe) -> None:
    """Refuse, with one clear message, recipe sections that this version cannot run (never ignore them)."""
    asked = [label for label, used in (
        ("teacher.fusion", bool(recipe.teacher and recipe.teacher.fusion)),
        ("distill", bool(recipe.distill)),
        ("modality_dropout", bool(recipe.modality_dropout)),
        ("imputer", recipe.imputer is not None),
        ("eval.robustness.enabled", recipe.eval.robustness.enabled),
    ) if used]
    if asked:
        raise UnsupportedRecipeError(
            f"recipe {recipe.name!r} uses {', '.join(asked)}, which this mmbench version validates but cannot "
            f"run yet (fusion, distillation and robustness are not implemented); "
            f"fix: remove those sections to train and evaluate the recipe's models")


def dataset_key(recipe: Recipe) -> str:
    """``name`` plus any non-default dataset params, so subsampled runs never mix with full ones."""
    spec = recipe.dataset
    defaults = {n: s.default for n, s in param_specs(DATASETS.get(spec.name)).items()}
    changed = {k: v for k, v in sorted(spec.params.items()) if defaults.get(k) != v}
    return spec.name + (f"[{','.join(f'{k}={v}' for k, v in changed.items())}]" if changed else "")


def split_hash(split: Split) -> str:
    """Content hash of the split's train / valid / test pairs."""
    h = hashlib.sha256()
    for part in (split.train, split.valid, split.test):
        h.update(np.ascontiguousarray(part.user, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(part.item, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def prepare(recipe: Recipe, log: Log | None = None) -> tuple[PreparedData, Split, DatasetInfo]:
    """Load the dataset (through the processed cache), split it, and describe both for the record."""
    spec = recipe.dataset
    data = load_dataset(spec.name, spec.params, log=log)
    split = make_split(spec.split, data.interactions, seed=spec.split_seed)
    info = DatasetInfo(name=spec.name, key=dataset_key(recipe), split=split_key(spec.split, spec.split_seed),
                       content_hash=data.raw_hash, split_hash=split_hash(split),
                       card={**data.card, "split": split.card})
    return data, split, info


def run_model(role: str, spec: ModelSpec, recipe: Recipe, split: Split, seed: int, log: Log) -> ModelResult:
    """Build, train (selection on valid), evaluate on test once, and time one model."""
    seed_everything(seed)
    cls = (TEACHERS if role == "teacher" else STUDENTS).get(spec.name)
    model = cls(split.graph, **spec.params)
    log(f"[{role}] {spec.name} {spec.params}")
    fitted = fit(model, split, recipe.train_for(spec), recipe.eval, seed=seed, log=lambda m: log(f"  {m}"))
    t0 = time.perf_counter()
    ev = recipe.eval
    test = evaluate(model.score, split, "test", metrics=ev.metrics, ks=ev.ks, batch_size=ev.batch_size)
    test_s = time.perf_counter() - t0
    lat = ev.latency
    latency = measure_latency(model.score, split.n_users, k=lat.k, warmup=lat.warmup, repeats=lat.repeats,
                              batch_size=lat.batch_size, seed=seed) if lat.enabled else None
    return ModelResult(role=role, component=spec.name, params=spec.params, best_epoch=fitted.best_epoch,
                       epochs_run=fitted.epochs_run, stopped=fitted.stopped,
                       metrics={"valid": fitted.valid, "test": test}, size=model_size(model), latency=latency,
                       history=fitted.history, timings={"train_s": fitted.seconds, "test_eval_s": test_s})


def run_recipe(recipe: Recipe, *, results_dir: Path, seeds: Sequence[int] | None = None,
               recipe_path: str | None = None, log: Log = print) -> list[Path]:
    """Run every seed of ``recipe`` and write one record per seed; returns the record paths."""
    check_supported(recipe)
    git = provenance.git_info()  # the code as it was when the run started
    t0 = time.perf_counter()
    data, split, data_info = prepare(recipe, log)
    prepare_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    features = extract_all(recipe.encoders, data, log=log) if recipe.encoders else {}
    features_s = time.perf_counter() - t0
    log(f"{data_info.key} · {split.name}: {split.n_users} users, {split.n_items} items, "
        f"train/valid/test {len(split.train)}/{len(split.valid)}/{len(split.test)}")
    info = RecipeInfo(name=recipe.name or "recipe", hash=recipe_hash(recipe), path=recipe_path,
                      resolved=recipe.model_dump(mode="json"))
    paths = []
    for seed in dict.fromkeys(seeds or recipe.seeds):  # a seed given twice runs once
        t_seed = time.perf_counter()
        models = [run_model(role, spec, recipe, split, seed, log) for role, _, spec in recipe.models()]
        now = datetime.now(timezone.utc)
        record = RunRecord(
            run_id=f"{info.name}-{info.hash[:8]}-s{seed}-{now.strftime('%Y%m%dT%H%M%S%fZ')}",
            created_at=now.isoformat(timespec="seconds"), recipe=info, dataset=data_info, seed=seed,
            git=git, versions=provenance.package_versions(), hardware=provenance.hardware(),
            features={m: f.info for m, f in features.items()}, models=models,
            timings={"prepare_s": prepare_s, "features_s": features_s, "run_s": time.perf_counter() - t_seed})
        paths.append(write_record(results_dir, record))
        log(f"seed {seed}: wrote {paths[-1]}")
    return paths


def summary_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Compact per-model test metrics of freshly written records, for the terminal."""
    rows = []
    for path in paths:
        rec = RunRecord.model_validate_json(Path(path).read_bytes())
        for m in rec.models:
            rows.append({"seed": rec.seed, "role": m.role, "component": m.component, **m.metrics["test"],
                         **({"latency_ms_p50": m.latency["latency_ms_p50"]} if m.latency else {}),
                         "params": m.size["params"]})
    return rows
