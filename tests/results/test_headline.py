"""The headline leaderboard view (teacher, KD student, no-KD student per KD recipe) and the --recipe filter."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.errors import ResultsError
from mmbench.metrics.robustness import curve_summary
from mmbench.results.headline import HEADLINE_KEY, headline_rows
from mmbench.results.leaderboard import filter_recipes, render, rows
from mmbench.results.record import ModelResult, RunRecord
from test_leaderboard import (T95_DF1, expected_ci, md_sections, metrics, model, quickstart_records, record,
                              write_all)

DELTA = "ΔNDCG@10@50%"
VALUE_COLUMNS = ["HR@10", "NDCG@10", "HR@20", "NDCG@20", "latency_ms_p50", "params", DELTA]
LABELS = ["teacher (mm-gnn)", "KD student (lightgcn)", "no-KD student (lightgcn)"]
# per seed: each model's relative change at 50% missing under the trained imputer, per condition
DELTAS = {
    "teacher": {"text": (-0.10, -0.12), "image": (-0.20, -0.22), "all": (-0.30, -0.36)},
    "student": {"text": (-0.05, -0.07), "image": (-0.15, -0.13), "all": (-0.25, -0.21)},
    "twin": {"text": (-0.08, -0.06), "image": (-0.18, -0.24), "all": (-0.40, -0.44)},
}
NDCG10 = {"teacher": (0.040, 0.044), "student": (0.036, 0.035), "twin": (0.030, 0.033)}  # per seed


def curve(modality: str, clean: dict[str, float], delta: float, *, imputer: str = "mean",
          at_test: bool = False, unaffected: bool = False) -> dict[str, Any]:
    points = [{"rate": r, "metrics": {k: v * (1 + delta * f) for k, v in clean.items()}, "per_seed": None}
              for r, f in ((0.0, 0), (0.5, 1), (1.0, 2))]
    return {"modality": modality, "imputer": imputer, "imputer_at_test_only": at_test, "unaffected": unaffected,
            "note": "reads no item features" if unaffected else None, "absent": False, "points": points,
            "summary": curve_summary(points, list(clean))}


def robustness(clean: dict[str, float], deltas: dict[str, float], *, unaffected: bool = False) -> dict[str, Any]:
    trained = [curve(m, clean, 0.0 if unaffected else d, unaffected=unaffected) for m, d in deltas.items()]
    # a test-time imputer: the headline reports the model as trained, never these
    swapped = [curve(m, clean, -0.9, imputer="zero", at_test=True) for m in deltas if not unaffected]
    return {"rates": [0.0, 0.5, 1.0], "mask_seeds": 2, "modalities": list(deltas), "curves": trained + swapped}


def kd_models(seed: int, modalities: tuple[str, ...] | None, student_unaffected: bool = False) -> list[ModelResult]:
    out = []
    for who, role, params, lat in (("teacher", "teacher", 6_000_000, 2.0), ("student", "student", 2_000_000, 0.5),
                                   ("twin", "baseline", 2_000_000, 0.5)):
        n10 = NDCG10[who][seed]
        test = metrics(0.04, 0.08 + n10, 0.12 + n10, 0.02, n10, 0.05 + n10)
        m = model(role, "mm-gnn" if who == "teacher" else "lightgcn", test, params=params,
                  latency=(lat + 0.1 * seed, lat * 2))
        update: dict[str, Any] = {"distill": {"teacher": "mm-gnn"}} if who == "student" else {}
        if who == "twin":
            update["without_kd_of"] = "student"
        if modalities:
            update["robustness"] = robustness(test, {c: DELTAS[who][c][seed] for c in modalities},
                                              unaffected=student_unaffected and who == "student")
        out.append(m.model_copy(update=update))
    pop = model("baseline", "pop", metrics(0.01, 0.02, 0.03, 0.01, 0.01, 0.02))
    if modalities:
        pop = pop.model_copy(update={"robustness": robustness(pop.metrics["test"], dict.fromkeys(modalities, 0.0),
                                                              unaffected=True)})
    return [*out, pop]


def kd_records(name: str = "beauty-kd", modalities: tuple[str, ...] | None = ("text", "image", "all"),
               student_unaffected: bool = False, dataset: str = "amazon-beauty") -> list[RunRecord]:
    return [record(name, seed, kd_models(seed, modalities, student_unaffected), dataset=dataset,
                   created_at=f"2025-01-15T10:0{seed}:00+00:00") for seed in (0, 1)]


def by_model(table: list[dict[str, Any]], recipe: str = "beauty-kd") -> dict[str, dict[str, Any]]:
    return {r["model"]: r for r in table if r["recipe"] == recipe}


# --------------------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------------------

def test_three_rows_per_kd_recipe_in_order_without_other_baselines() -> None:
    table = headline_rows(kd_records() + quickstart_records())  # quickstart: no teacher, not a KD recipe
    assert [(r["recipe"], r["model"]) for r in table] == [("beauty-kd", label) for label in LABELS]
    assert all(list(r)[:5] == [*HEADLINE_KEY, "seeds"] and r["seeds"] == 2 for r in table)
    assert not any("pop" in r["model"] for r in table)
    values = [c for c in table[0] if not c.endswith("_ci95")][5:]
    assert values == VALUE_COLUMNS


def test_values_and_cis_are_those_of_the_models_view() -> None:
    recs = kd_records()
    table = by_model(headline_rows(recs))
    models = {(r["role"], r["component"]): r for r in rows(recs)}
    for label, key in zip(LABELS, [("teacher", "mm-gnn"), ("student", "lightgcn"), ("baseline", "lightgcn")]):
        for col in VALUE_COLUMNS[:-1]:
            assert table[label][col] == models[key][col], (label, col)
            if col != "params":
                assert table[label][f"{col}_ci95"] == models[key][f"{col}_ci95"] > 0, (label, col)
    # by hand: the KD student's NDCG@10 over its two seeds
    student = table["KD student (lightgcn)"]
    assert student["NDCG@10"] == pytest.approx(0.0355)
    assert student["NDCG@10_ci95"] == pytest.approx(expected_ci([0.036, 0.035], T95_DF1))
    assert student["params"] == 2_000_000 and "params_ci95" not in student
    assert student["latency_ms_p50"] == pytest.approx(0.55)


def test_delta_uses_the_all_condition_when_the_recipe_has_one() -> None:
    table = by_model(headline_rows(kd_records()))
    for label, who in zip(LABELS, ["teacher", "student", "twin"]):
        want = DELTAS[who]["all"]
        assert table[label][DELTA] == pytest.approx(fmean(want)), label
        assert table[label][f"{DELTA}_ci95"] == pytest.approx(expected_ci(list(want), T95_DF1)), label


def test_delta_uses_the_single_modality_otherwise() -> None:
    table = by_model(headline_rows(kd_records(modalities=("image",))))
    for label, who in zip(LABELS, ["teacher", "student", "twin"]):
        assert table[label][DELTA] == pytest.approx(fmean(DELTAS[who]["image"])), label


def test_unaffected_student_has_zero_delta() -> None:
    recs = kd_records(student_unaffected=True)
    table = by_model(headline_rows(recs))
    assert table["KD student (lightgcn)"][DELTA] == 0.0
    assert table["teacher (mm-gnn)"][DELTA] == pytest.approx(fmean(DELTAS["teacher"]["all"]))
    cells = {line.split("|")[2].strip(): line for line in md_sections(render(recs, "md", view="headline"))
             ["amazon-beauty · loo-time"][2:]}
    assert cells["KD student (lightgcn)"].rstrip(" |").endswith("+0.0%")


def test_no_delta_column_when_robustness_was_not_measured() -> None:
    measured, unmeasured = kd_records("beauty-kd"), kd_records("beauty-kd-plain", modalities=None)
    table = headline_rows(measured + unmeasured)
    assert len(table) == 6
    assert all(DELTA in r for r in by_model(table, "beauty-kd").values())
    assert not any(c.startswith("Δ") for r in by_model(table, "beauty-kd-plain").values() for c in r)


def test_metric_option_names_and_fills_the_delta_column() -> None:
    table = json.loads(render(kd_records(), "json", view="headline", metric="HR@10"))
    assert "ΔHR@10@50%" in table[0] and DELTA not in table[0]
    # every metric of a curve scales alike in the fixture: the teacher's Δ is the same for HR@10
    assert table[0]["ΔHR@10@50%"] == pytest.approx(fmean(DELTAS["teacher"]["all"]))
    assert "ΔHR@10@50%: relative change of HR@10" in render(kd_records(), "md", view="headline", metric="HR@10")


def test_recipes_ordered_by_dataset_split_then_name() -> None:
    recs = kd_records("z-kd") + kd_records("a-kd") + kd_records("b-kd", dataset="amazon-baby")
    assert [r["recipe"] for r in headline_rows(recs)][::3] == ["b-kd", "a-kd", "z-kd"]


def test_markdown_headers_and_note() -> None:
    md = render(kd_records() + quickstart_records(), "md", view="headline")
    lines = md_sections(md)["amazon-beauty · loo-time"]
    assert [c.strip() for c in lines[0].strip("|").split("|")] == [
        "recipe", "model", "seeds", "HR@10 ↑", "NDCG@10 ↑", "HR@20 ↑", "NDCG@20 ↑", "latency_ms_p50 ↓", "params ↓",
        f"{DELTA} ↑"]
    assert [line.split("|")[2].strip() for line in lines[2:]] == LABELS
    assert "'all' condition" in md and "single-user request" in md and "device recorded with the run" in md
    assert "±" in lines[2]  # two seeds: CIs shown


def test_empty_headline_says_so() -> None:
    assert render(quickstart_records(), "md", view="headline").startswith("No KD runs found")
    assert headline_rows([]) == []


# --------------------------------------------------------------------------------------------------
# --recipe
# --------------------------------------------------------------------------------------------------

def test_filter_recipes_globs_on_the_recipe_name() -> None:
    recs = kd_records("beauty-kd") + kd_records("beauty-kd-plain", modalities=None) + quickstart_records()
    assert {r.recipe.name for r in filter_recipes(recs, ["beauty-*"])} == {"beauty-kd", "beauty-kd-plain"}
    assert {r.recipe.name for r in filter_recipes(recs, ["beauty-kd", "quick*"])} == {"beauty-kd", "quickstart"}
    assert filter_recipes(recs, []) == recs
    with pytest.raises(ResultsError, match=r"'baby-\*', 'nope'; recipes present: beauty-kd, beauty-kd-plain, quickstart"):
        filter_recipes(recs, ["baby-*", "nope"])


def test_cli_recipe_filter_applies_to_every_view_and_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_all(tmp_path, kd_records("beauty-kd") + kd_records("beauty-kd-2") + quickstart_records())
    run = CliRunner().invoke

    def recipes(*args: str) -> set[str]:
        result = run(main, ["leaderboard", "--results-dir", str(tmp_path), "--format", "json", *args])
        assert result.exit_code == 0, result.output
        return {r["recipe"] for r in json.loads(result.stdout)}

    assert recipes("--view", "headline") == {"beauty-kd", "beauty-kd-2"}
    assert recipes("--view", "headline", "--recipe", "beauty-kd") == {"beauty-kd"}
    assert recipes("--recipe", "beauty-*", "--recipe", "quickstart") == {"beauty-kd", "beauty-kd-2", "quickstart"}
    assert recipes("--recipe", "quick*") == {"quickstart"}
    assert recipes("--view", "kd", "--recipe", "*-2") == {"beauty-kd-2"}

    seen: list[set[str]] = []
    monkeypatch.setattr("mmbench.results.plots.write_plots",
                        lambda lb, curves, out, metric, kd_models: seen.append(
                            {r["recipe"] for r in [*lb, *curves, *kd_models]}) or [])
    result = run(main, ["leaderboard", "--results-dir", str(tmp_path), "--recipe", "*-2", "--plot", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert seen == [{"beauty-kd-2"}]


def test_cli_recipe_without_match_exits_2(tmp_path: Path) -> None:
    write_all(tmp_path, kd_records() + quickstart_records())
    result = CliRunner().invoke(main, ["leaderboard", "--results-dir", str(tmp_path), "--view", "headline",
                                       "--recipe", "baby-*", "--recipe", "nope"])
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: no run record matches --recipe 'baby-*', 'nope'")
    assert "recipes present: beauty-kd, quickstart" in line


def test_latency_with_encoders_is_shown_when_measured() -> None:
    records = kd_records()
    for rec in records:
        for m in rec.models:
            if m.latency is not None:
                extra = 9.0 if m.role == "teacher" else m.latency["latency_ms_p50"]
                m.latency["latency_enc_ms_p50"] = extra + 0.5 * rec.seed
    table = by_model(headline_rows(records))
    assert table["teacher (mm-gnn)"]["latency_enc_ms_p50"] == pytest.approx(9.25)
    assert table["KD student (lightgcn)"]["latency_enc_ms_p50"] == pytest.approx(0.55 + 0.25)
    md = render(records, "md", view="headline")
    assert "latency_enc_ms_p50 ↓" in md and "new or changed item" in md
    header = [c.strip() for c in md_sections(md)["amazon-beauty · loo-time"][0].strip("|").split("|")]
    assert header.index("latency_enc_ms_p50 ↓") == header.index("latency_ms_p50 ↓") + 1
