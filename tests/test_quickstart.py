"""The README's main job and the ID-only references, end to end on the full embedded data (slow: run with
`pytest -m slow`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.recipe.load import load_recipe

ROOT = Path(__file__).resolve().parents[1]


def _run(recipe: Path, results: Path) -> list[dict]:
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(recipe), "--seed", "0", "--results-dir", str(results), "-q"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(runner.invoke(main, ["leaderboard", "--results-dir", str(results), "--format", "json"]).output)


def test_quickstart_is_the_kd_pipeline_with_robustness_and_latency():
    """Fast: the README's main job is mm-gnn → LightGCN with KD, robustness and latency on, one seed."""
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    assert recipe.dataset.name == "amazon-beauty" and recipe.dataset.split == "loo-time"
    assert recipe.teacher.name == "mm-gnn" and recipe.student.name == "lightgcn" and recipe.distill
    assert recipe.eval.robustness.enabled and recipe.eval.latency.enabled and "text" in recipe.encoders


@pytest.mark.slow
@pytest.mark.integration
def test_quickstart_lands_in_the_literature_range(tmp_path):
    by = {r["role"] + ("-" + r["component"]): r for r in _run(ROOT / "recipes" / "quickstart.yaml", tmp_path)}
    teacher, student, baseline = by["teacher-mm-gnn"], by["student-lightgcn"], by["baseline-lightgcn"]
    # docs/PROTOCOL.md, same split: RecBole 1.2.1 LightGCN NDCG@10 0.0219, HR@10 0.0447
    assert 0.018 < baseline["NDCG@10"] < 0.027 and 0.037 < baseline["HR@10"] < 0.055
    assert teacher["NDCG@10"] > 0.018 and student["NDCG@10"] > 0.018
    assert student["params"] == baseline["params"] == 64 * (22363 + 12101)
    assert all(m["latency_ms_p50"] > 0 for m in (teacher, student, baseline))
    assert "ΔNDCG@10[no-text@50%]" in teacher and student["ΔNDCG@10[no-text@50%]"] == 0.0


@pytest.mark.slow
@pytest.mark.integration
def test_mf_and_popularity_land_in_the_literature_range(tmp_path):
    by = {r["component"]: r for r in _run(ROOT / "recipes" / "beauty" / "mf.yaml", tmp_path)}
    # docs/PROTOCOL.md, same split: RecBole Pop HR@10 0.0115 / NDCG@10 0.0056; RecBole BPR-MF HR@10 0.0357 / NDCG@10 0.0176
    assert by["pop"]["HR@10"] == pytest.approx(0.0115, abs=0.001)
    assert by["pop"]["NDCG@10"] == pytest.approx(0.0056, abs=0.0005)
    assert 0.028 < by["mf"]["HR@10"] < 0.045 and 0.013 < by["mf"]["NDCG@10"] < 0.023
    assert by["mf"]["latency_ms_p50"] > 0 and by["mf"]["params"] == 64 * (22363 + 12101)
