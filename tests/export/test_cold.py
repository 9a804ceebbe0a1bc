"""A new item scored through the export's item map gets the vector the in-mmbench model gives an item without
train edges: for lightgcn, ``served = (ID row + adapter(x)) / (layers + 1)`` and the map gives
``adapter(x) / (layers + 1)``; for mf, ``served = ID row + adapter(x)`` and the map gives ``adapter(x)``; a
served content head's rows are the map's vectors as they are."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from mmbench.components._items import ItemSide
from mmbench.components.students.lightgcn import LightGCNStudent
from mmbench.data.load import load_dataset
from mmbench.data.splits import loo_time
from mmbench.export.cold import cold_item_map
from mmbench.export.locate import read_record
from mmbench.export.rebuild import rebuild
from mmbench.recipe.schema import Recipe
from mmbench.serve.cold import ColdItemMap
from mmbench.serve.recommender import Recommender
from mmbench.errors import ServeError


def _features(model):
    """The model's own text features, NaN where an item has none (the map's way of saying missing)."""
    x, a = model.adapter.items.raw("text")
    return np.where(a.numpy()[:, None], x.numpy(), np.nan).astype(np.float32)


def _no_edges(split):
    return np.flatnonzero(np.bincount(split.train.item, minlength=split.n_items) == 0)


def test_lightgcn_items_without_edges_are_the_map_plus_their_id_row(exported):
    _, record_path, folder = exported
    built = rebuild(read_record(record_path), 1, log=lambda _: None)
    rec = Recommender.load(folder)
    cold = _no_edges(built.split)
    assert len(cold) > 10  # the small split has items seen only in valid or test
    x = _features(built.model)[cold]
    mapped = rec.cold_map().encode({"text": x})
    id_rows = built.model.item.weight.detach().numpy()[cold] / (built.model.layers + 1)
    np.testing.assert_allclose(rec.items[cold], mapped + id_rows, rtol=1e-5, atol=1e-6)
    # with its ID row at zero (nothing learnt about the item, as for a new one) the model gives the map's vector
    # exactly, so every user scores it as the export does
    zeroed = copy.deepcopy(built.model)
    with torch.no_grad():
        zeroed.item.weight[torch.as_tensor(cold)] = 0.0
    served = zeroed.folded().eval().tables()[1].numpy()[cold]
    np.testing.assert_allclose(served, mapped, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rec.users @ served.T, rec.users @ mapped.T, rtol=1e-4, atol=1e-6)


def test_mf_every_item_is_the_map_plus_its_id_row(exported, tmp_path):
    from mmbench.export import export_model, find_record

    results, record_path, _ = exported
    export_model(find_record(record_path, None, None, results), 3, tmp_path / "mf", log=lambda _: None)
    built = rebuild(read_record(record_path), 3, log=lambda _: None)
    rec = Recommender.load(tmp_path / "mf")
    mapped = rec.cold_map().encode({"text": _features(built.model)})
    np.testing.assert_allclose(rec.items - built.model.item.weight.detach().numpy(), mapped, rtol=1e-5, atol=1e-6)


def test_a_new_item_ranks_with_the_catalogue_at_the_maps_score(exported):
    _, record_path, folder = exported
    built = rebuild(read_record(record_path), 1, log=lambda _: None)
    rec = Recommender.load(folder)
    x = _features(built.model)[_no_edges(built.split)[:2]]
    grown = rec.with_new_items(["NEW-A", "NEW-B"], {"text": x})
    user = rec.user_ids[0]
    want = rec.users[0] @ rec.cold_map().encode({"text": x}).T
    full = dict(grown.recommend(user, k=grown.n_items))
    assert full["NEW-A"] == pytest.approx(float(want[0]), rel=1e-5)
    only = grown.recommend(user, k=5, candidates=["NEW-A", "NEW-B"])
    assert {s.item for s in only} == {"NEW-A", "NEW-B"}  # k clamped to the two candidates
    assert grown.n_catalogue == rec.n_items and grown.n_items == rec.n_items + 2


def test_a_served_content_head_is_the_map(small_graph_and_features):
    graph, feats = small_graph_and_features
    items = ItemSide(graph, {"text": feats})
    torch.manual_seed(0)
    model = LightGCNStudent(graph, items, dim=8, layers=2, adapter=True, cold_head=[0.0])
    for p in model.parameters():
        torch.nn.init.normal_(p)
    model.serve_choice(1)
    model.eval()
    recipe = Recipe.model_validate({"schema_version": 1, "dataset": {"name": "amazon-beauty"},
                                    "student": {"name": "lightgcn"}})
    record = type("R", (), {"features": {}})()
    tensors, spec, why = cold_item_map(model, "lightgcn", recipe, record)
    assert why is None and spec["kind"] == "content-head" and spec["scale"] == 1.0
    cold = model.cold.numpy()
    x = np.where(feats[1][:, None], feats[0], np.nan)[cold]
    served = model.folded().eval().tables()[1].numpy()[cold]
    np.testing.assert_allclose(served, ColdItemMap(tensors, spec).encode({"text": x}), rtol=1e-5, atol=1e-5)
    model.serve_choice(0)  # no head served: the adapter is the map, scaled by 1 / (layers + 1)
    assert cold_item_map(model, "lightgcn", recipe, record)[1]["scale"] == pytest.approx(1 / 3)


@pytest.fixture
def small_graph_and_features():
    """The real graph of 300 Beauty users, random features (20% of the items without)."""
    split = loo_time(load_dataset("amazon-beauty", {"max_users": 300}).interactions)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(split.n_items, 6)).astype(np.float32)
    available = rng.random(split.n_items) > 0.2
    return split.graph, (values, available)


def test_bad_new_item_features_are_one_clear_error():
    spec = {"kind": "adapter", "modalities": ["text"], "scale": 0.5, "imputer": None}
    m = ColdItemMap({"text.weight": np.ones((4, 3), np.float32), "text.bias": np.zeros(4, np.float32)}, spec)
    np.testing.assert_allclose(m.encode({"text": np.ones((2, 3))}), np.full((2, 4), 1.5))
    np.testing.assert_array_equal(m.encode({"text": np.full((1, 3), np.nan)}), np.zeros((1, 4)))  # no modality
    with pytest.raises(ServeError, match=r"shape \(2, 5\); this model expects \(n, 3\)"):
        m.encode({"text": np.ones((2, 5))})
    with pytest.raises(ServeError, match="for \\['image'\\], which this model does not read"):
        m.encode({"image": np.ones((2, 3))})
    imputed = ColdItemMap({"text.weight": np.ones((4, 3), np.float32), "text.bias": np.zeros(4, np.float32)},
                          {**spec, "imputer": "mean"})
    with pytest.raises(ServeError, match="trained with the imputer 'mean'.*give every modality"):
        imputed.encode({"text": np.full((1, 3), np.nan)})
