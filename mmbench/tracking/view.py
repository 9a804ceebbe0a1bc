"""What one run record looks like to an experiment tracker: flat params, tags and metric points.

Plain data in, plain data out (no tracker is imported here), so the names below are the contract the README
documents and the tests check. A model's label is where it sits in the recipe: ``teacher``, ``student``,
``student_no_kd`` (the KD student's same-budget twin trained without KD) and ``baselines.<i>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from mmbench.results.record import ModelResult, RunRecord

MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value; the full recipe is an artefact anyway
_LATENCY = ("latency_ms_p50", "latency_ms_p95", "latency_enc_ms_p50", "latency_enc_ms_p95", "refresh_ms",
            "throughput_users_per_s")  # measurements; the latency dict's other numbers are its settings


@dataclass(frozen=True)
class Point:
    """One metric value: a final value at step 0, or one point of a curve (step = epoch, or missing rate in %)."""

    key: str
    value: float
    step: int = 0


@dataclass(frozen=True)
class TrackedRun:
    """One run record as a tracker run: its name (the record's ``run_id``), params, tags, metrics, times."""

    name: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: list[Point]
    start_ms: int
    end_ms: int


def metric_key(column: str) -> str:
    """A tracker-safe name for a metric column: ``NDCG@10`` → ``NDCG_at_10``, ``NDCG@20[cold]`` → ``NDCG_at_20.cold``.

    MLflow names hold only letters, digits, ``_ - . /`` and spaces; anything else becomes ``_``.
    """
    name = re.sub(r"\[([^\]]*)\]", r".\1", column.replace("@", "_at_"))
    return re.sub(r"[^\w\-./ ]", "_", name, flags=re.ASCII)


def flat_params(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings (and lists of mappings) as dotted keys with text values: ``student.params.dim: "64"``,
    ``distill.0.name: "rrd"``; other lists and scalars as JSON (``eval.ks: "[5, 10, 20]"``), strings as is."""
    out: dict[str, str] = {}
    for k, v in tree.items():
        key = metric_key(f"{prefix}{k}")
        if isinstance(v, Mapping) and v:
            out.update(flat_params(v, f"{key}."))
        elif isinstance(v, list) and v and all(isinstance(x, Mapping) for x in v):
            for i, item in enumerate(v):
                out.update(flat_params(item, f"{key}.{i}."))
        else:
            out[key] = param_text(v)
    return out


def param_text(value: Any) -> str:
    """A param value as text: strings as is, anything else as JSON, cut to MLflow's limit."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_PARAM_CHARS else text[:MAX_PARAM_CHARS - 1] + "…"


def model_labels(record: RunRecord) -> Iterator[tuple[str, ModelResult, dict[str, Any]]]:
    """Each model of ``record`` with its label and its spec in the resolved recipe."""
    resolved = record.recipe.resolved
    baselines = list(enumerate(resolved.get("baselines") or []))
    for m in record.models:
        if m.role == "teacher":
            yield "teacher", m, resolved.get("teacher") or {}
        elif m.role == "student" or m.without_kd_of == "student":
            yield ("student" if m.role == "student" else "student_no_kd"), m, resolved["student"]
        else:  # the baseline with this component and params (a tuning trial may have kept only some)
            at = next((j for j, (_, b) in enumerate(baselines)
                       if b.get("name") == m.component and b.get("params", {}) == m.params), 0)
            i, spec = baselines.pop(at) if baselines else (len(resolved.get("baselines") or []), {})
            yield f"baselines.{i}", m, spec


def _select_metric(record: RunRecord, spec: Mapping[str, Any]) -> str:
    train = {**record.recipe.resolved.get("train", {}), **(spec.get("train") or {})}
    return str(train.get("select_metric", "NDCG@10"))


def model_points(label: str, m: ModelResult, select_metric: str) -> list[Point]:
    """A model's final metrics (step 0) and curves: loss, distillation terms, epoch seconds and the validation
    metric per epoch; the test metrics at every missing-modality rate (step = rate in %)."""
    out = [Point(f"{label}.{split}.{metric_key(col)}", v)
           for split, values in (("valid", m.metrics["valid"]), ("test", m.test_values())) for col, v in values.items()]
    out += [Point(f"{label}.best_epoch", m.best_epoch), Point(f"{label}.epochs_run", m.epochs_run)]
    out += [Point(f"{label}.size.{k}", v) for k, v in m.size.items()]
    out += [Point(f"{label}.timings.{k}", v) for k, v in m.timings.items()]
    out += [Point(f"{label}.{k}", (m.latency or {})[k]) for k in _LATENCY if (m.latency or {}).get(k) is not None]
    for row in m.history:
        epoch = int(row["epoch"])
        out += [Point(f"{label}.loss", row["loss"], epoch), Point(f"{label}.epoch_s", row["seconds"], epoch)]
        out += [Point(f"{label}.distill.{metric_key(k)}", v, epoch) for k, v in (row.get("distill") or {}).items()]
        if "valid" in row:
            out.append(Point(f"{label}.valid_curve.{metric_key(select_metric)}", row["valid"], epoch))
    for curve in (m.robustness or {}).get("curves", []):
        name = curve["imputer"] + ("-test-only" if curve.get("imputer_at_test_only") else "")
        prefix = f"{label}.robustness.{metric_key(curve['modality'])}.{metric_key(name)}"
        out += [Point(f"{prefix}.{metric_key(col)}", v, round(p["rate"] * 100))
                for p in curve["points"] for col, v in p["metrics"].items()]
    return out


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def kd_points(kd: Mapping[str, Any] | None) -> list[Point]:
    """The KD report's numbers: per metric retention, gain and the three values; ratios; paired tests; gate."""
    if not kd:
        return []
    out = [Point(f"kd.{metric_key(col)}.{k}", v) for col, values in kd.get("metrics", {}).items()
           for k, v in values.items() if _number(v)]
    out += [Point(f"kd.{k}", v) for k, v in kd.items() if k.endswith("_ratio") and _number(v)]
    for side in ("vs_baseline", "vs_teacher"):
        test = (kd.get("tests") or {}).get(side) or {}
        out += [Point(f"kd.tests.{side}.{k}", v) for k, v in test.items() if _number(v)]
    gate = kd.get("gate") or {}
    out += [Point(f"kd.gate.{k}", v) for k, v in gate.items() if _number(v)]
    return out


def _gate_tag(kd: Mapping[str, Any] | None) -> str | None:
    gate = (kd or {}).get("gate")
    if not gate:
        return None
    return "passed" if gate["passed"] else ("failed, distilled anyway" if gate["distilled"] else "failed, KD skipped")


def tracked_run(record: RunRecord) -> TrackedRun:
    """Everything a tracker logs of ``record`` but its artefacts (the record itself and :func:`recipe_yaml`)."""
    resolved = {k: v for k, v in record.recipe.resolved.items() if k != "description"}  # a note, not a param
    params = {**flat_params(resolved), "seed": str(record.seed), "recipe_hash": record.recipe.hash,
              "git_sha": str(record.git.get("sha")), "mmbench_version": record.versions.get("mmbench", "unknown"),
              "torch_threads": str(record.hardware.get("torch_threads")), "device": str(record.hardware.get("device"))}
    dirty = record.git.get("dirty")
    tags = {"mmbench.run_id": record.run_id, "mmbench.recipe": record.recipe.name,
            "mmbench.recipe_hash": record.recipe.hash, "mmbench.version": record.versions.get("mmbench", "unknown"),
            "mmbench.dataset": record.dataset.key, "mmbench.dataset_hash": record.dataset.content_hash,
            "mmbench.split": record.dataset.split, "mmbench.split_hash": record.dataset.split_hash,
            "mmbench.git_dirty": "unknown" if dirty is None else str(dirty).lower(),
            "mmbench.hardware": str(record.hardware.get("tag")), "mmbench.seed": str(record.seed),
            "mlflow.source.git.commit": str(record.git.get("sha")),
            **{f"versions.{k}": v for k, v in record.versions.items()}}
    if record.recipe.resolved.get("description"):
        tags["mlflow.note.content"] = str(record.recipe.resolved["description"])  # the run's description in the UI
    if gate := _gate_tag(record.kd):
        tags["mmbench.kd_gate"] = gate
    metrics = [p for label, m, spec in model_labels(record) for p in model_points(label, m, _select_metric(record, spec))]
    metrics += kd_points(record.kd) + [Point(f"timings.{k}", v) for k, v in record.timings.items()]
    end = int(datetime.fromisoformat(record.created_at).timestamp() * 1000)
    return TrackedRun(record.run_id, params, tags, metrics, end - int(record.timings.get("run_s", 0.0) * 1000), end)


def recipe_yaml(record: RunRecord) -> str:
    """The resolved recipe as YAML (every default filled in): ``mmbench run`` on it repeats the run."""
    return yaml.safe_dump(record.recipe.resolved, sort_keys=False, allow_unicode=True)
