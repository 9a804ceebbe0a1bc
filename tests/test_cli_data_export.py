"""``mmbench data export``: a dataset + split (or a recipe's) to a RecBole benchmark folder, through CliRunner."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.interop.recbole_data import PARTS, benchmark_config


def export(*args: str):
    return CliRunner().invoke(main, ["data", "export", *args])


def part_keys(folder, name: str, n_items: int) -> dict[str, np.ndarray]:
    out = {}
    for part in PARTS:
        rows = np.loadtxt(folder / f"{name}.{part}.inter", dtype=np.int64, skiprows=1, ndmin=2)
        out[part] = np.sort(rows[:, 0] * n_items + rows[:, 1])
    return out


def test_export_a_dataset_and_read_it_back(tmp_path):
    res = export("--dataset", "amazon-beauty", "-p", "max_users=50", "--split", "ratio-8-1-1", "--split-seed", "3",
                 "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    data = load_dataset("amazon-beauty", {"max_users": 50})
    split = make_split("ratio-8-1-1", data.interactions, seed=3)
    folder = tmp_path / "amazon-beauty"
    for part in PARTS:
        assert re.search(rf"amazon-beauty\.{part}\.inter +{len(getattr(split, part)):,} interactions\n", res.output)
    assert f"{data.interactions.n_items:,} items (raw_item_id, title_keywords, brand, categories)" in res.output
    assert "split ratio-8-1-1[seed=3]" in res.output
    keys = part_keys(folder, "amazon-beauty", split.n_items)
    for part in PARTS:
        np.testing.assert_array_equal(keys[part], getattr(split, part).keys(split.n_items))
    assert yaml.safe_load((folder / "amazon-beauty.yaml").read_text()) == benchmark_config(tmp_path, "amazon-beauty")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*(f"amazon-beauty.{p}.inter" for p in PARTS), "amazon-beauty.item", "amazon-beauty.user",
         "amazon-beauty.yaml"])  # no temp files left behind
    spec = json.loads(res.output.split("mmbench: dataset: ", 1)[1])
    back = load_dataset(spec["name"], spec["params"], use_cache=False)
    assert make_split(spec["split"], back.interactions).card["test"] == split.card["test"]


def test_export_a_recipe_split_and_its_seed(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("schema_version: 1\ndataset: {name: amazon-beauty, split: ratio-8-1-1, split_seed: 4, "
                      "params: {max_users: 30}}\nstudent: {name: pop}\n")
    res = export("--recipe", str(recipe), "--out", str(tmp_path / "out"), "--name", "b30")
    assert res.exit_code == 0, res.output
    inter = load_dataset("amazon-beauty", {"max_users": 30}).interactions
    seeded, unseeded = make_split("ratio-8-1-1", inter, seed=4), make_split("ratio-8-1-1", inter, seed=0)
    keys = part_keys(tmp_path / "out" / "b30", "b30", inter.n_items)
    np.testing.assert_array_equal(keys["test"], seeded.test.keys(inter.n_items))
    assert not np.array_equal(seeded.test.keys(inter.n_items), unseeded.test.keys(inter.n_items))
    res = export("--recipe", str(recipe), "--split", "loo-time", "-p", "max_users=20", "--out", str(tmp_path / "o2"))
    assert res.exit_code == 0, res.output  # --split and -p override the recipe; its seed goes with its split
    assert "'max_users': 20" in res.output and "split loo-time to" in res.output


def test_refuses_to_overwrite_without_force(tmp_path):
    args = ["--dataset", "amazon-beauty", "-p", "max_users=20", "--split", "loo-time", "--out", str(tmp_path)]
    assert export(*args).exit_code == 0
    yaml_file = tmp_path / "amazon-beauty" / "amazon-beauty.yaml"
    before = yaml_file.read_text()
    res = export(*args[:3], "max_users=25", *args[4:])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.output.strip().splitlines() == [
        f"error: {tmp_path / 'amazon-beauty'}: folder exists and is not empty; fix: pass --force to overwrite the "
        f"export's files there, or choose another --out or --name"]
    assert yaml_file.read_text() == before
    res = export(*args[:3], "max_users=25", *args[4:], "--force")
    assert res.exit_code == 0, res.output
    assert "users (raw_user_id)" in res.output and yaml_file.read_text() != before  # the params are in its header
    assert len((tmp_path / "amazon-beauty" / "amazon-beauty.user").read_text().splitlines()) == 1 + 25


@pytest.mark.parametrize("args, code, message", [
    (["--dataset", "amazon-beuty", "--split", "loo-time"], 2, "unknown dataset 'amazon-beuty'. Did you mean"),
    (["--dataset", "amazon-beauty", "--split", "loo-tim"], 2, "unknown split 'loo-tim'; did you mean 'loo-time'?"),
    (["--dataset", "amazon-beauty"], 2, "--dataset needs --split SPLIT (splits: loo-time, ratio-8-1-1"),
    (["--dataset", "tiktok", "--split", "loo-time"], 2, "has no timestamps, so split 'loo-time' is impossible"),
    (["--dataset", "amazon-beauty", "--split", "given"], 2, "ships no split, so split 'given' is impossible"),
    (["--dataset", "amazon-beauty", "--split", "loo-time", "--split-seed", "2"], 2,
     "Invalid value for --split-seed: only seeded splits (ratio-8-1-1) take a seed"),
    (["--dataset", "amazon-beauty", "-p", "max_users=0", "--split", "loo-time"], 2, "max_users must be ≥ 1"),
    (["--dataset", "amazon-beauty", "-p", "max_user=5", "--split", "loo-time"], 2, "unknown parameter"),
    (["--dataset", "amazon-beauty", "-p", "max_users", "--split", "loo-time"], 2, "expected KEY=VALUE"),
    (["--dataset", "amazon-beauty", "--split", "loo-time", "--name", "a/b"], 2, "'a/b' is not a plain file stem"),
    (["--split", "loo-time"], 2, "give --dataset NAME or --recipe PATH (one of the two)"),
    (["--dataset", "amazon-beauty", "--recipe", "r.yaml", "--split", "loo-time"], 2, "one of the two"),
    (["--recipe", "missing.yaml"], 2, "missing.yaml"),
])
def test_bad_input_is_one_clear_line(tmp_path, args, code, message):
    res = export(*args, "--out", str(tmp_path / "out"))
    assert res.exit_code == code and isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output
    assert any(message in line for line in res.output.splitlines()), res.output
    assert not (tmp_path / "out").exists()  # nothing written


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    res = export("--dataset", "amazon-beauty", "-p", "max_users=20", "--split", "loo-time", "--out",
                 str(tmp_path / "f"))
    assert res.exit_code == 2 and "Invalid value for '--out'" in res.output and "is a file" in res.output
    assert "Traceback" not in res.output and (tmp_path / "f").read_text() == "x"
