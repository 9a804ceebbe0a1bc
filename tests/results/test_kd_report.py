"""The KD report: per run (retention, gain, ratios) and over seeds (mean ± CI, paired t-test across seeds)."""

from __future__ import annotations

import json

import pytest
from scipy import stats

from mmbench.results.kd import gate_verdict, kd_members, kd_report, kd_rows
from mmbench.results.leaderboard import recipe_labels, render
from test_leaderboard import fixture_records, metrics, model, record

# (teacher, student, no-KD student) NDCG@10 per seed
SEEDS = [(0.030, 0.031, 0.026), (0.032, 0.030, 0.027), (0.029, 0.031, 0.025)]


def kd_models(t: float, s: float, b: float) -> list:
    teacher = model("teacher", "freedom", metrics(0, 0, 0, 0, t, 0), params=6_000_000, latency=(2.0, 3.0))
    student = model("student", "lightgcn", metrics(0, 0, 0, 0, s, 0), params=2_000_000, latency=(0.5, 0.7))
    student = student.model_copy(update={"distill": {"teacher": "freedom"}})
    twin = model("baseline", "lightgcn", metrics(0, 0, 0, 0, b, 0), params=2_000_000, latency=(0.5, 0.7))
    twin = twin.model_copy(update={"without_kd_of": "student"})
    return [teacher, student, twin, model("baseline", "pop", metrics(0, 0, 0, 0, 0.01, 0))]


def kd_records() -> list:
    return [record("kd", seed, kd_models(*v), created_at=f"2025-01-15T10:0{seed}:00+00:00")
            for seed, v in enumerate(SEEDS)]


def test_run_report_by_hand():
    rep = kd_report(kd_models(0.030, 0.031, 0.026), per_user={
        "teacher": [0.0, 1.0, 0.5, 0.25], "student": [0.1, 1.0, 0.5, 0.5], "baseline": [0.0, 0.5, 0.5, 0.0]})
    nd = rep["metrics"]["NDCG@10"]
    assert nd["retention"] == pytest.approx(0.031 / 0.030) and nd["gain"] == pytest.approx(0.031 / 0.026 - 1)
    assert rep["params_ratio"] == pytest.approx(1 / 3) and rep["latency_ratio"] == pytest.approx(0.25)
    want = stats.ttest_rel([0.1, 1.0, 0.5, 0.5], [0.0, 0.5, 0.5, 0.0]).pvalue
    assert rep["tests"]["vs_baseline"]["p"] == pytest.approx(want, rel=1e-9)
    assert (rep["teacher"], rep["student"], rep["baseline"]) == ("freedom", "lightgcn", "lightgcn")


def test_no_report_without_teacher_student_and_twin():
    assert kd_report(kd_models(0.03, 0.03, 0.03)[1:]) is None
    assert kd_rows(fixture_records()) == []


def test_kd_members_name_each_model_of_a_kd_run_once():
    members = kd_members(recipe_labels(kd_records() + fixture_records()))  # the fixture's runs are not KD runs
    assert members == [{"recipe": "kd", "dataset": "amazon-beauty", "split": "loo-time", "role": role,
                        "component": comp, "kd": part}
                       for role, comp, part in (("baseline", "lightgcn", "no-KD student"),
                                                ("student", "lightgcn", "KD student"),
                                                ("teacher", "freedom", "teacher"))]  # three seeds, once each; not pop
    assert kd_members([]) == []


def test_rows_over_seeds_with_paired_test_across_seeds():
    (row,) = kd_rows(kd_records())
    assert (row["recipe"], row["teacher"], row["student"], row["seeds"]) == ("kd", "freedom", "lightgcn", 3)
    ret = [s / t for t, s, _ in SEEDS]
    assert row["retention NDCG@10"] == pytest.approx(sum(ret) / 3)
    assert row["retention NDCG@10_ci95"] == pytest.approx(
        stats.t.ppf(0.975, 2) * stats.tstd(ret) / 3 ** 0.5, rel=1e-6)
    p_base = stats.ttest_rel([s for _, s, _ in SEEDS], [b for *_, b in SEEDS]).pvalue
    p_teacher = stats.ttest_rel([s for _, s, _ in SEEDS], [t for t, *_ in SEEDS]).pvalue
    assert row["p_vs_baseline"] == pytest.approx(p_base, rel=1e-6)
    assert row["p_vs_teacher"] == pytest.approx(p_teacher, rel=1e-6)
    assert row["params_ratio"] == pytest.approx(1 / 3) and row["latency_ratio"] == pytest.approx(0.25)
    teacher_gain = [t / b - 1 for t, _, b in SEEDS]
    assert row["teacher gain NDCG@10"] == pytest.approx(sum(teacher_gain) / 3)
    assert row["teacher gain NDCG@10_ci95"] == pytest.approx(
        stats.t.ppf(0.975, 2) * stats.tstd(teacher_gain) / 3 ** 0.5, rel=1e-6)


def test_empty_views_say_what_is_missing():
    from mmbench.results.leaderboard import render

    assert render(fixture_records(), "md", view="kd").startswith("No KD runs found")
    assert render(fixture_records(), "md", view="robustness").startswith("No robustness results found")
    assert render([], "md") == "No run records found.\n"


# --------------------------------------------------------------------------------------------------
# the KD gate: teacher vs no-KD student on valid, recorded per run and flagged on the leaderboards
# --------------------------------------------------------------------------------------------------

def gate(passed: bool, action: str = "warn", min_gain: float = 0.0) -> dict:
    return {"metric": "NDCG@10", "split": "valid", "teacher_valid": 0.03, "baseline_valid": 0.02 if passed else 0.04,
            "teacher_gain_valid": 0.5 if passed else -0.25, "min_gain": min_gain, "passed": passed,
            "action": action, "distilled": passed or action == "warn"}


def gated_records(name: str, gates: list[dict | None]) -> list:
    out = []
    for rec, g in zip(kd_records(), gates):
        kd = kd_report(rec.models) | ({"gate": g} if g else {})
        out.append(rec.model_copy(update={"kd": kd, "recipe": rec.recipe.model_copy(update={"name": name})}))
    return out


def test_run_report_keeps_the_gate():
    assert kd_report(kd_models(0.03, 0.031, 0.026), gate=gate(True))["gate"] == gate(True)
    assert "gate" not in kd_report(kd_models(0.03, 0.031, 0.026))  # nothing invented for a caller without one


def test_gate_verdict_over_seeds():
    assert gate_verdict([gate(True)] * 3) == "teacher > no-KD on valid 3/3"
    weak = "⚠ teacher ≤ no-KD on valid"
    assert gate_verdict([gate(True), gate(False), gate(False)]) == f"{weak} 2/3; distilled anyway"
    assert gate_verdict([gate(False, "skip")] * 2 + [None]) == f"{weak} 2/3 (1 unchecked); KD skipped"
    assert gate_verdict([gate(False, "skip"), gate(False, "warn")]) == (
        "⚠ teacher ≤ no-KD on valid 2/2; KD skipped in 1, distilled in 1")
    assert gate_verdict([gate(True, min_gain=0.05)]) == "teacher > no-KD +5.0% on valid 1/1"
    assert gate_verdict([None, None]) == "–"


def test_kd_view_flags_a_weak_teacher_and_old_records_still_render():
    old = kd_records()  # written before the gate: no kd.gate at all
    assert all("gate" not in (r.kd or {}) for r in old)
    assert "gate" not in kd_rows(old)[0]  # no column: leaderboards of old records keep their shape
    assert "gate" not in render(old, "md", view="kd") and "gate" not in render(old, "md", view="headline")
    recs = old + gated_records("weak", [gate(False), gate(False, "skip"), gate(True)])
    by_recipe = {r["recipe"]: r for r in kd_rows(recs)}
    assert by_recipe["kd"]["gate"] == "–"
    assert by_recipe["weak"]["gate"] == "⚠ teacher ≤ no-KD on valid 2/3; KD skipped in 1, distilled in 1"
    for fmt in ("md", "csv", "json", "html"):  # every format renders both
        text = render(recs, fmt, view="kd")
        assert "⚠ teacher ≤ no-KD on valid 2/3" in text and "–" in text
    md = render(recs, "md", view="kd")
    assert md.splitlines()[2].split("|")[5].strip() == "gate"  # right after the key and seeds


def test_headline_flags_the_kd_student_row_only():
    recs = kd_records() + gated_records("weak", [gate(False)] * 3)
    table = json.loads(render(recs, "json", view="headline"))
    weak = {r["model"]: r for r in table if r["recipe"] == "weak"}
    assert weak["KD student (lightgcn)"]["gate"] == "⚠ teacher ≤ no-KD on valid 3/3; distilled anyway"
    assert "gate" not in weak["teacher (freedom)"] and "gate" not in weak["no-KD student (lightgcn)"]
    old = {r["model"]: r for r in table if r["recipe"] == "kd"}
    assert old["KD student (lightgcn)"]["gate"] == "–"
    header = render(recs, "md", view="headline").splitlines()[2]
    assert header.rstrip(" |").endswith("gate")  # the verdict is the last column
