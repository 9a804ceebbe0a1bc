"""Every YAML under recipes/ (found recursively) validates; _base/ files are include targets; sweeps/ holds
sweep files, which validate as sweeps (every trial recipe included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmbench.recipe.load import load_recipe, read_yaml

ROOT = Path(__file__).resolve().parents[2] / "recipes"
ALL = sorted(p for p in ROOT.rglob("*.yaml"))
SWEEPS = [p for p in ALL if "sweeps" in p.parts]
RUNNABLE = [p for p in ALL if "_base" not in p.parts and p not in SWEEPS]


def test_recipes_exist():
    assert (ROOT / "quickstart.yaml") in RUNNABLE


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.name


@pytest.mark.parametrize("path", [p for p in ALL if "_base" in p.parts], ids=lambda p: str(p.relative_to(ROOT)))
def test_base_files_parse_and_do_not_include(path):
    raw, _ = read_yaml(path)
    assert "include" not in raw


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: str(p.relative_to(ROOT)))
def test_sweep_validates(path):
    from mmbench.recipe.sweep import load_sweep

    sweep = load_sweep(path)
    assert sweep.trials and all(t.hash for t in sweep.trials)
