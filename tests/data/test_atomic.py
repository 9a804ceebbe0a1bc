"""RecBole atomic files: fixtures written from the embedded real datasets, checked against pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmbench.data import atomic  # noqa: F401  registers "atomic"
from mmbench.data.amazon_beauty import embedded_dir
from mmbench.data.atomic import read_atomic, read_header
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.errors import DataError

ITEM_HEADER = ["item_id:token", "asin:token", "brand:token", "title_keywords:token_seq", "categories:token_seq",
               "n_categories:float", "attribute_ids:float_seq"]


def write_atomic(path: Path, header: list[str], df: pd.DataFrame) -> Path:
    """Atomic files are plain tab-joined text (no quoting), exactly as RecBole's converters write them."""
    rows = df.astype(object).where(df.notna(), "").astype(str).itertuples(index=False, name=None)
    path.write_text("\n".join(["\t".join(header), *("\t".join(r) for r in rows)]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def beauty_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    inter = pd.read_csv(embedded_dir() / "interactions.csv.gz")
    inter = inter[inter.user_id <= 2000].reset_index(drop=True)
    items = pd.read_csv(embedded_dir() / "items.csv", keep_default_na=False, na_values=[""], dtype={"asin": str})
    items["n_categories"] = items.categories.str.count(r"\|") + 1.0
    items = items[["item_id", "asin", "brand", "title_keywords", "categories", "n_categories", "attribute_ids"]]
    return inter, items


@pytest.fixture(scope="module")
def beauty_dir(tmp_path_factory, beauty_frames) -> Path:
    inter, items = beauty_frames
    folder = tmp_path_factory.mktemp("atomic") / "beauty"
    folder.mkdir()
    write_atomic(folder / "beauty.inter", ["user_id:token", "item_id:token", "timestamp:float"], inter)
    write_atomic(folder / "beauty.item", ITEM_HEADER, items)
    return folder


@pytest.fixture(scope="module")
def lastfm_dir(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("atomic-lastfm")
    inter = pd.read_csv(embedded_dir("lastfm") / "interactions.csv.gz")
    inter["x_label"] = inter.split.map({"train": 0, "valid": 1, "test": 2})
    write_atomic(folder / "lfm.inter", ["user_id:token", "item_id:token", "listen_count:float", "x_label:token"],
                 inter[["user_id", "item_id", "listen_count", "x_label"]])
    items = pd.read_csv(embedded_dir("lastfm") / "items.csv.gz", keep_default_na=False)
    write_atomic(folder / "lfm.item", ["item_id:token", "artist_id:token", "name:token_seq", "tags:token_seq"], items)
    return folder, inter


def test_counts_rows_and_timestamps_match_pandas(beauty_dir, beauty_frames):
    inter, items = beauty_frames
    data = load_dataset("atomic", {"path": str(beauty_dir)})  # name defaults to the folder's: beauty
    expect = inter.drop_duplicates(["user_id", "item_id"])
    assert (data.card["users"], data.card["items"], data.card["interactions"]) == (
        expect.user_id.nunique(), expect.item_id.nunique(), len(expect))
    got = data.interactions
    assert got.user_ids.dtype == np.int64 and np.array_equal(got.user_ids, np.sort(expect.user_id.unique()))
    assert np.array_equal(got.user_ids[got.user], expect.user_id)
    assert np.array_equal(got.item_ids[got.item], expect.item_id)
    assert np.array_equal(got.timestamp, expect.timestamp)
    assert data.card["item_table"]["rows_without_interactions"] == len(items) - expect.item_id.nunique()


def test_field_types_are_parsed(beauty_dir, beauty_frames):
    _, items = beauty_frames
    assert read_header(beauty_dir / "beauty.item") == dict(h.split(":") for h in ITEM_HEADER)
    table, types = read_atomic(beauty_dir / "beauty.item")
    assert types["n_categories"] == "float" and table.n_categories.dtype == np.float64
    assert np.array_equal(table.n_categories, items.n_categories)
    # token, token_seq and float_seq stay text, exactly as written
    assert table.attribute_ids.tolist() == items.attribute_ids.tolist()
    assert table.item_id.tolist() == items.item_id.astype(str).tolist() and table.asin.tolist() == items.asin.tolist()
    assert table.brand.isna().sum() == items.brand.isna().sum() > 0


def test_text_fields_default_and_explicit(beauty_dir, beauty_frames):
    inter, items = beauty_frames
    data = load_dataset("atomic", {"path": str(beauty_dir)})
    assert data.text_fields == ("asin", "brand", "title_keywords", "categories")  # token/token_seq but the id
    data = load_dataset("atomic", {"path": str(beauty_dir), "text_fields": ["brand"]})
    used = items[items.item_id.isin(inter.item_id)]
    assert data.card["modalities"]["text"]["rate"] == round(float(used.brand.notna().mean()), 6)
    assert data.card["modalities"]["text"]["available"] == int(used.brand.notna().sum())


def test_iso_timestamps_parse_like_unix_seconds(tmp_path, beauty_frames):
    inter = beauty_frames[0].head(500).copy()
    inter["timestamp"] = pd.to_datetime(inter.timestamp, unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")
    write_atomic(tmp_path / "iso.inter", ["user_id:token", "item_id:token", "timestamp:token"], inter)
    data = load_dataset("atomic", {"path": str(tmp_path), "name": "iso"}, use_cache=False)
    assert np.array_equal(data.interactions.timestamp, beauty_frames[0].head(500).timestamp)


def test_split_field_rating_field_and_min_rating(lastfm_dir):
    folder, inter = lastfm_dir
    params = {"path": str(folder), "name": "lfm", "split_field": "x_label", "rating_field": "listen_count"}
    data = load_dataset("atomic", params)
    split = make_split("given", data.interactions)
    assert (len(split.train), len(split.valid), len(split.test)) == (44327, 4799, 7219)
    assert data.card["columns"] == {"timestamp": False, "rating": True, "weight": False, "split": True}
    assert np.array_equal(data.interactions.rating, inter.listen_count.to_numpy(np.float32))
    assert '"Weird Al" Yankovic' in data.items.name.tolist()  # no CSV quoting in atomic files
    kept = inter[inter.listen_count >= 1000]
    data = load_dataset("atomic", {**params, "min_rating": 1000})
    assert (data.card["users"], data.card["items"], data.card["interactions"]) == (
        kept.user_id.nunique(), kept.item_id.nunique(), len(kept))


@pytest.fixture
def small(tmp_path, beauty_frames) -> Path:
    inter, items = beauty_frames
    inter = inter.head(300)
    write_atomic(tmp_path / "s.inter", ["user_id:token", "item_id:token", "timestamp:float"], inter)
    write_atomic(tmp_path / "s.item", ITEM_HEADER, items[items.item_id.isin(inter.item_id)])
    return tmp_path


def one_line_error(params: dict, match: str) -> str:
    with pytest.raises(DataError, match=match) as exc:
        load_dataset("atomic", params, use_cache=False)
    msg = str(exc.value)
    assert "\n" not in msg and "fix:" in msg, msg
    return msg


def test_missing_folder_and_file(tmp_path, small):
    one_line_error({"path": str(tmp_path / "nope")}, "folder not found")
    msg = one_line_error({"path": str(small), "name": "t"}, r"t\.inter: file not found")
    assert "['s.inter']" in msg
    with pytest.raises(DataError, match="required parameter"):
        load_dataset("atomic", {})


@pytest.mark.parametrize("param, value", [("user_field", "uid"), ("item_field", "iid"), ("time_field", "ts"),
                                          ("rating_field", "stars"), ("split_field", "x_label")])
def test_missing_field_lists_the_fields(small, param, value):
    msg = one_line_error({"path": str(small), "name": "s", param: value}, f"no field '{value}'")
    assert "['user_id', 'item_id', 'timestamp']" in msg and param in msg


def test_default_field_names_are_optional(small):
    data = load_dataset("atomic", {"path": str(small), "name": "s"}, use_cache=False)  # no 'rating' field
    assert data.interactions.rating is None and data.interactions.timestamp is not None
    data = load_dataset("atomic", {"path": str(small), "name": "s", "time_field": None}, use_cache=False)
    assert data.interactions.timestamp is None


def test_bad_header_values_and_types(small):
    lines = (small / "s.inter").read_text().splitlines()
    (small / "s.inter").write_text("\n".join(["user_id:token\titem_id\ttimestamp:float", *lines[1:]]) + "\n")
    one_line_error({"path": str(small), "name": "s"}, r"header column 'item_id' has no ':type'")
    (small / "s.inter").write_text("\n".join(["user_id:token\titem_id:id\ttimestamp:float", *lines[1:]]) + "\n")
    one_line_error({"path": str(small), "name": "s"}, r"field 'item_id' has unknown type 'id'")
    bad_ts = [lines[0], *lines[1:5], "\t".join([*lines[5].split("\t")[:2], "yesterday"])]
    (small / "s.inter").write_text("\n".join(bad_ts) + "\n")
    one_line_error({"path": str(small), "name": "s"},
                   r"'timestamp' mixes numeric timestamps with text \(e.g. 'yesterday' at data row 5\)")
    words = [lines[0].replace(":float", ":token"),
             *("\t".join([*line.split("\t")[:2], "someday"]) for line in lines[1:])]
    (small / "s.inter").write_text("\n".join(words) + "\n")
    one_line_error({"path": str(small), "name": "s"}, r"'timestamp' has non-numeric timestamps that are not ISO-8601 "
                                                      r"dates \(e.g. 'someday'\)")
    lines = [line + "\t0" for line in lines]
    lines[0] = lines[0].replace("\t0", "\tx_label:token")
    lines[3] = lines[3][:-1] + "7"
    (small / "s.inter").write_text("\n".join(lines) + "\n")
    one_line_error({"path": str(small), "name": "s", "split_field": "x_label"}, r"split field 'x_label' holds \['7'\]")


def test_non_numeric_float_field(small):
    lines = (small / "s.item").read_text().splitlines()
    cells = lines[2].split("\t")
    cells[5] = "many"
    (small / "s.item").write_text("\n".join([*lines[:2], "\t".join(cells), *lines[3:]]) + "\n")
    one_line_error({"path": str(small), "name": "s"},
                   r"field 'n_categories' must be numeric but holds 'many' at data row 2")


def test_duplicate_item_rows(small):
    lines = (small / "s.item").read_text().splitlines()
    (small / "s.item").write_text("\n".join([*lines, lines[1]]) + "\n")  # an identical duplicate is harmless
    assert load_dataset("atomic", {"path": str(small), "name": "s"}, use_cache=False).card["item_table"]["rows"] \
        == len(lines) - 1
    cells = lines[1].split("\t")
    cells[2] = "Another Brand"
    (small / "s.item").write_text("\n".join([*lines, "\t".join(cells)]) + "\n")
    one_line_error({"path": str(small), "name": "s"},
                   rf"s\.item: item table has duplicate rows for item '{cells[0]}' with conflicting field\(s\) "
                   rf"\['brand'\]")


def test_text_fields_must_exist(small):
    msg = one_line_error({"path": str(small), "name": "s", "text_fields": ["title"]}, r"no field\(s\) \['title'\]")
    assert "'title_keywords'" in msg
    (small / "s.item").unlink()
    one_line_error({"path": str(small), "name": "s", "text_fields": ["title"]}, r"s\.item: file not found")
    assert load_dataset("atomic", {"path": str(small), "name": "s"}, use_cache=False).text_fields == ()


PARTS_HEADER = ["user_id:token", "item_id:token", "timestamp:float"]


@pytest.fixture
def bench(tmp_path, beauty_frames) -> tuple[Path, list[pd.DataFrame]]:
    """Benchmark files with RecBole-style custom suffixes; 'va' sorts after 'te', so file order must come
    from benchmark_filename, not from the names."""
    inter = beauty_frames[0].head(600)
    parts = [inter.iloc[:400], inter.iloc[400:500], inter.iloc[500:]]
    for suffix, part in zip(("tr", "va", "te"), parts):
        write_atomic(tmp_path / f"b.{suffix}.inter", PARTS_HEADER, part)
    return tmp_path, parts


def test_benchmark_files_are_the_given_split(bench):
    folder, parts = bench
    params = {"path": str(folder), "name": "b", "benchmark_filename": ["tr", "va", "te"]}
    data = load_dataset("atomic", params, use_cache=False)
    split = make_split("given", data.interactions)
    got = data.interactions
    for pairs, want in zip((split.train, split.valid, split.test), parts):
        assert np.array_equal(got.user_ids[pairs.user], want.user_id)  # the rows of that file, in its order
        assert np.array_equal(got.item_ids[pairs.item], want.item_id)
    assert np.array_equal(got.timestamp, pd.concat(parts).timestamp)
    from mmbench.kinds import DATASETS

    sources = DATASETS.get("atomic")(**params).sources()  # they key the processed cache
    assert sources == [folder / "b.tr.inter", folder / "b.va.inter", folder / "b.te.inter"]


def test_benchmark_files_key_the_cache_each(bench):
    folder, parts = bench
    params = {"path": str(folder), "name": "b", "benchmark_filename": ["tr", "va", "te"]}
    assert load_dataset("atomic", params).card["interactions"] == 600
    write_atomic(folder / "b.te.inter", PARTS_HEADER, parts[2].iloc[:-10])  # only the last file changes
    data = load_dataset("atomic", params)
    assert data.card["interactions"] == 590 and len(make_split("given", data.interactions).test) == 90


def test_benchmark_ids_are_typed_over_all_parts(bench):
    folder, parts = bench
    test = parts[2].astype({"item_id": str})
    test.iloc[0, test.columns.get_loc("item_id")] = "B00X"  # one non-integer token, in the last part only
    test.iloc[1, test.columns.get_loc("item_id")] = str(parts[0].item_id.iloc[0])  # an item of train too
    write_atomic(folder / "b.te.inter", PARTS_HEADER, test)
    data = load_dataset("atomic", {"path": str(folder), "name": "b", "benchmark_filename": ["tr", "va", "te"]},
                        use_cache=False)
    item_ids = data.interactions.item_ids
    assert all(isinstance(i, str) for i in item_ids) and "B00X" in item_ids  # one id type, not 7 and '7'
    want = pd.concat([parts[0].item_id.astype(str), parts[1].item_id.astype(str), test.item_id])
    assert data.card["items"] == want.nunique() and data.card["interactions"] == 600


def test_benchmark_filename_errors(bench):
    folder, parts = bench
    base = {"path": str(folder), "name": "b"}
    msg = one_line_error({**base, "benchmark_filename": ["tr", "valid", "te"]}, r"b\.valid\.inter: file not found")
    assert "['b.te.inter', 'b.tr.inter', 'b.va.inter']" in msg and "benchmark_filename" in msg
    one_line_error({**base, "benchmark_filename": ["tr", "te"]}, "benchmark_filename has 2 name")
    one_line_error({**base, "benchmark_filename": ["tr", "tr", "te"]}, "holds a name twice")
    one_line_error({**base, "benchmark_filename": ["tr", "../va", "te"]}, "path-like name '../va'")
    one_line_error({**base, "benchmark_filename": ["tr", "va", "te"], "split_field": "x_label"},
                   "benchmark_filename and split_field are both set")
    write_atomic(folder / "b.va.inter", ["user_id:token", "item_id:token", "timestamp:token"], parts[1])
    one_line_error({**base, "benchmark_filename": ["tr", "va", "te"]},
                   r"b\.va\.inter: header 'user_id:token\\titem_id:token\\ttimestamp:token' differs from "
                   r"b\.tr\.inter's")
    write_atomic(folder / "b.va.inter", PARTS_HEADER, parts[1].assign(user_id=[1] * 50 + [None] * 50))
    one_line_error({**base, "benchmark_filename": ["tr", "va", "te"]},
                   r"b\.va\.inter: field 'user_id' is empty at data row 51")
