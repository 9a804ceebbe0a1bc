"""``mmbench run``: data → models (train, select on valid) → test once → latency → one record per seed."""

from __future__ import annotations

import hashlib
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mmbench.cachedir import cache_root
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split, split_key
from mmbench.data.types import PreparedData, Split
from mmbench.errors import MMBenchError
from mmbench.kinds import DATASETS
from mmbench.metrics.latency import model_size
from mmbench.params import param_specs
from mmbench.recipe.load import recipe_hash
from mmbench.recipe.schema import ModelSlot, Recipe
from mmbench.results.kd import kd_report
from mmbench.results.record import DatasetInfo, ModelResult, RecipeInfo, RunRecord
from mmbench.results.store import write_record
from mmbench.runner import kd_gate, model_cache, provenance
from mmbench.runner.build import build_model, model_slots, reuse_parts
from mmbench.runner.evaluate import evaluate_users
from mmbench.runner.distill import Distiller
from mmbench.runner.features import ModalityFeatures, extract_all, request_encoder
from mmbench.runner.preflight import check_split
from mmbench.runner.robustness import condition_modalities, evaluate_robustness
from mmbench.runner.serving import served_note, serving_latency
from mmbench.runner.slices import evaluate_slices
from mmbench.runner.train import Checkpoint, fit, seed_everything

Log = Callable[[str], None]
EncoderHooks = Callable[[Sequence[str]], "tuple[Callable[[int], None], dict[str, str]] | None"]


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


def run_model(slot: ModelSlot, recipe: Recipe, split: Split, seed: int, log: Log, *,
              features: dict[str, ModalityFeatures] | None = None, teacher: nn.Module | None = None,
              checkpoints: Path | None = None, fingerprint: str = "",
              encoder_hooks: EncoderHooks | None = None, data_info: DatasetInfo | None = None,
              reuse: bool = False, teacher_key: str | None = None,
              on_validation: Callable[[int, float], None] | None = None, device: torch.device | None = None
              ) -> tuple[ModelResult, nn.Module, dict[str, Any]]:
    """Build, train (selection on valid; KD from ``teacher``), test once on the served model, time it, and
    (if the recipe asks) evaluate it under missing modalities.

    With ``reuse`` (and ``data_info``), the trained model is loaded from the trained-model cache when an
    identical one was trained before (:mod:`mmbench.runner.model_cache`), and stored there otherwise; a KD
    student only when its teacher has a cache key (``teacher_key``), which is part of the student's.

    ``on_validation(epoch, value)`` sees the training's validation curve (a tuning study's pruner); a reused
    model reports its stored curve.

    ``device``: where the model (its sparse graphs and item features included) trains and is evaluated; the
    sampler and every random draw stay on the CPU generator.

    Returns the model's result, the trained model, and its per-user test values (for paired tests).
    """
    role, loc, spec = slot
    seed_everything(seed)
    model, items = build_model(role, spec, recipe, split, features or {})
    if device is not None and device.type != "cpu":
        model.to(device)
    kd = role == "student" and bool(recipe.distill) and teacher is not None
    no_kd_twin = role == "baseline" and loc == ("student",)  # the KD student's same-budget twin (model_slots)
    tag = "student + KD" if kd else ("student without KD" if no_kd_twin else role)
    log(f"[{tag}] {spec.name} {spec.params}")
    distiller = None
    if kd:
        distiller = Distiller(teacher, recipe.teacher.name, model, spec.name, split.graph, recipe.distill)
        if device is not None and device.type != "cpu":
            distiller.to(device)
    ckpt = None
    if checkpoints is not None:
        slot_name = f"{role}-{'-'.join(map(str, loc))}-{spec.name.replace('/', '_')}"
        ckpt = Checkpoint(checkpoints / f"{slot_name}.pt", f"{fingerprint}|{slot_name}|kd={kd}")
    key = None
    if reuse and data_info is not None and (not kd or teacher_key):
        parts = reuse_parts(role, spec, recipe, data_info, seed, items)
        if kd:  # a KD student also depends on its teacher and on every distillation setting
            parts.update(teacher=teacher_key, distill=[d.model_dump() for d in recipe.distill],
                         distill_users=recipe.train_for(spec).distill_users)
        key = model_cache.model_key(parts)
    fitted = model_cache.load_model(key, model, log) if key else None
    reused = fitted is not None
    for row in fitted.history if reused and on_validation is not None else ():
        if "valid" in row:
            on_validation(row["epoch"], row["valid"])
    if reused:
        log(f"  reused the trained model {key} (same code, data, split, seed, params and training; "
            f"best epoch {fitted.best_epoch}); --no-reuse trains it again")
    else:
        fitted = fit(model, split, recipe.train_for(spec), recipe.eval, seed=seed, log=lambda m: log(f"  {m}"),
                     distiller=distiller, checkpoint=ckpt, progress=True, on_validation=on_validation)
        if key:
            model_cache.save_model(key, model, fitted, {"recipe": recipe.name, "role": role, "seed": seed})
    served = model.folded() if callable(getattr(model, "folded", None)) else model
    t0 = time.perf_counter()
    ev = recipe.eval
    _, per_user = evaluate_users(served.score, split, "test", metrics=ev.metrics, ks=ev.ks, batch_size=ev.batch_size)
    test = {col: float(v.mean()) for col, v in per_user.items()}  # exactly evaluate()'s means
    test_s = time.perf_counter() - t0
    slices = evaluate_slices(served.score, split, metrics=ev.metrics, ks=ev.ks, batch_size=ev.batch_size)
    latency = None
    if ev.latency.enabled:
        log("  latency ...")
        hook = encoder_hooks(items.names) if encoder_hooks is not None and items is not None else None
        latency = serving_latency(served, split.n_users, ev.latency, seed, hook)
    robustness = None
    if ev.robustness.enabled:
        robustness = evaluate_robustness(
            model, items, split, ev, modalities=condition_modalities(ev.robustness.modalities, list(recipe.encoders)),
            clean=test, trained_imputer=recipe.imputer.name if recipe.imputer and items is not None else None,
            absent=[m for m, f in (features or {}).items() if not f.available.any()], log=log)
    kd_info = {"teacher": recipe.teacher.name,
               "losses": [{"name": d.name, "weight": d.weight, "params": d.params} for d in recipe.distill],
               "candidates": {"teacher_top": distiller.n_top, "sampled": distiller.n_sampled}} if distiller else None
    result = ModelResult(
        role=role, component=spec.name, params=spec.params, best_epoch=fitted.best_epoch,
        epochs_run=fitted.epochs_run, stopped=fitted.stopped, metrics={"valid": fitted.valid, "test": test},
        size=model_size(served), latency=latency, history=fitted.history,
        timings={"train_s": fitted.seconds, "test_eval_s": test_s,
                 **({"epoch_s_mean": statistics.fmean(h["seconds"] for h in fitted.history)}
                    if fitted.history else {})},
        distill=kd_info, without_kd_of="student" if no_kd_twin else None,
        items=items.info() if items is not None else None,
        served=served_note(model, served), resumed_from_epoch=fitted.resumed_from or None,
        cache_key=key, reused_from=key if key and reused else None,
        robustness=robustness, slices=slices or None)
    return result, model, per_user


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` (or None): CUDA when present, else the CPU; ``cpu`` / ``cuda`` as asked (``cuda`` without a GPU is
    an error naming the fix)."""
    if device is None or str(device) == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MMBenchError("device cuda was asked for, but torch sees no CUDA device; fix: use --device cpu (or "
                           "auto), or install a CUDA build of torch on a machine with a GPU")
    return dev


def run_recipe(recipe: Recipe, *, results_dir: Path, seeds: Sequence[int] | None = None,
               recipe_path: str | None = None, log: Log = print, resume: bool = True, device: str = "cpu",
               reuse: bool = True, only: Callable[[ModelSlot], bool] | None = None,
               monitor: Callable[[ModelSlot, int], Callable[[int, float], None] | None] | None = None,
               on_record: Callable[[Path], None] | None = None) -> list[Path]:
    """Run every seed of ``recipe`` and write one record per seed; returns the record paths.

    ``only`` keeps some of the recipe's models (a tuning trial trains the tuned one); ``monitor(slot, seed)``
    may return a callback that sees that model's validation curve (a tuning study's pruner). ``on_record(path)``
    sees each seed's record once it is written (run tracking reads it from there).

    With ``resume`` (the default), each model's training state is checkpointed every epoch under the cache
    root, and a run that was killed continues from its last finished epoch; checkpoints are removed once
    the seed's record is written. With ``reuse`` (the default), trained models come from the trained-model
    cache when an identical one was trained before (see :mod:`mmbench.runner.model_cache`).
    """
    git = provenance.git_info()  # the code as it was when the run started
    dev = resolve_device(device)
    t0 = time.perf_counter()
    data, split, data_info = prepare(recipe, log)
    prepare_s = time.perf_counter() - t0
    log(f"{data_info.key} · {split.name}: {split.n_users} users, {split.n_items} items, "
        f"train/valid/test {len(split.train)}/{len(split.valid)}/{len(split.test)}")
    check_split(recipe, split)  # before the features and the first model: a run that cannot succeed stops now
    t0 = time.perf_counter()
    features = extract_all(recipe.encoders, data, log=log) if recipe.encoders else {}
    features_s = time.perf_counter() - t0
    info = RecipeInfo(name=recipe.name or "recipe", hash=recipe_hash(recipe), path=recipe_path,
                      resolved=recipe.model_dump(mode="json"))
    hooks: dict[tuple[str, ...], Any] = {}

    def encoder_hooks(modalities: Sequence[str]) -> Any:
        key = tuple(modalities)
        if key not in hooks:  # built once per run (encoders load their weights once)
            hooks[key] = request_encoder(recipe.encoders, data, key, log=log) if key else None
        return hooks[key]

    paths = []
    for seed in dict.fromkeys(seeds or recipe.seeds):  # a seed given twice runs once
        t_seed = time.perf_counter()
        ckpt_dir = None
        fingerprint = f"{info.hash}|{data_info.split_hash}|s{seed}"
        if resume:
            ckpt_dir = cache_root() / "checkpoints" / f"{info.name}-{info.hash[:12]}-{data_info.split_hash}-s{seed}"
        slots = [s for s in model_slots(recipe) if only is None or only(s)]
        done: dict[int, tuple[ModelResult, dict[str, Any]]] = {}
        kd: dict[str, tuple[ModelResult, dict[str, Any]]] = {}  # teacher, no-KD twin, student
        teacher, teacher_key, gate = None, None, None
        for i in kd_gate.training_order(slots):
            slot = slots[i]
            twin = kd.get("baseline")  # trained before the student (kd_gate.training_order) unless `only` left it out
            gated = (slot.role == "student" and bool(recipe.distill) and teacher is not None
                     and twin is not None and twin[0].without_kd_of == "student")
            if gated:  # is the teacher worth distilling? decided on valid only
                gate = kd_gate.check(kd["teacher"][0], twin[0], recipe)
                kd_gate.enforce(gate, recipe.teacher.name, slot.spec.name, log)
            if gated and not gate["distilled"]:
                done[i] = (kd_gate.skipped_student(twin[0], recipe, gate), twin[1])
            else:
                result, model, values = run_model(slot, recipe, split, seed, log, features=features,
                                                  teacher=teacher, checkpoints=ckpt_dir, fingerprint=fingerprint,
                                                  encoder_hooks=encoder_hooks, data_info=data_info, reuse=reuse,
                                                  teacher_key=teacher_key,
                                                  on_validation=monitor(slot, seed) if monitor else None,
                                                  device=dev)
                done[i] = (result, values)
                if slot.role == "teacher":
                    teacher, teacher_key = model, result.cache_key
            kd.setdefault("baseline" if done[i][0].without_kd_of == "student" else slot.role, done[i])
        models = [done[i][0] for i in sorted(done)]  # the record lists models in recipe order, not training order
        per_user = {role: values.get(recipe.train.select_metric) for role, (_, values) in kd.items()}
        now = datetime.now(timezone.utc)
        record = RunRecord(
            run_id=f"{info.name}-{info.hash[:8]}-s{seed}-{now.strftime('%Y%m%dT%H%M%S%fZ')}",
            created_at=now.isoformat(timespec="seconds"), recipe=info, dataset=data_info, seed=seed,
            git=git, versions=provenance.package_versions(), hardware=provenance.hardware(dev),
            features={m: f.info for m, f in features.items()}, models=models,
            kd=kd_report(models, select_metric=recipe.train.select_metric, gate=gate,
                         per_user=per_user if all(v is not None for v in per_user.values()) else None),
            timings={"prepare_s": prepare_s, "features_s": features_s, "run_s": time.perf_counter() - t_seed})
        paths.append(write_record(results_dir, record))
        if ckpt_dir is not None:
            shutil.rmtree(ckpt_dir, ignore_errors=True)  # the record is safe: the checkpoints have served
        log(f"seed {seed}: wrote {paths[-1]}")
        if on_record is not None:
            on_record(paths[-1])
    return paths
