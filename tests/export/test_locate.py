"""Naming the run and the model to export: a record path, or the newest record of a recipe (and seed); one model
of a role, or an error that lists the choices."""

from __future__ import annotations

import json
import shutil

import pytest

from mmbench.errors import ExportError
from mmbench.export import find_record, pick_model
from mmbench.export.locate import read_record


def test_a_record_path_or_the_newest_record_of_a_recipe(exported, tmp_path):
    results, record_path, _ = exported
    assert find_record(record_path, None, None, results).record.run_id == read_record(record_path).run_id
    # a second, newer record of the same recipe and seed: --recipe picks it and says so
    raw = json.loads(record_path.read_text())
    raw["run_id"], raw["created_at"] = raw["run_id"] + "-later", "2999-01-01T00:00:00+00:00"
    shutil.copytree(results, tmp_path / "res")
    (tmp_path / "res" / "runs" / "export-test" / "later.json").write_text(json.dumps(raw))
    found = find_record(None, "export-test", 0, tmp_path / "res")
    assert found.record.run_id.endswith("-later") and "the newest of 2 record(s)" in found.note
    assert "later.json" in found.note


@pytest.mark.parametrize("args, message", [
    ((None, None, None), "name one run"),
    (("missing.json", None, None), "no run record at missing.json"),
    ((None, "no-such-recipe", None), "no run records of recipe 'no-such-recipe'.*recorded there: export-test"),
    ((None, "export-test", 7), r"with seed 7.*recorded seeds: \[0\].*--seed 7"),
])
def test_a_run_that_cannot_be_found_is_one_clear_error(exported, args, message):
    results, _, _ = exported
    with pytest.raises(ExportError, match=message):
        find_record(*args, results)


def test_a_file_that_is_not_a_record(tmp_path, exported):
    (tmp_path / "x.json").write_text('{"run_id": 1}')
    with pytest.raises(ExportError, match="not a valid run record"):
        find_record(tmp_path / "x.json", None, None, exported[0])


def test_one_model_of_a_role(exported):
    record = read_record(exported[1])
    assert pick_model(record, "student") == 1 and pick_model(record, "teacher") == 0
    assert pick_model(record, "baseline", "mf") == 3 and pick_model(record, "baseline", index=2) == 4
    with pytest.raises(ExportError, match=r"has 3 baseline models; pick one with --component NAME or --index N: "
                                          r"index 0: #2 baseline lightgcn .*\(the student without KD\); index 1: "
                                          r"#3 baseline mf"):
        pick_model(record, "baseline")
    with pytest.raises(ExportError, match="has no baseline model vbpr"):
        pick_model(record, "baseline", "vbpr")
    with pytest.raises(ExportError, match="--index 5 is out of range"):
        pick_model(record, "baseline", index=5)
