"""Reading an export folder: each way a folder can be incomplete, corrupt or of another version is one error that
names the file and the fix."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from mmbench.errors import ExportFormatError
from mmbench.serve import load_export

from _exports import rehash


def test_a_good_folder_reads_back(toy):
    data = load_export(toy)
    assert data.users.shape == (5, 4) and data.item_ids[6] == "i6"
    assert data.seen_items[data.seen_indptr[3]:data.seen_indptr[4]].tolist() == [1, 2, 4, 5]


def test_a_table_whose_rows_do_not_match_the_id_map(toy):
    data = load_export(toy)
    save_file({"users": data.users, "items": data.items[:-1]}, str(toy / "tables.safetensors"))
    rehash(toy)  # consistent hashes: the shape check itself must catch it
    with pytest.raises(ExportFormatError, match="the items table has 6 rows but ids.json maps 7 items"):
        load_export(toy)


def test_another_format_version(toy):
    manifest = json.loads((toy / "manifest.json").read_text())
    (toy / "manifest.json").write_text(json.dumps({**manifest, "format_version": 2, "mmbench_version": "9.0"}))
    with pytest.raises(ExportFormatError, match=r"export format version 2, but this mmbench reads version 1; "
                                                r"fix: .* mmbench 9.0 that wrote it"):
        load_export(toy)


def test_a_changed_file_and_a_missing_one(toy):
    ids = json.loads((toy / "ids.json").read_text())
    ids["users"][0] = "someone-else"
    (toy / "ids.json").write_text(json.dumps(ids))
    with pytest.raises(ExportFormatError, match="ids.json does not match the sha256 in manifest.json"):
        load_export(toy)
    assert load_export(toy, verify=False).user_ids[0] == "someone-else"
    (toy / "seen.safetensors").unlink()
    with pytest.raises(ExportFormatError, match="seen.safetensors is missing"):
        load_export(toy, verify=False)


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "manifest.json").unlink(), "manifest.json is missing"),
    (lambda f: (f / "manifest.json").write_text("{"), "manifest.json is unreadable"),
    (lambda f: (f / "manifest.json").write_text('{"format": "other"}'), "does not describe an mmbench-export"),
    (lambda f: (f / "tables.safetensors").write_bytes(b"xx"), "tables.safetensors is unreadable"),
    (lambda f: save_file({"users": np.ones((5, 4), np.float32), "items": np.full((7, 4), np.nan, np.float32)},
                         str(f / "tables.safetensors")), "a table holds NaN or inf"),
    (lambda f: save_file({"users": np.ones((5, 4)), "items": np.ones((7, 4))}, str(f / "tables.safetensors")),
     "tables must be float32"),
    (lambda f: save_file({"users": np.ones((5, 3), np.float32), "items": np.ones((7, 4), np.float32)},
                         str(f / "tables.safetensors")), "must be \\[n, d\\] with one d"),
    (lambda f: save_file({"indptr": np.array([0, 1, 1, 1, 1], np.int64), "items": np.array([0], np.int64)},
                         str(f / "seen.safetensors")), "indptr must hold 6 non-decreasing offsets"),
    (lambda f: save_file({"indptr": np.array([0, 1, 1, 1, 1, 1], np.int64), "items": np.array([9], np.int64)},
                         str(f / "seen.safetensors")), "an item index lies outside 0..6"),
    (lambda f: (f / "ids.json").write_text(json.dumps({"users": ["a"] * 5, "items": [f"i{i}" for i in range(7)]})),
     "'users' repeats an id"),
])
def test_corrupt_files(toy, damage, message):
    damage(toy)
    if (toy / "manifest.json").exists() and '"files"' in (toy / "manifest.json").read_text():
        rehash(toy)
    with pytest.raises(ExportFormatError, match=message):
        load_export(toy)


def test_not_a_folder(tmp_path):
    with pytest.raises(ExportFormatError, match="no such export folder"):
        load_export(tmp_path / "nothing")
