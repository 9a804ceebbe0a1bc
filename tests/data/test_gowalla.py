"""The embedded Gowalla (LightGCN paper split): counts, shipped bytes, the given test part, the seeded valid carve."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mmbench.data import gowalla  # registers "gowalla"
from mmbench.data.amazon_beauty import embedded_dir
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.errors import DataError

from _provenance import assert_ships_exactly

FOLDER = embedded_dir("gowalla")
SHIPPED = {"PROVENANCE.md", "train.txt.gz", "test.txt.gz"}


def pairs_of(path) -> set[tuple[int, int]]:
    out = set()
    for line in gzip.open(path, "rt"):
        u, *items = map(int, line.split())
        out.update((u, i) for i in items)
    return out


@pytest.fixture(scope="module")
def data():
    return load_dataset("gowalla")


@pytest.fixture(scope="module")
def split(data):
    return make_split("given", data.interactions)


def test_counts_match_provenance_and_ids_are_the_released_ones(data, split):
    assert (data.card["users"], data.card["items"], data.card["interactions"]) == (29858, 40981, 1027370)
    assert (len(split.train), len(split.valid), len(split.test)) == (780270, 29858, 217242)
    assert split.card["users_in_valid"] == split.card["users_in_test"] == 29858
    assert data.card["split_note"] == ("given train/test (LightGCN paper); valid = 1 seeded random train pair(s) per "
                                       "user (valid_seed 0)")
    # every raw id is present, so dense ids are the released ids and results line up with the papers' files
    assert np.array_equal(data.interactions.user_ids.astype(np.int64), np.arange(29858))
    assert np.array_equal(data.interactions.item_ids.astype(np.int64), np.arange(40981))


def test_test_part_is_exactly_the_released_test_file_and_valid_comes_from_train(data, split):
    ids_u, ids_i = data.interactions.user_ids.astype(np.int64), data.interactions.item_ids.astype(np.int64)
    test = set(zip(ids_u[split.test.user].tolist(), ids_i[split.test.item].tolist()))
    assert test == pairs_of(FOLDER / "test.txt.gz")
    train = set(zip(ids_u[split.train.user].tolist(), ids_i[split.train.item].tolist()))
    valid = set(zip(ids_u[split.valid.user].tolist(), ids_i[split.valid.item].tolist()))
    assert not train & valid and train | valid == pairs_of(FOLDER / "train.txt.gz")
    assert np.array_equal(np.bincount(split.valid.user, minlength=29858), np.ones(29858, np.int64))


def test_valid_carve_is_seeded_and_its_params_change_it(split):
    again = make_split("given", load_dataset("gowalla", use_cache=False).interactions)
    assert np.array_equal(again.valid.item, split.valid.item)
    other = make_split("given", load_dataset("gowalla", {"valid_seed": 1}, use_cache=False).interactions)
    assert np.array_equal(other.valid.user, split.valid.user)  # one per user either way
    assert 0 < np.mean(other.valid.item != split.valid.item)  # but different items
    two = make_split("given", load_dataset("gowalla", {"valid_per_user": 2}, use_cache=False).interactions)
    assert len(two.valid) == 2 * 29858 and len(two.test) == 217242


def test_carve_keeps_a_train_pair_for_every_user():
    user = np.array([0, 0, 1, 2, 2, 2, 2])
    for seed in range(5):
        mask = gowalla.carve_valid(user, 1, seed)
        assert mask.tolist()[2] is False  # user 1 has one pair: it stays in train
        assert np.bincount(user[mask], minlength=3).tolist() == [1, 0, 1]
    assert np.bincount(user[gowalla.carve_valid(user, 3, 0)], minlength=3).tolist() == [0, 0, 3]
    assert not gowalla.carve_valid(user, 4, 0).any()


def test_shipped_files_are_exactly_the_listed_ones_with_provenance_blob_shas():
    assert_ships_exactly(FOLDER, SHIPPED)


def write(path, text: str) -> None:
    with gzip.open(path, "wt") as fh:
        fh.write(text)


@pytest.mark.parametrize("train, test, problem", [
    ("0 1 2 3\n1 2 x\n", "0 4\n1 5\n", "line 2 holds 'x', not a non-negative integer id"),
    ("0 1 2 3\n0 4 5\n", "0 6\n", "user 0 is listed twice (line 2)"),
    ("0 1 2 3\n1 2 3 4\n", "0 3\n1 5\n", "1 (user, item) pairs are in train too (e.g. user 0, item 3)"),
    ("", "0 1\n", "no user lines"),
])
def test_bad_files_are_one_line_errors(tmp_path, monkeypatch, train, test, problem):
    write(tmp_path / "train.txt.gz", train)
    write(tmp_path / "test.txt.gz", test)
    monkeypatch.setattr(gowalla, "embedded_dir", lambda folder: tmp_path)
    with pytest.raises(DataError) as exc:
        load_dataset("gowalla", use_cache=False)
    msg = str(exc.value)
    assert problem in msg and "fix:" in msg and "\n" not in msg


def test_truncated_gzip_is_a_data_error(tmp_path, monkeypatch):
    (tmp_path / "train.txt.gz").write_bytes((FOLDER / "train.txt.gz").read_bytes()[:5000])
    write(tmp_path / "test.txt.gz", "0 1\n")
    monkeypatch.setattr(gowalla, "embedded_dir", lambda folder: tmp_path)
    with pytest.raises(DataError, match="unreadable as a gzip/text"):
        load_dataset("gowalla", use_cache=False)


def test_valid_per_user_below_one_is_refused():
    with pytest.raises(DataError, match="valid_per_user must be ≥ 1"):
        load_dataset("gowalla", {"valid_per_user": 0}, use_cache=False)
