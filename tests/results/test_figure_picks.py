"""The headline models of a dataset's figures: the rule in mmbench.results.figure_picks, by hand."""

from __future__ import annotations

import math
import random
from typing import Any

from _figures import crowded
from mmbench.results.figure_picks import headline_picks


def row(recipe: str, role: str, component: str, ndcg: float) -> dict[str, Any]:
    return {"recipe": recipe, "dataset": "d", "split": "s", "role": role, "component": component, "NDCG@10": ndcg}


def kd(recipe: str, teacher: str = "mm-gnn", student: str = "lightgcn") -> list[dict[str, Any]]:
    return [{"recipe": recipe, "dataset": "d", "split": "s", "role": role, "component": comp, "kd": part}
            for role, comp, part in (("teacher", teacher, "teacher"), ("student", student, "KD student"),
                                     ("baseline", student, "no-KD student"))]


def kd_rows(recipe: str, teacher: float, student: float, twin: float) -> list[dict[str, Any]]:
    return [row(recipe, "teacher", "mm-gnn", teacher), row(recipe, "student", "lightgcn", student),
            row(recipe, "baseline", "lightgcn", twin)]


def picked(picks: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(p["pick"], p["recipe"], p["role"]) for p in picks]


def test_the_kd_recipe_with_the_best_kd_student_and_the_best_teacher() -> None:
    rows = (kd_rows("kd-a", 0.30, 0.25, 0.20) + kd_rows("kd-b", 0.28, 0.27, 0.21)
            + [row("teacher-only", "teacher", "freedom", 0.31), row("ease", "student", "ease", 0.40)])
    picks = headline_picks(rows, kd("kd-a") + kd("kd-b"))
    # kd-b's KD student beats kd-a's, whatever their teachers; the best teacher is another recipe's
    assert picked(picks) == [("best teacher", "teacher-only", "teacher"), ("teacher", "kd-b", "teacher"),
                             ("KD student", "kd-b", "student"), ("no-KD student", "kd-b", "baseline")]
    assert picks[0]["NDCG@10"] == 0.31 and "pick" not in rows[-2]  # copies: the rows are left as they were


def test_the_best_teacher_is_named_once_when_it_is_the_kd_recipes() -> None:
    rows = kd_rows("kd-a", 0.35, 0.25, 0.20) + [row("teacher-only", "teacher", "freedom", 0.31)]
    assert picked(headline_picks(rows, kd("kd-a"))) == [
        ("teacher", "kd-a", "teacher"), ("KD student", "kd-a", "student"), ("no-KD student", "kd-a", "baseline")]


def test_a_kd_recipe_missing_a_model_here_is_not_a_candidate() -> None:
    # kd-b's twin has no row (e.g. no latency measured): its KD student, though better, cannot lead
    rows = kd_rows("kd-a", 0.30, 0.25, 0.20) + kd_rows("kd-b", 0.30, 0.29, 0.2)[:2]
    assert [p["recipe"] for p in headline_picks(rows, kd("kd-a") + kd("kd-b"))] == ["kd-a"] * 3


def test_without_a_kd_recipe_the_best_of_each_role() -> None:
    rows = [row("a", "student", "mf", 0.2), row("b", "student", "lightgcn", 0.3), row("b", "baseline", "pop", 0.1),
            row("c", "teacher", "vbpr", 0.25), row("c", "teacher", "bm3", math.nan)]
    assert picked(headline_picks(rows, [])) == [("best teacher", "c", "teacher"), ("best student", "b", "student"),
                                                ("best baseline", "b", "baseline")]
    assert headline_picks([], []) == []


def test_ties_never_depend_on_the_order_of_rows() -> None:
    rows = kd_rows("kd-b", 0.3, 0.25, 0.2) + kd_rows("kd-a", 0.3, 0.25, 0.2)
    kds = kd("kd-a") + kd("kd-b")
    first = headline_picks(rows, kds)
    assert {p["recipe"] for p in first} == {"kd-a"}  # the name that sorts first
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    assert headline_picks(shuffled, kds) == first


def test_kd_members_of_another_dataset_never_match() -> None:
    other = [{**m, "dataset": "other"} for m in kd("kd-a")]
    assert [p["pick"] for p in headline_picks(kd_rows("kd-a", 0.3, 0.25, 0.2), other)] == [
        "best teacher", "best student", "best baseline"]


def test_crowded_dataset() -> None:
    lb, _, kds = crowded()
    picks = headline_picks(lb, kds)
    students = [r for r in lb if r["role"] == "student" and r["recipe"].startswith("beauty-kd-")]
    best = max(students, key=lambda r: r["NDCG@10"])["recipe"]
    assert [p["recipe"] for p in picks if p["pick"] != "best teacher"] == [best] * 3
    assert max(r["NDCG@10"] for r in lb if r["role"] == "teacher") == picks[0]["NDCG@10"]
