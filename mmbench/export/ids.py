"""The ids an export serves by: the dataset's external ids where it has them, else the ids in its data."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmbench.data.types import Interactions
from mmbench.errors import ExportError
from mmbench.kinds import DATASETS
from mmbench.recipe.schema import Recipe


def _distinct(ids: list[str], label: str) -> list[str]:
    if len(set(ids)) != len(ids):
        raise ExportError(f"the dataset's {label} ids are not distinct as strings; they cannot key an export")
    return ids


def served_ids(recipe: Recipe, inter: Interactions) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """``(ids.json content, the manifest's ids block)``: ``users`` and ``items`` in table-row order.

    A dataset with ``external_ids()`` (see :class:`~mmbench.kinds.DatasetContract`) is served by those, and the
    ids in its data are kept beside them as ``dataset_users`` / ``dataset_items``.
    """
    own = {"users": [str(x) for x in np.asarray(inter.user_ids).tolist()],
           "items": [str(x) for x in np.asarray(inter.item_ids).tolist()]}
    dataset = DATASETS.get(recipe.dataset.name)(**recipe.dataset.params)
    if not callable(getattr(dataset, "external_ids", None)):
        return ({k: _distinct(v, k[:-1]) for k, v in own.items()},
                {"served": "the dataset's own ids (as strings)", "dataset_ids": None})
    external = dataset.external_ids()
    out: dict[str, list[str]] = {}
    for label in ("users", "items"):
        lookup = external[label]
        missing = [i for i in own[label] if i not in lookup]
        if missing:
            raise ExportError(f"{recipe.dataset.name}: external_ids() has no {label[:-1]} id for {missing[:5]} "
                              f"({len(missing)} of {len(own[label])}); fix the dataset's id tables")
        out[label] = _distinct([lookup[i] for i in own[label]], label[:-1])
    return ({**out, "dataset_users": own["users"], "dataset_items": own["items"]},
            {"served": f"{recipe.dataset.name} external ids (external_ids())", "dataset_ids": "dataset_users, "
             "dataset_items in ids.json: the ids in the dataset's data, row for row"})
