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
             "leaderboard-tuned.md": ("md", "tuning", "*-tuned"),
             # every tuned model across the datasets, with its cold- and warm-item NDCG@20
             "leaderboard-datasets.md": ("md", "datasets", "--metric NDCG@20")}


@pytest.fixture(scope="module")
def records():
    return load_records(RESULTS)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_committed_leaderboard_matches_its_records(records, name):
    fmt, view, *extra = GENERATED[name]
    metric = next((e.split()[1] for e in extra if e.startswith("--metric ")), "NDCG@10")
    only = [e for e in extra if not e.startswith("--")]
    command = (f"mmbench leaderboard --view {view} --format {fmt}" + "".join(f" --recipe '{p}'" for p in only)
               + ("" if metric == "NDCG@10" else f" --metric {metric}"))
    path = RESULTS / name
    assert path.exists(), f"{path} is missing; regenerate: {command} -o results/{name}"
    assert path.read_text() == render(filter_recipes(records, only) if only else records, fmt, view=view,
                                      metric=metric), (
        f"{name} differs from what the records give; regenerate it: {command} -o results/{name}")
