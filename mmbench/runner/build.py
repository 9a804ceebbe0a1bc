"""Building a recipe's models: their slots in a record, the item side a feature-reading model gets, the model
itself, and what a trained model depends on (its trained-model cache key)."""

from __future__ import annotations

from typing import Any

from torch import nn

from mmbench.components._items import ItemSide
from mmbench.data.types import Split
from mmbench.kinds import FUSIONS, IMPUTERS, STUDENTS, TEACHERS
from mmbench.recipe.schema import ModelSlot, ModelSpec, Recipe
from mmbench.results.record import DatasetInfo
from mmbench.runner import model_cache
from mmbench.runner.features import ModalityFeatures


def model_slots(recipe: Recipe) -> list[ModelSlot]:
    """The models of a record, in order: teacher, student, the student without KD (KD recipes), baselines."""
    slots = recipe.models()
    if recipe.distill:
        at = 2 if recipe.teacher else 1
        slots.insert(at, ModelSlot("baseline", ("student",), recipe.student))
    return slots


def item_side(role: str, recipe: Recipe, split: Split, features: dict[str, ModalityFeatures]) -> ItemSide | None:
    """The item-side inputs of one feature-reading model: features, dropout, imputer and (teacher) fusion."""
    if not features:
        return None
    imputer = recipe.imputer
    fusion = recipe.teacher.fusion if role == "teacher" and recipe.teacher else None
    return ItemSide(
        split.graph, {m: (f.values, f.available) for m, f in features.items()},
        dropout=recipe.modality_dropout,
        imputer=(lambda dim: IMPUTERS.get(imputer.name)(dim, **imputer.params)) if imputer else None,
        fusion=(lambda names, dim: FUSIONS.get(fusion.name)(names, dim, **fusion.params)) if fusion else None,
        describe={"imputer": imputer.name if imputer else None, "imputer_params": imputer.params if imputer else {},
                  **({"fusion": fusion.name, "fusion_params": fusion.params} if fusion else {})})


def build_model(role: str, spec: ModelSpec, recipe: Recipe, split: Split,
                features: dict[str, ModalityFeatures]) -> tuple[nn.Module, ItemSide | None]:
    """Construct one model with the runtime context its registration asks for."""
    entry = (TEACHERS if role == "teacher" else STUDENTS).entry(spec.name)
    if entry.meta.get("features"):
        items = item_side(role, recipe, split, features)
        model = entry.obj(split.graph, items, **spec.params)
        # a model that could read features but does not with these params (mf without its adapter) is ID-only
        reads = items is not None and any(m is items for m in model.modules())
        return model, items if reads else None
    if entry.meta.get("train"):  # a model with its own data pipeline sizes it from the training settings
        return entry.obj(split.graph, recipe.train_for(spec), **spec.params), None
    return entry.obj(split.graph, **spec.params), None


def reuse_parts(role: str, spec: ModelSpec, recipe: Recipe, data: DatasetInfo, seed: int,
                items: ItemSide | None) -> dict[str, Any]:
    """Everything a model trained without KD depends on, for its trained-model cache key.

    ``train.distill_users`` only shapes KD steps, so it is left out; evaluation batch size is left out too
    (metrics are batch-invariant). A feature-reading model adds its item side and the features' contents.
    """
    train = recipe.train_for(spec).model_dump()
    train.pop("distill_users")
    parts: dict[str, Any] = {
        "kind": "teacher" if role == "teacher" else "student", "name": spec.name, "params": spec.params,
        "train": train, "eval": {"ks": recipe.eval.ks, "metrics": recipe.eval.metrics},
        "data": {"key": data.key, "content": data.content_hash, "split": data.split, "split_hash": data.split_hash},
        "seed": seed}
    if items is not None:
        parts["items"] = {**items.info(), "features": {m: model_cache.tensor_digest(*items.raw(m))
                                                       for m in items.names}}
    return parts
