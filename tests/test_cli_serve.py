"""`mmbench export`, `mmbench recommend` and `mmbench bench ann` through the command line."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mmbench.cli import main
from mmbench.serve import Recommender


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_export_by_recipe_name_and_recommend(exported, tmp_path):
    results, record_path, _ = exported
    out = tmp_path / "mf"
    res = _invoke("export", "--recipe", "export-test", "--seed", "0", "--results-dir", str(results),
                  "--role", "baseline", "--component", "mf", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert f"using record {record_path}" in res.output and "reproduce the record's 12 test metrics" in res.output
    rec = Recommender.load(out)
    user = rec.user_ids[7]
    res = _invoke("recommend", str(out), "--user", user, "-k", "4", "--exclude-seen")
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "user\trank\titem\tscore" and len(lines) == 5
    want = rec.recommend(user, k=4, exclude_seen=True)
    assert [line.split("\t")[2] for line in lines[1:]] == [s.item for s in want]
    assert [line.split("\t")[1] for line in lines[1:]] == ["1", "2", "3", "4"]


def test_batch_mode_as_json_lines(exported, tmp_path):
    folder = exported[2]
    rec = Recommender.load(folder)
    users = rec.user_ids[:3]
    (tmp_path / "users.txt").write_text("\n".join(users) + "\n\n")
    res = _invoke("recommend", str(folder), "--users", str(tmp_path / "users.txt"), "-k", "3", "--format", "jsonl",
                  "--ann", "--timing")
    rows = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert [r["user"] for r in rows] == users
    assert [r["items"] for r in rows] == [[s.item for s in x] for x in rec.recommend_many(users, k=3, ann=True)]
    assert "timing: import" in res.stderr and "(ann)" in res.stderr


def test_new_items_through_the_command_line(exported, tmp_path):
    import numpy as np

    folder = exported[2]
    rec = Recommender.load(folder)
    feats = np.random.default_rng(0).normal(size=(2, rec.cold_map().dims()["text"])).astype(np.float32)
    np.save(tmp_path / "new.npy", feats)
    (tmp_path / "ids.txt").write_text("NEW-1\nNEW-2\n")
    res = _invoke("recommend", str(folder), "--user", rec.user_ids[0], "-k", "5", "--new-items",
                  str(tmp_path / "new.npy"), "--new-ids", str(tmp_path / "ids.txt"), "--only-new")
    items = [line.split("\t")[2] for line in res.stdout.strip().splitlines()[1:]]
    assert sorted(items) == ["NEW-1", "NEW-2"] and "k=5 clamped" in res.stderr


def test_bad_inputs_exit_2_with_one_message(exported, tmp_path):
    folder = exported[2]
    res = _invoke("recommend", str(folder), "--user", "nobody")
    assert res.exit_code == 2 and "error: unknown user 'nobody': this export has 300 users" in res.stderr
    res = _invoke("recommend", str(tmp_path / "none"), "--user", "x")
    assert res.exit_code == 2 and "no such export folder" in res.stderr
    res = _invoke("export", "--recipe", "export-test", "--results-dir", str(exported[0]), "--role", "baseline",
                  "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "pick one with --component NAME or --index N" in res.stderr


def test_bench_ann_prints_recall(exported, tmp_path):
    res = _invoke("bench", "ann", str(exported[2]), "--queries", "5", "--out", str(tmp_path / "ann.json"))
    assert res.exit_code == 0 and "recall@10 of ANN against exact search (seen items excluded)" in res.stdout
    report = json.loads((tmp_path / "ann.json").read_text())
    assert report["kind"] == "mmbench bench ann" and 0.95 <= report["recall"] <= 1.0


def test_bench_ann_ef_search_sweep_and_its_bad_values(exported, tmp_path):
    res = _invoke("bench", "ann", str(exported[2]), "--queries", "5", "--ef-search", "16,64",
                  "--out", str(tmp_path / "ann.json"))
    assert res.exit_code == 0 and "ef_search   16: recall@10" in res.stdout and "ef_search   64" in res.stdout
    assert [r["ef_search"] for r in json.loads((tmp_path / "ann.json").read_text())["ef_search_sweep"]] == [16, 64]
    for bad in ("16,x", "0"):
        res = _invoke("bench", "ann", str(exported[2]), "--ef-search", bad)
        assert res.exit_code == 2 and "--ef-search" in res.output
