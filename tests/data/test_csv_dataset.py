"""Bring-your-own CSV: a real Amazon-format file loads with only a recipe; every bad input is one clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmbench.data.amazon_beauty import embedded_dir
from mmbench.data.load import load_dataset
from mmbench.errors import DataError
from mmbench.recipe.load import load_recipe
from mmbench.results.store import load_records
from mmbench.runner.run import run_recipe


@pytest.fixture(scope="module")
def amazon_csv(tmp_path_factory) -> tuple:
    """The real Beauty 5-core written the way Amazon's review dumps name things: reviewerID, asin, unixReviewTime."""
    d = embedded_dir()
    inter = pd.read_csv(d / "interactions.csv.gz")
    users = pd.read_csv(d / "users.csv")
    items = pd.read_csv(d / "items.csv", dtype=str, keep_default_na=False)
    df = inter.merge(users, on="user_id").merge(items.assign(item_id=items.item_id.astype(int)), on="item_id")
    df = df.sample(frac=1.0, random_state=0).head(15_000)  # row order scrambled, a realistic partial dump
    folder = tmp_path_factory.mktemp("amazon")
    path = folder / "reviews_Beauty.csv"
    df.rename(columns={"reviewer_id": "reviewerID", "timestamp": "unixReviewTime"})[
        ["reviewerID", "asin", "unixReviewTime"]].to_csv(path, index=False)
    items_path = folder / "meta_Beauty.csv"
    items[["asin", "title_keywords", "brand", "categories"]].to_csv(items_path, index=False)
    return path, items_path


def test_amazon_format_csv_counts_equal_pandas(amazon_csv, tmp_path):
    path, items_path = amazon_csv
    recipe = tmp_path / "byo.yaml"
    recipe.write_text(f"""\
schema_version: 1
name: byo
dataset:
  name: csv
  split: loo-time
  params: {{path: "{path}", user_col: reviewerID, item_col: asin, timestamp_col: unixReviewTime,
            items: "{items_path}", text_cols: [title_keywords, brand, categories]}}
student: {{name: mf, params: {{dim: 8}}}}
baselines: [{{name: pop}}]
train: {{epochs: 1}}
eval: {{ks: [10]}}
seeds: [0]
""")
    paths = run_recipe(load_recipe(recipe), results_dir=tmp_path / "res", log=lambda _: None)
    card = load_records(tmp_path / "res")[0].dataset.card
    df = pd.read_csv(path)
    assert (card["users"], card["items"], card["interactions"]) == (
        df.reviewerID.nunique(), df.asin.nunique(), len(df.drop_duplicates(["reviewerID", "asin"])))
    assert card["split"]["test"] == df.groupby("reviewerID").size().ge(2).sum()
    assert card["modalities"]["text"]["rate"] == 1.0 and card["item_table"]["rows_without_interactions"] > 0
    assert len(paths) == 1


def test_header_less_file_with_column_names_and_given_split(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_text("7\t100\t4.0\ttrain\n7\t101\t2.0\ttest\n8\t100\t5.0\tvalid\n")
    data = load_dataset("csv", {"path": str(path), "header": False,
                                "columns": ["user_id", "item_id", "stars", "part"],
                                "rating_col": "stars", "split_col": "part", "min_rating": 3})
    assert len(data.interactions) == 2 and data.interactions.given_split.tolist() == [0, 1]
    assert data.card["filters"][0] == {"step": "min_rating", "rule": "rating >= 3.0", "removed_interactions": 1,
                                       "removed_users": 0, "removed_items": 1}
    assert list(data.interactions.user_ids) == ["7", "8"]  # ids stay strings: "007" and "7" never merge


def test_features_by_item_table_row_with_modality_names(tmp_path):
    (tmp_path / "i.csv").write_text("user_id,item_id\nu,a\nu,b\nv,b\n")
    (tmp_path / "items.csv").write_text("item_id,title,img\nb,Bee,b.jpg\na,Ay,\n")
    np.save(tmp_path / "clip.npy", np.array([[2.0, 2.0], [1.0, 1.0]], np.float32))
    np.save(tmp_path / "a.npy", np.array([[5.0], [6.0]], np.float32))
    data = load_dataset("csv", {"path": str(tmp_path / "i.csv"), "items": str(tmp_path / "items.csv"),
                                "text_cols": ["title"], "image_col": "img",
                                "features": {"image-clip": str(tmp_path / "clip.npy"),
                                             "sound": {"path": str(tmp_path / "a.npy"), "modality": "audio"}}})
    assert data.features["image-clip"].modality == "image" and data.features["sound"].modality == "audio"
    assert data.features["image-clip"].values.tolist() == [[1.0, 1.0], [2.0, 2.0]]  # items a, b
    assert data.modalities["image"].tolist() == [True, True]          # a has a feature row, b a path too
    assert data.card["modalities"]["feature:sound"]["modality"] == "audio"


def test_errors_name_the_file_the_problem_and_the_fix(tmp_path):
    path = tmp_path / "i.csv"
    path.write_text("user,item,when\nu,a,yesterday\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['user_id', 'item_id'\]; found \['user', 'item', 'when'\]; "
                                         r"fix: set user_col"):
        load_dataset("csv", {"path": str(path)})
    with pytest.raises(DataError, match="column 'when' has non-numeric timestamps"):
        load_dataset("csv", {"path": str(path), "user_col": "user", "item_col": "item", "timestamp_col": "when"})
    with pytest.raises(DataError, match=r"nope.csv: file not found; fix: check dataset.params.path"):
        load_dataset("csv", {"path": str(tmp_path / "nope.csv")})
    with pytest.raises(DataError, match="header=false needs `columns`"):
        load_dataset("csv", {"path": str(path), "header": False})
    with pytest.raises(DataError, match="need an item table; fix: set `items`"):
        load_dataset("csv", {"path": str(path), "text_cols": ["title"]})
    with pytest.raises(DataError, match=r"bad params .*params.pth: unknown parameter .*did you mean 'path'"):
        load_dataset("csv", {"pth": "x.csv"})


def test_feature_rows_must_match_the_item_table(tmp_path):
    (tmp_path / "i.csv").write_text("user_id,item_id\nu,a\n")
    (tmp_path / "items.csv").write_text("item_id\na\nb\nc\n")
    np.save(tmp_path / "f.npy", np.zeros((2, 4), np.float32))
    with pytest.raises(DataError, match=r"f.npy: 2 feature rows but the item table .*items.csv has 3 rows; fix: save "
                                         r"one row per item-table row"):
        load_dataset("csv", {"path": str(tmp_path / "i.csv"), "items": str(tmp_path / "items.csv"),
                             "features": {"image": str(tmp_path / "f.npy")}})
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="not a readable .npy array without pickle"):
        load_dataset("csv", {"path": str(tmp_path / "i.csv"), "items": str(tmp_path / "items.csv"),
                             "features": {"image": str(tmp_path / "obj.npy")}})
