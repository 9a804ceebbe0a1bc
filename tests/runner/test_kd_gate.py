"""The KD gate on real data: teacher vs no-KD student on valid before distilling; warn, skip or fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.recipe.load import load_recipe
from mmbench.results.leaderboard import render
from mmbench.results.store import load_records
from mmbench.results.terminal import kd_lines, summary_rows
from mmbench.runner import run as run_module
from mmbench.runner.kd_gate import KDGateError
from mmbench.runner.run import run_recipe

# An MF teacher trained properly against an MF student that barely trains: the teacher is clearly better
# on valid (about 0.013 vs 0.003 NDCG@10 on these 300 users). WEAK swaps them: an untrained teacher.
RECIPE = """\
schema_version: 1
name: gate
dataset: {name: amazon-beauty, params: {max_users: 300}}
teacher: {name: lab/mf-teacher, params: {dim: 32}, train: {epochs: 15, lr: 0.02}}
student: {name: mf, params: {dim: 8}, train: {epochs: 1, lr: 0.001}}
distill: [{name: listwise-kl, params: {top_k: 5, samples: 10}}]
baselines: [{name: pop}]
train: {batch_size: 512, patience: 100}
seeds: [0]
"""
WEAK = ["teacher.train={epochs: 1, lr: 1.0e-6}", "student.train={epochs: 15, lr: 0.02}"]


@pytest.fixture
def teacher_cls(isolated_registries) -> type:
    from mmbench.components.students.mf import MFStudent
    from mmbench.kinds import register_teacher

    @register_teacher("lab/mf-teacher")
    class MFTeacher(MFStudent):
        """BPR-MF registered as a teacher."""

    return MFTeacher


@pytest.fixture
def recipe_path(tmp_path: Path, teacher_cls: type) -> Path:
    path = tmp_path / "gate.yaml"
    path.write_text(RECIPE)
    return path


def run(path: Path, out: Path, overrides: list[str]) -> tuple[Any, list[str]]:
    logs: list[str] = []
    run_recipe(load_recipe(path, overrides), results_dir=out, log=logs.append, reuse=False, resume=False)
    (rec,) = load_records(out)
    return rec, logs


def tags(logs: list[str]) -> list[str]:
    return [line.split("]")[0] + "]" for line in logs if line.startswith("[")]


def test_teacher_and_twin_train_first_and_a_stronger_teacher_passes(recipe_path, tmp_path):
    rec, logs = run(recipe_path, tmp_path / "res", [])
    assert tags(logs) == ["[teacher]", "[student without KD]", "[student + KD]", "[baseline]"]
    # the record keeps the recipe's order, whatever the training order
    assert [(m.role, m.component) for m in rec.models] == [
        ("teacher", "lab/mf-teacher"), ("student", "mf"), ("baseline", "mf"), ("baseline", "pop")]
    teacher, student, twin, _ = rec.models
    gate = rec.kd["gate"]
    t, b = teacher.metrics["valid"]["NDCG@10"], twin.metrics["valid"]["NDCG@10"]
    assert gate == {"metric": "NDCG@10", "split": "valid", "teacher_valid": t, "baseline_valid": b,
                    "teacher_gain_valid": pytest.approx(t / b - 1), "min_gain": 0.0, "passed": True,
                    "action": "warn", "distilled": True}
    assert t > 2 * b  # far from the boundary: the outcome does not hinge on the last digits
    assert student.distill["candidates"] and "skipped" not in student.distill
    assert any(line.startswith("kd gate: passed, teacher lab/mf-teacher beats the no-KD mf on valid") for line in logs)
    assert not any("WARNING" in line for line in logs)
    (row,) = json.loads(render([rec], "json", view="kd"))
    assert row["gate"] == "teacher > no-KD on valid 1/1"


def test_weak_teacher_warns_loudly_then_distils(recipe_path, tmp_path):
    rec, logs = run(recipe_path, tmp_path / "res", WEAK)
    teacher, student, twin, _ = rec.models
    gate = rec.kd["gate"]
    t, b = teacher.metrics["valid"]["NDCG@10"], twin.metrics["valid"]["NDCG@10"]
    assert (gate["passed"], gate["action"], gate["distilled"]) == (False, "warn", True) and 2 * t < b
    (warning,) = [line for line in logs if line.startswith("WARNING kd gate:")]
    assert f"NDCG@10 {t:.4f} vs {b:.4f} ({(t / b - 1) * 100:+.1f}%)" in warning
    assert "mmbench sweep" in warning and "kd_gate.on_weak_teacher: skip" in warning
    assert tags(logs)[2] == "[student + KD]" and student.distill["candidates"]  # distilled as before
    (line,) = kd_lines([next((tmp_path / "res" / "runs").rglob("*.json"))])
    assert "⚠ gate: teacher ≤ no-KD on valid" in line and "distilled anyway" in line
    (row,) = json.loads(render([rec], "json", view="kd"))
    assert row["gate"] == "⚠ teacher ≤ no-KD on valid 1/1; distilled anyway"


def test_weak_teacher_with_skip_serves_the_no_kd_student(recipe_path, tmp_path):
    rec, logs = run(recipe_path, tmp_path / "res", [*WEAK, "kd_gate={on_weak_teacher: skip}"])
    assert "[student + KD]" not in tags(logs)  # no distilled model is trained, let alone recorded
    assert any("KD skipped (kd_gate.on_weak_teacher: skip)" in line for line in logs)
    teacher, student, twin, _ = rec.models
    assert (student.role, student.without_kd_of) == ("student", None)
    assert (twin.role, twin.without_kd_of) == ("baseline", "student")
    assert student.distill["skipped"].startswith("kd skipped: teacher lab/mf-teacher does not beat the no-KD mf")
    assert "candidates" not in student.distill and student.served.startswith("the no-KD student (kd skipped")
    assert student.metrics == twin.metrics and student.size == twin.size  # the served student IS the twin
    assert rec.kd["gate"]["distilled"] is False and rec.kd["metrics"]["NDCG@10"]["gain"] == 0.0
    assert rec.recipe.resolved["kd_gate"] == {"on_weak_teacher": "skip", "min_gain": 0.0}
    (row,) = json.loads(render([rec], "json", view="kd"))
    assert row["gate"] == "⚠ teacher ≤ no-KD on valid 1/1; KD skipped"
    headline = {r["model"]: r for r in json.loads(render([rec], "json", view="headline"))}
    assert headline["KD student (mf)"]["gate"] == row["gate"]
    assert "gate" not in headline["teacher (lab/mf-teacher)"]
    path = next((tmp_path / "res" / "runs").rglob("*.json"))
    assert "KD skipped: the student is the no-KD model" in kd_lines([path])[0]
    assert [r["role"] for r in summary_rows([path])][:2] == ["teacher", "student (KD skipped)"]


def test_gate_reads_valid_never_test(recipe_path, tmp_path, teacher_cls, monkeypatch):
    real = run_module.evaluate_users

    def upside_down(score, split, part, **kw):  # test says the teacher is perfect and every other model useless
        assert part == "test"
        users, per_user = real(score, split, part, **kw)
        fill = 1.0 if isinstance(getattr(score, "__self__", None), teacher_cls) else 0.0
        return users, {col: torch.full_like(v, fill) for col, v in per_user.items()}

    monkeypatch.setattr(run_module, "evaluate_users", upside_down)
    rec, _ = run(recipe_path, tmp_path / "res", [*WEAK, "kd_gate={on_weak_teacher: skip}"])
    teacher, _, twin, _ = rec.models
    assert teacher.metrics["test"]["NDCG@10"] == 1.0 and twin.metrics["test"]["NDCG@10"] == 0.0
    assert rec.kd["gate"]["passed"] is False and rec.kd["gate"]["distilled"] is False  # decided on valid


def test_fail_stops_before_distilling_with_a_clean_cli_error(recipe_path, tmp_path):
    with pytest.raises(KDGateError, match=r"kd gate: teacher lab/mf-teacher does not beat the no-KD mf on valid"):
        run_recipe(load_recipe(recipe_path, [*WEAK, "kd_gate.on_weak_teacher=fail"]), results_dir=tmp_path / "a",
                   log=lambda _: None, reuse=False, resume=False)
    result = CliRunner().invoke(main, ["run", str(recipe_path), "--results-dir", str(tmp_path / "res"),
                                       "--no-reuse", "--no-resume", *(a for o in WEAK for a in ("--set", o)),
                                       "--set", "kd_gate={on_weak_teacher: fail, min_gain: 0.05}"])
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert "NDCG@10" in line and "(needs > +5.0%)" in line and "fix: tune the teacher" in line
    assert "kd_gate.on_weak_teacher: warn or skip" in line and "Traceback" not in result.output
    assert "[student + KD]" not in result.output
    assert not list((tmp_path / "res").rglob("*.json"))  # no record of a run that stopped
