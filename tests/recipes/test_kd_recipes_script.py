"""ci/suite/kd_recipes.py on a copy of the committed recipes: kd-tuned.yaml follows the best tuned teacher on
valid only once every teacher study of the dataset has ended, and the per-teacher KD recipes follow it."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def suite(tmp_path, monkeypatch):
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    for summary in (REPO / "results/sweeps").glob("tune-tiktok-*/summary.json"):
        dest = tmp_path / "results/sweeps" / summary.parent.name
        dest.mkdir(parents=True)
        shutil.copy(summary, dest / "summary.json")
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("kd_recipes", REPO / "ci/suite/kd_recipes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tmp_path, module


def include(path: Path) -> str:
    return Path(yaml.safe_load(path.read_text())["include"]).name


def lead_with_smore(root: Path) -> None:
    """Give the tuned SMORE recipe the best valid value of TikTok's teachers."""
    tuned = root / "recipes/tuned/tiktok/tiktok-smore.yaml"
    text = tuned.read_text()
    assert text.count("value: 0.039982") == 1
    tuned.write_text(text.replace("value: 0.039982", "value: 0.099"))


def test_the_committed_recipes_are_what_the_script_writes(suite, capsys):
    root, module = suite
    module.main(["tiktok"])
    assert include(root / "recipes/tiktok/kd-tuned.yaml") == "tiktok-mgcn.yaml"
    for name in ("kd-tuned.yaml", "kd-adapter-tuned.yaml", "kd-bm3-tuned.yaml", "kd-lgmrec-tuned.yaml",
                 "kd-smore-tuned.yaml"):
        assert (root / "recipes/tiktok" / name).read_text() == (REPO / "recipes/tiktok" / name).read_text()
    assert not (root / "recipes/tiktok/kd-mgcn-tuned.yaml").exists()
    assert capsys.readouterr().out == ""


def test_kd_tuned_follows_a_new_leader_on_valid_and_the_per_teacher_recipes_follow(suite, capsys):
    root, module = suite
    lead_with_smore(root)
    module.main(["tiktok"])
    for name in ("kd-tuned.yaml", "kd-adapter-tuned.yaml"):
        assert include(root / "recipes/tiktok" / name) == "tiktok-smore.yaml", name
        old, new = (REPO / "recipes/tiktok" / name).read_text(), (root / "recipes/tiktok" / name).read_text()
        assert new == old.replace("include: ../tuned/tiktok/tiktok-mgcn.yaml",
                                  "include: ../tuned/tiktok/tiktok-smore.yaml")  # comments and the rest kept
    assert not (root / "recipes/tiktok/kd-smore-tuned.yaml").exists()  # now a duplicate of kd-tuned
    assert include(root / "recipes/tiktok/kd-mgcn-tuned.yaml") == "tiktok-mgcn.yaml"
    out = capsys.readouterr().out
    assert "now distils tiktok-smore.yaml (was tiktok-mgcn.yaml)" in out and "removed" in out


def test_kd_tuned_keeps_its_teacher_while_a_teacher_study_is_unfinished(suite, capsys):
    root, module = suite
    lead_with_smore(root)
    summary = root / "results/sweeps/tune-tiktok-bm3/summary.json"
    data = json.loads(summary.read_text())
    data["ended"]["pruned"] -= 1  # one trial short of the budget
    summary.write_text(json.dumps(data))
    module.main(["tiktok"])
    assert include(root / "recipes/tiktok/kd-tuned.yaml") == "tiktok-mgcn.yaml"
    assert "until every teacher study has ended (tune-tiktok-bm3 not yet)" in capsys.readouterr().out
