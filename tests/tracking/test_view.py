"""A run record as tracker data: metric names, flat params, model labels, curves and the recipe artefact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mmbench.recipe.load import load_recipe, recipe_hash
from mmbench.results.record import RunRecord
from mmbench.results.store import load_record
from mmbench.tracking.view import (MAX_PARAM_CHARS, flat_params, metric_key, model_labels, recipe_yaml,
                                   tracked_run)

ROOT = Path(__file__).resolve().parents[2]
# a committed KD record: teacher, KD student and its no-KD twin, with curves, latency, robustness and a KD report
QUICKSTART = sorted((ROOT / "results" / "runs" / "quickstart").glob("*.json"))[0]
MLFLOW_NAME = re.compile(r"^[/\w.\- ]*$", re.ASCII)  # what MLflow accepts on every OS (it adds ':' off Windows)


@pytest.fixture(scope="module")
def record() -> RunRecord:
    return load_record(QUICKSTART)


def with_baselines(record: RunRecord, keep: slice = slice(None)) -> RunRecord:
    """``record`` with two plain baselines in its recipe, and the results of the ``keep`` ones."""
    data = json.loads(record.model_dump_json())
    specs = [{"name": "pop", "params": {}}, {"name": "mf", "params": {"dim": 8}}]
    data["recipe"]["resolved"]["baselines"] = specs
    twin = next(m for m in data["models"] if m["without_kd_of"] == "student")
    data["models"] += [{**twin, "role": "baseline", "component": s["name"], "params": s["params"],
                        "without_kd_of": None} for s in specs[keep]]
    return RunRecord.model_validate(data)


@pytest.mark.parametrize(("column", "name"), [
    ("NDCG@10", "NDCG_at_10"), ("HR@5", "HR_at_5"), ("NDCG@20[cold]", "NDCG_at_20.cold"),
    ("latency_ms_p50", "latency_ms_p50"), ("ΔNDCG@10[no-text@50%]", "_NDCG_at_10.no-text_at_50_"),
    ("acme/kd-loss", "acme/kd-loss")])
def test_metric_key_gives_names_mlflow_accepts(column, name):
    assert metric_key(column) == name and MLFLOW_NAME.match(name)


def test_flat_params_dots_nested_keys_and_indexes_lists_of_specs():
    tree = {"student": {"name": "lightgcn", "params": {"dim": 64, "adapter": False}}, "imputer": None,
            "distill": [{"name": "rrd", "weight": 1.0}], "eval": {"ks": [5, 10]}, "modality_dropout": {},
            "note": "x" * (MAX_PARAM_CHARS + 5)}
    flat = flat_params(tree)
    assert flat == {"student.name": "lightgcn", "student.params.dim": "64", "student.params.adapter": "false",
                    "imputer": "null", "distill.0.name": "rrd", "distill.0.weight": "1.0", "eval.ks": "[5, 10]",
                    "modality_dropout": "{}", "note": "x" * (MAX_PARAM_CHARS - 1) + "…"}


def test_model_labels_follow_the_recipe(record):
    assert [(label, m.role) for label, m, _ in model_labels(record)] == [
        ("teacher", "teacher"), ("student", "student"), ("student_no_kd", "baseline")]
    full = with_baselines(record)
    assert [label for label, _, _ in model_labels(full)][3:] == ["baselines.0", "baselines.1"]
    assert [spec["name"] for _, _, spec in model_labels(full)][3:] == ["pop", "mf"]
    # a run that trained only the second baseline (a tuning trial) still calls it baselines.1
    assert [label for label, _, _ in model_labels(with_baselines(record, slice(1, 2)))][3:] == ["baselines.1"]


def test_tracked_run_holds_every_curve_and_final_value(record):
    run = tracked_run(record)
    points: dict[str, list[tuple[int, float]]] = {}
    for p in run.metrics:
        points.setdefault(p.key, []).append((p.step, p.value))
    assert run.name == record.run_id and run.end_ms - run.start_ms == int(record.timings["run_s"] * 1000)
    for label, m, _ in model_labels(record):
        assert points[f"{label}.loss"] == [(r["epoch"], r["loss"]) for r in m.history]
        assert points[f"{label}.valid_curve.NDCG_at_10"] == [(r["epoch"], r["valid"]) for r in m.history if "valid" in r]
        assert points[f"{label}.test.NDCG_at_10"] == [(0, m.metrics["test"]["NDCG@10"])]
        assert points[f"{label}.valid.HR_at_20"] == [(0, m.metrics["valid"]["HR@20"])]
        assert points[f"{label}.latency_ms_p50"] == [(0, m.latency["latency_ms_p50"])]
        assert points[f"{label}.best_epoch"] == [(0, m.best_epoch)]
        curve = m.robustness["curves"][0]
        assert points[f"{label}.robustness.text.none.NDCG_at_10"] == [
            (round(p["rate"] * 100), p["metrics"]["NDCG@10"]) for p in curve["points"]]
    student = next(m for label, m, _ in model_labels(record) if label == "student")
    assert points["student.distill.rrd"] == [(r["epoch"], r["distill"]["rrd"]) for r in student.history]
    assert points["kd.NDCG_at_10.retention"] == [(0, record.kd["metrics"]["NDCG@10"]["retention"])]
    assert points["kd.NDCG_at_10.gain"] == [(0, record.kd["metrics"]["NDCG@10"]["gain"])]
    assert points["kd.tests.vs_baseline.p"] == [(0, record.kd["tests"]["vs_baseline"]["p"])]
    assert all(MLFLOW_NAME.match(key) for key in points)


def test_slice_metrics_are_named_after_the_slice(record):
    data = json.loads(record.model_dump_json())
    data["models"][1]["slices"] = {"cold": {"pairs": 3, "users": 3, "metrics": {"NDCG@10": 0.25}}}
    keys = {p.key: p.value for p in tracked_run(RunRecord.model_validate(data)).metrics}
    assert keys["student.test.NDCG_at_10.cold"] == 0.25


def test_params_and_tags_name_the_recipe_data_and_code(record):
    run = tracked_run(record)
    assert run.params["student.name"] == "lightgcn" and run.params["teacher.params.dim"] == "64"
    assert run.params["distill.0.name"] == "rrd" and run.params["train.epochs"] == "100"
    assert run.params["seed"] == str(record.seed) and run.params["recipe_hash"] == record.recipe.hash
    assert run.params["git_sha"] == record.git["sha"] and run.params["torch_threads"] == "1"
    assert "description" not in run.params and run.tags["mlflow.note.content"] == record.recipe.resolved["description"]
    assert run.tags["mmbench.run_id"] == record.run_id and run.tags["mmbench.recipe"] == "quickstart"
    assert run.tags["mmbench.dataset_hash"] == record.dataset.content_hash
    assert run.tags["mmbench.split_hash"] == record.dataset.split_hash
    assert run.tags["mmbench.git_dirty"] == str(record.git["dirty"]).lower()
    gate = (record.kd or {}).get("gate")  # records from before the KD gate have none, and no tag
    assert run.tags.get("mmbench.kd_gate") == (None if gate is None else "passed" if gate["passed"] else
                                               "failed, distilled anyway" if gate["distilled"] else
                                               "failed, KD skipped")
    assert all(MLFLOW_NAME.match(key) for key in run.params)


def test_recipe_artefact_reloads_to_the_same_recipe(record, tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe_yaml(record))
    assert recipe_hash(load_recipe(path)) == record.recipe.hash
