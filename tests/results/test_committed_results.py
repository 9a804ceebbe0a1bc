"""The committed leaderboards are generated from the committed run records, never edited by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmbench.results.leaderboard import render
from mmbench.results.store import load_records

RESULTS = Path(__file__).resolve().parents[2] / "results"
GENERATED = {"leaderboard.md": ("md", "models"), "leaderboard-headline.md": ("md", "headline"),
             "leaderboard-kd.md": ("md", "kd"), "leaderboard-robustness.md": ("md", "robustness"),
             "leaderboard.json": ("json", "models"), "leaderboard-tuning.md": ("md", "tuning")}


@pytest.fixture(scope="module")
def records():
    return load_records(RESULTS)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_committed_leaderboard_matches_its_records(records, name):
    fmt, view = GENERATED[name]
    path = RESULTS / name
    assert path.exists(), f"{path} is missing; regenerate: mmbench leaderboard --view {view} --format {fmt} -o {path}"
    assert path.read_text() == render(records, fmt, view=view), (
        f"{name} differs from what the records give; regenerate it: "
        f"mmbench leaderboard --view {view} --format {fmt} -o results/{name}")
