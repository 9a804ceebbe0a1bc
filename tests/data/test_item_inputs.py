"""Item text templates and the item-id inputs of precomputed encoders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmbench.data.item_inputs import ItemInputs, default_template, render_texts, template_fields, text_hash
from mmbench.data.load import load_dataset
from mmbench.data.types import Feature
from mmbench.errors import DataError


@pytest.fixture
def items() -> pd.DataFrame:
    return pd.DataFrame({"item": [1, 2, 3, 4],
                         "title": ["Rose {oil}", "", None, "Mascara"],
                         "brand": ["Acme", "Kiss", float("nan"), ""],
                         "categories": [["Skin", "Face"], [], None, "Eyes"]})


def test_optional_sections_drop_with_their_empty_fields(items):
    texts = render_texts(items, "{title}[. Brand: {brand}][ [[{categories}]]]")
    # braces inside values are kept verbatim (substituted once), lists are comma-joined, [[ ]] are literal
    assert texts == ["Rose {oil}. Brand: Acme [Skin, Face]", "Brand: Kiss", None, "Mascara [Eyes]"]


def test_default_template_uses_every_text_field_and_trims_leading_separators(items):
    template = default_template(["title", "brand", "categories"])
    assert template_fields(template) == ["title", "brand", "categories"]
    assert render_texts(items, template) == ["Rose {oil}. Acme. Skin, Face", "Kiss", None, "Mascara. Eyes"]
    assert default_template([]) == ""


def test_item_without_any_field_is_missing_not_empty(items):
    assert render_texts(items, "{title}")[1:3] == [None, None]


@pytest.mark.parametrize("template, needle", [
    ("{nope}", "does not have; fix: use its fields: title, brand, categories"),
    ("{title!r}", "not a plain field name"),
    ("{title:>10}", "not a plain field name"),
    ("{title[0]}", "not a plain field name"),
    ("[{title}", "unbalanced or nested"),
    ("[a [b] c]", "unbalanced or nested"),
    ("just words", "uses no item field"),
])
def test_bad_templates_are_one_clear_error(items, template, needle):
    with pytest.raises(DataError, match="text template") as err:
        render_texts(items, template)
    assert needle in str(err.value)


def test_text_hash_distinguishes_missing_from_empty_and_order():
    assert text_hash(["a", None]) != text_hash(["a", ""])
    assert text_hash(["a", "b"]) != text_hash(["b", "a"])
    assert text_hash(["ab", "c"]) != text_hash(["a", "bc"])
    assert text_hash(["a", None]) == text_hash(["a", None])


def test_real_beauty_texts_cover_every_item():
    data = load_dataset("amazon-beauty", {"max_users": 300})
    texts = render_texts(data.items, default_template(data.text_fields))
    assert len(texts) == data.interactions.n_items and all(texts)
    first = data.items.iloc[0]
    assert texts[0].startswith(first["title_keywords"]) and first["brand"] in texts[0]


def test_item_inputs_slice_keeps_rows_and_features_aligned():
    feat = Feature("image", np.arange(12, dtype=np.float32).reshape(6, 2), np.array([1, 1, 0, 1, 1, 1], bool))
    inputs = ItemInputs(np.array(["a", "b", "c", "d", "e", "f"]), {"v": feat}, "toy")
    part = inputs[2:5]
    assert len(part) == 3 and part[0] == "c" and part.n_items == 6
    assert part.rows.tolist() == [2, 3, 4]
    np.testing.assert_array_equal(part.features["v"].values, feat.values[2:5])
    assert part.features["v"].available.tolist() == [False, True, True]
