"""What an exported student carries for items it never saw: its item-side map from features to an item vector.

How the served item table is formed (``folded()``), and so what a new item's vector is:

- **lightgcn with an adapter**: the layer-0 item table is ``ID row + adapter(x)`` and the served table is its
  LightGCN propagation, the mean of ``layers + 1`` layer embeddings. An item without train edges is reached by no
  propagation, so its served vector is ``(ID row + adapter(x)) / (layers + 1)``. A new item has no ID row (taken
  as zero: nothing was learnt about it), so its vector is ``adapter(x) / (layers + 1)``: scale ``1 / (layers + 1)``.
  For a catalogue item without train edges the in-mmbench vector minus the exported map's is exactly
  ``ID row / (layers + 1)`` (zero when its ID row is zero).
- **mf with an adapter**: no propagation, so every item's served vector is ``ID row + adapter(x)``; a new item's is
  ``adapter(x)``: scale 1.
- **lightgcn serving a content head** (``cold_head``, chosen on valid): the served rows of cold items *are* the
  head's vectors, ``head(x)``: scale 1. It takes precedence over the adapter, as in ``folded()``.

``adapter(x)`` and ``head(x)`` are both the mean over the item's available modalities of one ``Linear`` per
modality (:mod:`mmbench.components.students._adapter`), which is what ``cold.safetensors`` stores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from mmbench.recipe.schema import Recipe
from mmbench.results.record import RunRecord

# the served vector of an item without train edges is `scale` times its layer-0 row (see the module docstring)
ADAPTER_SCALE: dict[str, Callable[[nn.Module], float]] = {
    "lightgcn": lambda model: 1.0 / (model.layers + 1),
    "mf": lambda model: 1.0,
}


def _projections(model: nn.Module, component: str) -> tuple[nn.ModuleDict, str, float, str] | str:
    """``(per-modality Linear layers, kind, scale, rule)``, or the reason there is no map."""
    heads, choice = getattr(model, "heads", None), getattr(model, "choice", None)
    if heads is not None and choice is not None and int(choice) > 0:
        return (heads[int(choice) - 1].proj, "content-head", 1.0,
                "vector = mean over available modalities of (x @ weight.T + bias): the content head the model "
                "serves for items without train edges (chosen on valid)")
    adapter = getattr(model, "adapter", None)
    if adapter is None:
        return "the model has no item adapter or content head: an ID-only model gives a new item no vector"
    if component not in ADAPTER_SCALE:
        return f"{component}: how its served table treats an item without train edges is not known to the exporter"
    scale = ADAPTER_SCALE[component](model)
    rule = ("vector = scale * mean over available modalities of (x @ weight.T + bias): the item adapter's offset "
            "of a new item, whose ID row is taken as zero; scale = 1 / (layers + 1) for lightgcn (an item without "
            "train edges keeps its layer-0 row through propagation, divided by the layer count), 1 for mf")
    return adapter.proj, "adapter", scale, rule


def cold_item_map(model: nn.Module, component: str, recipe: Recipe,
                  record: RunRecord) -> tuple[dict[str, np.ndarray] | None, dict[str, Any] | None, str | None]:
    """``(tensors for cold.safetensors, the manifest's cold_items block, None)``, or ``(None, None, why not)``."""
    found = _projections(model, component)
    if isinstance(found, str):
        return None, None, found
    proj, kind, scale, rule = found
    tensors = {}
    for m, lin in proj.items():
        tensors[f"{m}.weight"] = lin.weight.detach().cpu().numpy().astype(np.float32)
        tensors[f"{m}.bias"] = lin.bias.detach().cpu().numpy().astype(np.float32)
    spec = {"kind": kind, "modalities": list(proj.keys()), "scale": scale, "rule": rule,
            "dims": {m: int(lin.in_features) for m, lin in proj.items()},
            "imputer": recipe.imputer.name if recipe.imputer else None,
            "encoders": {m: recipe.encoders[m].model_dump(mode="json") for m in proj.keys() if m in recipe.encoders},
            "features": {m: record.features.get(m) for m in proj.keys()}}
    return tensors, spec, None
