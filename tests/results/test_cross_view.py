"""The ``datasets`` view: tuned models across datasets, Δ over the tuned LightGCN, cold / warm columns."""

from __future__ import annotations

from typing import Any

import pytest

from mmbench.results.cross import cross_rows, tuned_models
from mmbench.results.leaderboard import render
from mmbench.results.record import DatasetInfo, ModelResult, RecipeInfo, RunRecord


def model(role: str, component: str, ndcg: float, *, cold: float | None = None, **extra: Any) -> ModelResult:
    slices = None if cold is None else {"cold": {"pairs": 3, "users": 3, "metrics": {"NDCG@20": cold}},
                                        "warm": {"pairs": 97, "users": 90, "metrics": {"NDCG@20": ndcg}}}
    return ModelResult(role=role, component=component, params={}, best_epoch=1, epochs_run=1, stopped="budget",
                       metrics={"valid": {"NDCG@20": 0.9}, "test": {"NDCG@20": ndcg}}, size={"params": 1},
                       slices=slices, **extra)


def tuning(study: str) -> dict[str, Any]:
    return {"study": study, "budget": {"trials": 24}}


def record(name: str, dataset: str, seed: int, models: list[ModelResult], resolved: dict[str, Any]) -> RunRecord:
    return RunRecord(run_id=f"{name}-s{seed}", created_at=f"2026-01-0{seed + 1}T00:00:00+00:00",
                     recipe=RecipeInfo(name=name, hash="h" * 16, resolved=resolved),
                     dataset=DatasetInfo(name=dataset, key=dataset, split="given", content_hash="c",
                                         split_hash="s", card={}),
                     seed=seed, git={}, versions={}, hardware={}, models=models, timings={})


def suite() -> list[RunRecord]:
    recs = []
    for ds, base in (("tiktok", 0.04), ("lastfm", 0.30)):
        cold = 0.002 if ds == "tiktok" else None
        for seed, noise in enumerate((0.0, 0.002)):
            lgcn = {"name": "lightgcn", "tuning": tuning(f"tune-{ds}-lightgcn")}
            recs.append(record(f"{ds}-lightgcn-tuned", ds, seed, [model("student", "lightgcn", base + noise, cold=cold)],
                               {"student": lgcn}))
            # a teacher's tuned recipe also trains the tuned LightGCN: only the teacher is that recipe's row
            recs.append(record(f"{ds}-smore-tuned", ds, seed,
                               [model("teacher", "smore", 1.5 * base + noise, cold=cold and 0.01),
                                model("student", "lightgcn", 0.5)],
                               {"teacher": {"name": "smore", "tuning": tuning(f"tune-{ds}-smore")}, "student": lgcn}))
    kd = [model("teacher", "smore", 0.06), model("student", "lightgcn", 0.05, distill={"teacher": "smore"}),
          model("baseline", "lightgcn", 0.04, without_kd_of="student")]
    recs.append(record("tiktok-kd-tuned", "tiktok", 0, kd, {}))
    recs.append(record("tiktok-smore-untuned", "tiktok", 0, [model("teacher", "smore", 0.9)], {}))  # not tuned
    return recs


def by_model(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["model"]: r for r in rows}


def test_one_row_per_tuned_model_with_delta_and_slices():
    rows = by_model(cross_rows(suite(), "NDCG@20"))
    assert list(rows) == ["smore", "lightgcn", "KD lightgcn ← smore"]
    smore = rows["smore"]
    assert smore["role"] == "teacher" and smore["seeds"] == 2
    assert smore["NDCG@20 tiktok"] == pytest.approx(0.061) and smore["NDCG@20 lastfm"] == pytest.approx(0.451)
    assert smore["ΔNDCG@20 tiktok"] == pytest.approx(0.061 / 0.041 - 1)
    assert smore["NDCG@20[cold] tiktok"] == pytest.approx(0.01)
    assert smore["NDCG@20[warm] tiktok"] == pytest.approx(0.061)
    assert "NDCG@20[cold] lastfm" not in smore  # Last.fm has no cold test items
    assert rows["lightgcn"]["ΔNDCG@20 tiktok"] == pytest.approx(0.0)  # its own reference, not the 0.5 inside smore's
    kd = rows["KD lightgcn ← smore"]
    assert kd["role"] == "KD student" and kd["seeds"] == 1 and "NDCG@20 lastfm" not in kd


def test_a_kd_student_with_an_adapter_is_its_own_row():
    recs = suite()
    student = model("student", "lightgcn", 0.07, distill={"teacher": "smore"})
    student.params = {"adapter": True}
    recs.append(record("tiktok-kd-adapter-tuned", "tiktok", 0, [model("teacher", "smore", 0.06), student,
                                                                 model("baseline", "lightgcn", 0.04, without_kd_of="student")], {}))
    rows = by_model(cross_rows(recs, "NDCG@20"))
    assert rows["KD lightgcn + adapter ← smore"]["NDCG@20 tiktok"] == pytest.approx(0.07)
    assert rows["KD lightgcn ← smore"]["NDCG@20 tiktok"] == pytest.approx(0.05)
    student.params = {"adapter": True, "cold_head": [0.0, 0.1]}
    rows = by_model(cross_rows(recs, "NDCG@20"))
    assert rows["KD lightgcn + adapter + cold heads ← smore"]["NDCG@20 tiktok"] == pytest.approx(0.07)
    assert "KD lightgcn + adapter ← smore" not in rows


def test_tuned_models_picks_the_studys_model_only():
    rec = suite()[1]
    assert [(label, m.component) for label, m in tuned_models(rec)] == [("smore", "smore")]
    assert tuned_models(suite()[-1]) == []


def test_columns_grouped_by_dataset_in_markdown():
    text = render(suite(), "md", view="datasets", metric="NDCG@20")
    header = next(line for line in text.splitlines() if line.startswith("| role"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols[3:] == ["NDCG@20 lastfm", "ΔNDCG@20 lastfm", "NDCG@20 tiktok", "ΔNDCG@20 tiktok",
                        "NDCG@20[cold] tiktok", "NDCG@20[warm] tiktok"]
    assert "+48.8%" in text  # smore on tiktok: 0.061 / 0.041 - 1
