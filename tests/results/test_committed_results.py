"""The committed leaderboards are generated from the committed run records, never edited by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmbench.results.leaderboard import filter_recipes, render
from mmbench.results.store import load_records

RESULTS = Path(__file__).resolve().parents[2] / "results"
GENERATED = {"leaderboard.md": ("md", "models"), "leaderboard-headline.md": ("md", "headline"),
             "leaderboard-kd.md": ("md", "kd"), "leaderboard-robustness.md": ("md", "robustness"),
             "leaderboard.json": ("json", "models"), "leaderboard-tuning.md": ("md", "tuning"),
             # the fair leaderboard: only the recipes tuned with the equal budgets, with their budgets
             "leaderboard-tuned.md": ("md", "tuning", "*-tuned")}


@pytest.fixture(scope="module")
def records():
    return load_records(RESULTS)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_committed_leaderboard_matches_its_records(records, name):
    fmt, view, *only = GENERATED[name]
    command = f"mmbench leaderboard --view {view} --format {fmt}" + "".join(f" --recipe '{p}'" for p in only)
    path = RESULTS / name
    assert path.exists(), f"{path} is missing; regenerate: {command} -o results/{name}"
    assert path.read_text() == render(filter_recipes(records, only) if only else records, fmt, view=view), (
        f"{name} differs from what the records give; regenerate it: {command} -o results/{name}")
