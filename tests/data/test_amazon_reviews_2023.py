"""The amazon-reviews-2023 dataset: local JSONL, the real HF `datasets` code path (seam patched), errors."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mmbench.data.amazon_reviews_2023 as ar  # registers the dataset (the built-in list may not yet)
from mmbench.data.amazon2023_fixture import write_fixture
from mmbench.data.amazon_beauty import embedded_dir
from mmbench.data.load import load_dataset
from mmbench.errors import DataError

NAME = "amazon-reviews-2023"
SHA = "0123456789abcdef0123456789abcdef01234567"


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ar2023")
    write_fixture(folder, "All_Beauty", n_users=1500)
    return folder


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ar2023-small")
    write_fixture(folder, "All_Beauty", n_users=150)
    return folder


@pytest.fixture
def folder(fixture_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the fixture (1,500 users, enough for a 5-core) that a test may edit."""
    shutil.copytree(fixture_dir, tmp_path / "d")
    return tmp_path / "d"


@pytest.fixture
def small(small_dir: Path, tmp_path: Path) -> Path:
    """A private copy of a 150-user fixture, for tests that need no k-core."""
    shutil.copytree(small_dir, tmp_path / "s")
    return tmp_path / "s"


def _load(folder: Path, **params) -> object:
    return load_dataset(NAME, {"category": "All_Beauty", "local_dir": str(folder), **params}, use_cache=False)


def _unix(date: str) -> int:
    return int(datetime.fromisoformat(date).replace(tzinfo=timezone.utc).timestamp())


def _expected(reviews: list[dict], k: int, min_rating: float | None = None, start: str | None = None,
              end: str | None = None) -> set[tuple[str, str]]:
    """(user, item) pairs after filters and iterative k-core, computed independently of mmbench."""
    lo, hi = (_unix(start) if start else -np.inf), (_unix(end) if end else np.inf)
    pairs = {(r["user_id"], r["parent_asin"]) for r in reviews
             if (min_rating is None or r["rating"] >= min_rating) and lo <= r["timestamp"] // 1000 < hi}
    while k > 1:
        uc, ic = Counter(u for u, _ in pairs), Counter(i for _, i in pairs)
        kept = {(u, i) for u, i in pairs if uc[u] >= k and ic[i] >= k}
        if kept == pairs:
            break
        pairs = kept
    return pairs


def _pairs(data) -> set[tuple[str, str]]:
    inter = data.interactions
    return set(zip(inter.user_ids[inter.user].tolist(), inter.item_ids[inter.item].tolist()))


def test_fixture_is_real_data_in_the_hf_schema(fixture_dir):
    reviews, meta = _read(fixture_dir / "All_Beauty.jsonl"), _read(fixture_dir / "meta_All_Beauty.jsonl")
    assert set(reviews[0]) == {"rating", "title", "text", "images", "asin", "parent_asin", "user_id", "timestamp",
                               "helpful_vote", "verified_purchase"}
    assert set(meta[0]) == {"main_category", "title", "average_rating", "rating_number", "features", "description",
                            "price", "images", "videos", "store", "categories", "details", "parent_asin",
                            "bought_together"}
    first = pd.read_csv(embedded_dir() / "users.csv").reviewer_id.iloc[0]
    assert reviews[0]["user_id"] == first and reviews[0]["parent_asin"] == "B004756YJA"
    assert reviews[0]["timestamp"] == 1318896000 * 1000
    assert meta[0]["store"] == "OPI" and meta[0]["categories"] == ["Makeup", "Nails", "Nail Polish"]


@pytest.mark.parametrize("k", [0, 5])
def test_local_load_matches_an_independent_count(folder, k):
    data = _load(folder, k_core=k)
    want = _expected(_read(folder / "All_Beauty.jsonl"), k)
    assert _pairs(data) == want
    assert (data.card["users"], data.card["items"], data.card["interactions"]) == (
        len({u for u, _ in want}), len({i for _, i in want}), len(want))
    assert data.card["raw"]["interactions"] == len(_read(folder / "All_Beauty.jsonl"))
    assert [s["step"] for s in data.card["filters"]] == ["dedupe"] + (["k_core"] if k else [])
    assert data.interactions.rating.dtype == np.float32
    assert data.items.item.tolist() == data.interactions.item_ids.tolist()


def test_rating_and_date_filters_change_counts_and_are_recorded(folder):
    path = folder / "All_Beauty.jsonl"
    reviews = _read(path)
    for n, r in enumerate(reviews):
        r["rating"] = [1.0, 3.0, 4.0, 5.0][n % 4]
    _write(path, reviews)
    data = _load(folder, k_core=2, min_rating=4.0, start="2012-01-01", end="2014-01-01")
    want = _expected(reviews, 2, 4.0, "2012-01-01", "2014-01-01")
    assert _pairs(data) == want and len(want) > 100
    steps = {s["step"]: s for s in data.card["filters"]}
    assert list(steps) == ["min_rating", "date_range", "dedupe", "k_core"]
    assert steps["min_rating"]["rule"] == "rating >= 4.0"
    assert steps["min_rating"]["removed_interactions"] == sum(r["rating"] < 4.0 for r in reviews)
    assert steps["date_range"]["rule"] == "2012-01-01 <= time < 2014-01-01"
    assert data.interactions.rating.min() >= 4.0
    ts = data.interactions.timestamp
    assert ts.min() >= _unix("2012-01-01") and ts.max() < _unix("2014-01-01")


def test_ms_timestamps_order_rows_then_become_seconds(small):
    data = _load(small, k_core=0)
    inter = data.interactions
    # the fixture's ms offsets make the per-user order equal to the 2014 file order (ties at day granularity)
    src = pd.read_csv(embedded_dir() / "interactions.csv.gz")
    src = src[src.user_id == 1]
    asins = pd.read_csv(embedded_dir() / "items.csv", dtype={"asin": str}).set_index("item_id").asin
    first_user = _read(small / "All_Beauty.jsonl")[0]["user_id"]
    rows = inter.user == np.flatnonzero(inter.user_ids == first_user)[0]
    assert inter.item_ids[inter.item[rows]].tolist() == asins[src.item_id].tolist()
    assert inter.timestamp[rows].tolist() == src.timestamp.tolist()
    # a later millisecond in an earlier file row comes later; the file order only breaks exact ties
    tied = [(f"t{n:02d}", 1_000_500) for n in range(40)]  # exact ms ties keep file order (stable sort)
    recs = [{"user_id": "u", "parent_asin": p, "timestamp": t, "rating": 5.0}
            for p, t in [("a", 1_000_999), *tied[:20], ("b", 1_000_001), ("c", 1_000_001), *tied[20:], ("d", 999_999)]]
    _write(small / "All_Beauty.jsonl", recs)
    tiny = _load(small, k_core=0).interactions
    assert tiny.item_ids[tiny.item].tolist() == ["d", "b", "c", *(p for p, _ in tied), "a"]
    assert tiny.timestamp.tolist() == [999] + [1000] * 43


def test_numeric_looking_ids_stay_strings(small):
    recs = [{"user_id": u, "parent_asin": i, "timestamp": 1_000_000 + n, "rating": 4}
            for n, (u, i) in enumerate([("007", "0972683275"), ("007", "0123"), ("100", "0123")])]
    _write(small / "All_Beauty.jsonl", recs)
    inter = _load(small, k_core=0).interactions
    assert inter.user_ids.tolist() == ["007", "100"] and inter.item_ids.tolist() == ["0123", "0972683275"]
    assert inter.rating.tolist() == [4.0, 4.0, 4.0]


def test_best_image_prefers_main_and_the_largest_size():
    thumb, large, hi = "https://m/t.jpg", "https://m/l.jpg", "https://m/h.jpg"
    other = {"variant": "PT01", "thumb": "o/t", "large": "o/l", "hi_res": "o/h"}
    assert ar.best_image([other, {"variant": "MAIN", "thumb": thumb, "large": large, "hi_res": hi}]) == hi
    assert ar.best_image([other, {"variant": "MAIN", "thumb": thumb, "large": large, "hi_res": None}]) == large
    assert ar.best_image([{"variant": "MAIN", "thumb": thumb, "large": None, "hi_res": ""}]) == thumb
    assert ar.best_image([other, {"variant": "PT02", "large": large}]) == "o/h"
    assert ar.best_image([{"variant": "MAIN", "thumb": None}, {"variant": "PT02", "large": large}]) == large
    assert ar.best_image({"variant": ["PT01", "MAIN"], "thumb": ["o/t", thumb], "large": ["o/l", large],
                          "hi_res": [None, None]}) == large
    assert ar.best_image(np.array([{"variant": "MAIN", "thumb": thumb}], dtype=object)) == thumb
    assert ar.best_image([]) is None and ar.best_image({"thumb": []}) is None and ar.best_image(None) is None


def _edit_meta(folder: Path) -> list[dict]:
    """Give the first item images and list-valued text; return the edited records."""
    path = folder / "meta_All_Beauty.jsonl"
    meta = _read(path)
    meta[0].update(description=["Long lasting.", "Chip resistant."], features=["15 ml", "vegan"],
                   images=[{"thumb": "t0", "large": "l0", "variant": "PT01", "hi_res": "h0"},
                           {"thumb": "t1", "large": "l1", "variant": "MAIN", "hi_res": None}])
    meta[1]["images"] = [{"thumb": "t2", "large": None, "variant": "PT01", "hi_res": None}]
    _write(path, meta)
    return meta


def test_item_table_joins_text_and_picks_images(small):
    meta = _edit_meta(small)
    items = _load(small, k_core=0).items.set_index("item")
    first, second = items.loc[meta[0]["parent_asin"]], items.loc[meta[1]["parent_asin"]]
    assert first.description == "Long lasting. Chip resistant." and first.features == "15 ml vegan"
    assert first.categories == "Makeup, Nails, Nail Polish" and first.store == "OPI"
    assert first.title == "nail lacquer simmer and shimmer" and first.main_category is None
    assert first.image_url == "l1" and second.image_url == "t2"
    assert items.image_url.notna().sum() == 2 and items.description.notna().sum() == 1


def _patch_hub(monkeypatch, folder: Path, cache: Path, sizes: dict[str, int] | None = None) -> list[str]:
    """Route the hub seam through the real `datasets` json builder on the fixture files."""
    import datasets

    calls: list[str] = []

    def hub_load(config: str, revision: str):
        calls.append(f"{config}@{revision}")
        name = config.replace("raw_review_", "").replace("raw_meta_", "meta_") + ".jsonl"
        return datasets.load_dataset("json", data_files=str(folder / name), split="train", cache_dir=str(cache))

    monkeypatch.setattr(ar, "_hub_sha", lambda revision: SHA)
    monkeypatch.setattr(ar, "_hub_sizes", lambda paths, revision: sizes or {p: 1000 for p in paths})
    monkeypatch.setattr(ar, "_hub_load", hub_load)
    return calls


def test_datasets_code_path_gives_the_same_data_as_local_files(folder, tmp_path, monkeypatch):
    _edit_meta(folder)
    calls = _patch_hub(monkeypatch, folder, tmp_path / "hf")
    local = _load(folder, k_core=2, min_rating=1.0)
    hub = load_dataset(NAME, {"category": "All_Beauty", "k_core": 2, "min_rating": 1.0}, use_cache=False)
    assert calls == [f"raw_review_All_Beauty@{SHA}", f"raw_meta_All_Beauty@{SHA}"]
    for field in ("user", "item", "timestamp", "rating", "user_ids", "item_ids"):
        assert np.array_equal(getattr(local.interactions, field), getattr(hub.interactions, field)), field
    pd.testing.assert_frame_equal(local.items, hub.items)
    strip = lambda card: {k: v for k, v in card.items() if k != "hashes"}  # noqa: E731
    assert strip(local.card) == strip(hub.card) and hub.card["modalities"]["image"]["available"] >= 1
    assert hub.interactions.source_files == (
        f"hf://datasets/McAuley-Lab/Amazon-Reviews-2023@{SHA}/raw/review_categories/All_Beauty.jsonl",
        f"hf://datasets/McAuley-Lab/Amazon-Reviews-2023@{SHA}/raw/meta_categories/meta_All_Beauty.jsonl")


def test_a_pinned_commit_needs_no_sha_lookup_and_keys_the_cache(monkeypatch):
    def boom(revision):
        raise AssertionError("a 40-hex revision must not be resolved")

    monkeypatch.setattr(ar, "_hub_sha", boom)
    pinned = ar.AmazonReviews2023Dataset(category="Books", revision=SHA).sources()
    assert all(f"@{SHA}/" in s and "Books.jsonl" in s for s in pinned)
    monkeypatch.setattr(ar, "_hub_sha", lambda revision: "f" * 40)
    assert ar.AmazonReviews2023Dataset(category="Books").sources() != pinned


@pytest.mark.parametrize("seam", ["_hub_sha", "_hub_sizes", "_hub_load"])
@pytest.mark.parametrize("exc", ["ConnectionError", "LocalEntryNotFoundError", "OfflineModeIsEnabled", "HTTPError"])
def test_unreachable_hub_is_one_line_with_the_fix(small, tmp_path, monkeypatch, seam, exc):
    import huggingface_hub.errors as hfe

    _patch_hub(monkeypatch, small, tmp_path / "hf")
    error = ConnectionError("no route") if exc == "ConnectionError" else getattr(hfe, exc)("offline")

    def fail(*args):
        raise error

    monkeypatch.setattr(ar, seam, fail)
    with pytest.raises(DataError) as info:
        load_dataset(NAME, {"category": "Video_Games"}, use_cache=False)
    msg = str(info.value)
    assert "\n" not in msg and "McAuley-Lab/Amazon-Reviews-2023 (raw_" in msg and f"({exc})" in msg
    assert "raw/review_categories/Video_Games.jsonl" in msg and "raw/meta_categories/meta_Video_Games.jsonl" in msg
    assert "run once online" in msg and "dataset.params.local_dir" in msg


def test_missing_datasets_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(ar, "_hub_sha", lambda revision: SHA)

    def no_datasets(*args):
        raise ImportError("No module named 'datasets'")

    monkeypatch.setattr(ar, "_hub_sizes", no_datasets)
    with pytest.raises(DataError, match=r"pip install 'mmbench\[hub\]'"):
        ar.AmazonReviews2023Dataset(category="Books").load()


def test_download_size_limit_refuses_before_loading(small, tmp_path, monkeypatch):
    paths = ar.hub_paths("Books")
    calls = _patch_hub(monkeypatch, small, tmp_path / "hf", sizes={paths[0]: 21_000_000_000, paths[1]: 9_000_000_000})
    with pytest.raises(DataError, match=r"30,000 MB, over max_download_mb=20000"):
        ar.AmazonReviews2023Dataset(category="Books").load()
    assert calls == []
    monkeypatch.setattr(ar, "_hub_load", lambda config, revision: (_ for _ in ()).throw(ConnectionError("x")))
    with pytest.raises(DataError, match="hub unreachable"):  # a higher limit gets past the size check
        ar.AmazonReviews2023Dataset(category="Books", max_download_mb=40000).load()


def test_bad_params_are_refused_early():
    with pytest.raises(DataError, match=r"unknown category 'All_beauty'; did you mean 'All_Beauty'\?"):
        ar.AmazonReviews2023Dataset(category="All_beauty")
    with pytest.raises(DataError, match="category"):
        load_dataset(NAME, {})
    with pytest.raises(DataError, match="start='2020-13-01' is not an ISO date"):
        ar.AmazonReviews2023Dataset(category="Books", start="2020-13-01")
    with pytest.raises(DataError, match="remove one of them"):
        ar.AmazonReviews2023Dataset(category="Books", local_dir=".", revision="main")


def test_gzipped_files_load_and_missing_files_say_where_to_get_them(small, tmp_path):
    plain = _load(small, k_core=0)
    for name in ("All_Beauty.jsonl", "meta_All_Beauty.jsonl"):
        with open(small / name, "rb") as src, gzip.open(tmp_path / (name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    zipped = _load(tmp_path, k_core=0)
    assert _pairs(zipped) == _pairs(plain)
    (tmp_path / "meta_All_Beauty.jsonl.gz").unlink()
    with pytest.raises(DataError, match=r"meta_All_Beauty.jsonl: file not found.*download "
                                        r"raw/meta_categories/meta_All_Beauty.jsonl"):
        _load(tmp_path)


def test_missing_keys_list_what_the_file_has(small):
    meta = _read(small / "meta_All_Beauty.jsonl")
    for rec in meta:
        del rec["images"]
    _write(small / "meta_All_Beauty.jsonl", meta)
    with pytest.raises(DataError, match=r"meta_All_Beauty.jsonl: missing key\(s\) \['images'\]; found \[.*'store'"):
        _load(small)
    reviews = [{("user" if k == "user_id" else k): v for k, v in r.items()} for r in _read(small / "All_Beauty.jsonl")]
    _write(small / "All_Beauty.jsonl", reviews)
    with pytest.raises(DataError, match=r"missing key\(s\) \['user_id'\]; found \[.*'user'"):
        _load(small)


def test_corrupt_jsonl_names_the_line(small):
    path = small / "All_Beauty.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = lines[2][:40]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"All_Beauty.jsonl: unreadable as JSON Lines at line 3"):
        _load(small)
    path.write_bytes(b"")
    with pytest.raises(DataError, match="holds no records"):
        _load(small)
    path.unlink()
    (small / "All_Beauty.jsonl.gz").write_bytes(gzip.compress(b'{"user_id": "u"}\n' * 100)[:50])
    with pytest.raises(DataError, match=r"All_Beauty.jsonl.gz: unreadable as JSON Lines \(Compressed file ended"):
        _load(small)


def test_duplicate_metadata_rows_identical_pass_conflicting_raise(small):
    path = small / "meta_All_Beauty.jsonl"
    meta = _read(path)
    _write(path, meta + [meta[0]])
    assert _load(small, k_core=0).items.item.is_unique
    _write(path, meta + [{**meta[0], "store": "Not OPI"}])
    with pytest.raises(DataError, match=r"meta_All_Beauty\.jsonl: item table has duplicate rows .*conflicting field\(s\) \['store'\]"):
        _load(small, k_core=0)


def test_hub_files_datasets_cannot_parse_or_that_lack_keys_fail_clearly(small, tmp_path, monkeypatch):
    _patch_hub(monkeypatch, small, tmp_path / "hf")
    meta = _read(small / "meta_All_Beauty.jsonl")
    _write(small / "meta_All_Beauty.jsonl", [{k: v for k, v in m.items() if k != "store"} for m in meta])
    with pytest.raises(DataError, match=rf"hf://datasets/McAuley-Lab/Amazon-Reviews-2023@{SHA}/raw/meta_categories/"
                                        r"meta_All_Beauty.jsonl: missing key\(s\) \['store'\]"):
        ar.AmazonReviews2023Dataset(category="All_Beauty").load()
    path = small / "All_Beauty.jsonl"
    path.write_text(path.read_text()[:-30] + "\n")
    with pytest.raises(DataError, match=r"\(raw_review_All_Beauty\): `datasets` could not read the files "
                                        r"\(DatasetGenerationError"):
        ar.AmazonReviews2023Dataset(category="All_Beauty").load()
