"""A recorded model rebuilt as it served: the record's recipe, its data and split, the cached trained weights.

The trained-model cache (:mod:`mmbench.runner.model_cache`) keeps every model a run trained with reuse on (the
default) under the key its record gives (``cache_key``). Rebuilding checks, in order, that the recipe still
validates and hashes as recorded, that the data and split are the ones the run used (content and split hashes),
that the weights are in this machine's cache and fit the model the recipe builds; each failure is one
:class:`~mmbench.errors.ExportError` naming the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydantic
import torch
from torch import nn

from mmbench.data.types import PreparedData, Split
from mmbench.errors import ExportError
from mmbench.recipe.load import recipe_hash
from mmbench.recipe.schema import ModelSlot, Recipe
from mmbench.registry import load_plugins
from mmbench.results.record import ModelResult, RunRecord
from mmbench.runner import model_cache
from mmbench.runner.build import build_model, model_slots
from mmbench.runner.features import extract_all
from mmbench.runner.run import prepare
from mmbench.runner.train import seed_everything

Log = Callable[[str], None]


@dataclass(frozen=True)
class Rebuilt:
    """A recorded model, trained weights loaded, in eval mode, and what it was trained on."""

    recipe: Recipe
    data: PreparedData
    split: Split
    result: ModelResult
    model: nn.Module
    served: nn.Module


def rerun_fix(record: RunRecord) -> str:
    """The command that trains (or reuses) a record's models again on this machine."""
    return f"`mmbench run {record.recipe.path or record.recipe.name + '.yaml'} --seed {record.seed}`"


def recipe_of(record: RunRecord) -> Recipe:
    """The record's resolved recipe, validated and checked against the recorded hash (plugins loaded)."""
    try:
        recipe = Recipe.model_validate(record.recipe.resolved)
    except pydantic.ValidationError as exc:
        raise ExportError(f"run {record.run_id}: its recipe no longer validates with this mmbench "
                          f"({' '.join(str(exc).splitlines()[:3])}); fix: re-run it with this version "
                          f"({rerun_fix(record)})") from None
    load_plugins(tuple(recipe.plugins))
    if recipe_hash(recipe) != record.recipe.hash:
        raise ExportError(f"run {record.run_id}: its recipe hashes to {recipe_hash(recipe)} now, the record says "
                          f"{record.recipe.hash} (the recipe schema changed since); fix: {rerun_fix(record)}")
    return recipe


def slot_of(recipe: Recipe, result: ModelResult) -> ModelSlot:
    """The recipe slot a recorded model was built from (a KD student the gate skipped is its no-KD twin, which
    has the student's spec)."""
    twin = result.without_kd_of == "student"
    for slot in model_slots(recipe):
        if (slot.role == result.role and slot.spec.name == result.component and slot.spec.params == result.params
                and twin == (slot.role == "baseline" and slot.loc == ("student",))):
            return slot
    raise ExportError(f"the record's {result.role} {result.component} {result.params} matches no model of its "
                      f"recipe; fix: pass a record written by `mmbench run`, unedited")


def weights_path(record: RunRecord, result: ModelResult) -> Path:
    """Where this machine's cache keeps the model's trained weights, or the error that names the fix."""
    what = f"the {result.role} {result.component} of run {record.run_id}"
    if result.cache_key is None:
        raise ExportError(f"{what} has no trained-model cache key: the run used --no-reuse, which neither reads nor "
                          f"stores trained weights (a KD student also has none when its teacher has none); "
                          f"fix: {rerun_fix(record)} without --no-reuse, then export the new record")
    path = model_cache.cache_dir() / f"{result.cache_key}.pt"
    if not path.is_file():
        raise ExportError(f"the trained weights of {what} (cache key {result.cache_key}) are not in the trained-model "
                          f"cache {model_cache.cache_dir()}: they stay on the machine and cache (MMBENCH_CACHE_DIR) "
                          f"that ran it; fix: {rerun_fix(record)} here (it trains the same model again and writes "
                          f"a new record), then export that record; or point MMBENCH_CACHE_DIR at the run's cache")
    return path


def load_weights(model: nn.Module, path: Path, record: RunRecord) -> None:
    """Cached weights into ``model`` (``weights_only``: nothing unpickled), or an error naming the fix."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged file: any reader error means the same thing here
        raise ExportError(f"{path}: unreadable trained weights ({type(exc).__name__}: {exc}); fix: delete it and "
                          f"{rerun_fix(record)}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ExportError(f"{path}: the cached weights do not fit the model its recipe builds now "
                          f"({str(exc).splitlines()[0]}); the model code changed since the run; fix: "
                          f"{rerun_fix(record)}") from None
    model.eval()


def rebuild(record: RunRecord, index: int, log: Log = print) -> Rebuilt:
    """Rebuild ``record.models[index]`` with its trained weights, and its served form (``folded()``)."""
    recipe = recipe_of(record)
    result = record.models[index]
    slot = slot_of(recipe, result)
    path = weights_path(record, result)
    data, split, info = prepare(recipe, log)
    if (info.content_hash, info.split_hash) != (record.dataset.content_hash, record.dataset.split_hash):
        raise ExportError(f"the data of {info.key} · {info.split} differ from the run's (content hash "
                          f"{info.content_hash} / split hash {info.split_hash}, the record has "
                          f"{record.dataset.content_hash} / {record.dataset.split_hash}); fix: {rerun_fix(record)} "
                          f"on these data")
    # the record lists the item side of a model that reads features: only then are they extracted
    features = extract_all(recipe.encoders, data, progress=False, log=log) if result.items is not None else {}
    seed_everything(record.seed)
    model, _ = build_model(slot.role, slot.spec, recipe, split, features)
    load_weights(model, path, record)
    served = model.folded() if callable(getattr(model, "folded", None)) else model
    if not callable(getattr(served, "tables", None)):
        raise ExportError(f"{result.component} scores items without user and item tables (its score is not "
                          f"users @ items.T), so it cannot be exported as tables; export a model with embeddings "
                          f"(lightgcn, mf, the teachers, recbole/bpr ...)")
    return Rebuilt(recipe, data, split, result, model, served)
