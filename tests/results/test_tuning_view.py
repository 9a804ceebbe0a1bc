"""The leaderboard's `tuning` view: each model's budget from its recipe's `tuning:` block, `untuned` without
one, the test metric, and a flag when the models of a dataset did not get the same budget."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.registry import load_plugins
from mmbench.results.leaderboard import render, table
from mmbench.results.record import DatasetInfo, ModelResult, RecipeInfo, RunRecord
from mmbench.results.store import write_record


@pytest.fixture(autouse=True, scope="module")
def _metrics_registered() -> None:
    load_plugins(entry_points=False)


def tuning(trials: int, study: str) -> dict:
    return {"study": study, "budget": {"trials": trials, "sampler": "tpe", "pruner": "median", "epochs": 200,
                                       "seeds_per_trial": 1},
            "valid": {"metric": "NDCG@10", "value": 0.25}, "best_trial": 3}


def result(role: str, component: str, ndcg: float) -> ModelResult:
    return ModelResult(role=role, component=component, params={}, best_epoch=4, epochs_run=8, stopped="patience",
                       metrics={"valid": {"NDCG@10": 0.9},
                                "test": {"NDCG@10": ndcg, "NDCG@20": ndcg + 0.01, "MRR@20": 0.5}},
                       size={"params": 10, "serving_bytes": 40}, history=[], timings={"train_s": 1.0})


def record(recipe: str, seed: int, resolved: dict, models: list[ModelResult], dataset: str = "lastfm") -> RunRecord:
    return RunRecord(run_id=f"{recipe}-abcdef12-s{seed}-2026", created_at=f"2026-12-03T08:00:0{seed}+00:00",
                     recipe=RecipeInfo(name=recipe, hash="abcdef1234567890", path=None, resolved=resolved),
                     dataset=DatasetInfo(name=dataset, key=dataset, split="given", content_hash="c0ffee",
                                         split_hash="0123456789abcdef", card={}),
                     seed=seed, git={"sha": "x", "dirty": False}, versions={}, hardware={}, models=models,
                     timings={})


def suite(lightgcn_trials: int) -> list[RunRecord]:
    recs = []
    for seed, (a, b) in enumerate([(0.26, 0.24), (0.27, 0.25)]):
        recs.append(record("lastfm-lightgcn-tuned", seed,
                           {"student": {"name": "lightgcn", "tuning": tuning(lightgcn_trials, "tune-lastfm-lightgcn")},
                            "baselines": [{"name": "pop"}]},
                           [result("student", "lightgcn", a), result("baseline", "pop", 0.1)]))
        recs.append(record("lastfm-freedom-tuned", seed,
                           {"teacher": {"name": "freedom", "tuning": tuning(24, "tune-lastfm-freedom")},
                            "student": {"name": "lightgcn"}},
                           [result("teacher", "freedom", b), result("student", "lightgcn", a)]))
    return recs


def test_rows_carry_each_models_budget_and_untuned_rivals_are_named():
    _, rows = table(suite(24), view="tuning", metric="NDCG@10")
    by = {(r["recipe"], r["role"], r["component"]): r for r in rows}
    lg = by[("lastfm-lightgcn-tuned", "student", "lightgcn")]
    assert lg["budget"] == "24 trials · tpe · median pruner · ≤200 ep · 1 seed/trial"
    assert lg["study"] == "tune-lastfm-lightgcn" and lg["study valid"] == "NDCG@10 0.2500"
    assert lg["NDCG@10"] == pytest.approx(0.265) and lg["seeds"] == 2
    assert by[("lastfm-lightgcn-tuned", "baseline", "pop")]["budget"] == "n/a (nothing to tune)"
    # the freedom recipe's student came with no tuning block: untuned, even though lightgcn was tuned elsewhere
    assert by[("lastfm-freedom-tuned", "student", "lightgcn")]["budget"] == "untuned"
    assert by[("lastfm-freedom-tuned", "teacher", "freedom")]["budget"].startswith("24 trials")
    assert {r["budgets in dataset"] for r in rows} == {"⚠ differ"}  # tuned and untuned rows side by side


def test_unequal_budgets_are_flagged_equal_ones_are_not():
    recs = [r for r in suite(12) if r.recipe.name == "lastfm-freedom-tuned"]
    recs = [r.model_copy(update={"models": r.models[:1]}) for r in recs]  # only the tuned teacher
    recs += [r.model_copy(update={"models": r.models[1:]}) for r in suite(12)
             if r.recipe.name == "lastfm-lightgcn-tuned"]  # ... and popularity, which has nothing to tune
    _, rows = table(recs, view="tuning")
    assert [r["budgets in dataset"] for r in rows] == ["equal", "equal"]
    _, rows = table(suite(12), view="tuning")
    assert "⚠ differ" in {r["budgets in dataset"] for r in rows}


def test_cli_renders_the_tuning_view(tmp_path):
    for rec in suite(24):
        write_record(tmp_path, rec)
    out = CliRunner().invoke(main, ["leaderboard", "--results-dir", str(tmp_path), "--view", "tuning"],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "24 trials · tpe · median pruner" in out.output and "untuned" in out.output
    assert "n/a (nothing to tune)" in out.output
    assert "| budget" in render(suite(24), "md", view="tuning")


def test_the_headline_metrics_follow_the_views_metric_and_columns_pick_among_them(tmp_path):
    _, rows = table(suite(24), view="tuning", metric="NDCG@20")
    lg = next(r for r in rows if r["recipe"] == "lastfm-lightgcn-tuned" and r["role"] == "student")
    assert lg["NDCG@20"] == pytest.approx(0.275) and lg["NDCG@10"] == pytest.approx(0.265)
    assert "MRR@20" not in lg and "HR@10" not in lg  # only the shown metrics, and only those evaluated
    text = render(suite(24), "md", view="tuning", metric="NDCG@20")
    header = next(line for line in text.splitlines() if line.startswith("| recipe"))
    assert header.index("NDCG@20") < header.index("NDCG@10")  # the view's metric first
    picked = render(suite(24), "md", ["budget", "NDCG@10"], view="tuning", metric="NDCG@20")
    header = next(line for line in picked.splitlines() if line.startswith("| recipe"))
    assert "NDCG@20" not in header and "NDCG@10" in header and "0.2650" in picked
