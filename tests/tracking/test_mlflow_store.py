"""Run records in a real MLflow store, read back with MlflowClient: params, tags, curves, metrics, artefacts."""

from __future__ import annotations

import json
import re
import socket
import sys

import pytest
from mlflow.tracking import MlflowClient

from mmbench.errors import TrackingError
from mmbench.recipe.load import load_recipe, recipe_hash
from mmbench.tracking import mlflow_store
from mmbench.tracking.mlflow_store import MlflowTracker, resolve_uri
from mmbench.tracking.view import metric_key, model_labels, tracked_run


def the_run(tracked):
    client = MlflowClient(tracked.uri)
    [run] = client.search_runs([client.get_experiment_by_name("tiny-kd").experiment_id])
    return client, run


def test_one_finished_run_per_record_with_its_params_and_tags(tracked):
    _, run = the_run(tracked)
    rec, params, tags = tracked.record, run.data.params, run.data.tags
    assert run.info.status == "FINISHED" and run.info.run_name == rec.run_id
    assert params["dataset.name"] == "lastfm" and params["dataset.split"] == "given"
    assert params["teacher.name"] == "mm-gnn" and params["teacher.fusion.name"] == "concat"
    assert params["student.name"] == "lightgcn" and params["student.params.dim"] == "8"
    assert params["baselines.0.name"] == "pop" and params["encoders.text.params.feature"] == "text-minilm"
    assert params["distill.0.name"] == "rrd" and params["distill.0.weight"] == "0.5"
    assert params["train.epochs"] == "3" and params["eval.ks"] == "[10]" and params["seed"] == "0"
    assert params["recipe_hash"] == rec.recipe.hash and params["git_sha"] == rec.git["sha"]
    assert params["torch_threads"] == str(rec.hardware["torch_threads"])
    assert params["mmbench_version"] == rec.versions["mmbench"]
    assert tags["mmbench.run_id"] == rec.run_id and tags["mmbench.recipe"] == "tiny-kd"
    assert tags["mmbench.dataset_hash"] == rec.dataset.content_hash and tags["mmbench.split_hash"] == rec.dataset.split_hash
    assert tags["mmbench.git_dirty"] == str(rec.git["dirty"]).lower() and tags["mmbench.version"] == rec.versions["mmbench"]
    gate = rec.kd["gate"]
    assert tags["mmbench.kd_gate"] == ("passed" if gate["passed"] else "failed, distilled anyway")
    assert tags["mlflow.note.content"] == "a tiny KD run for the tracking tests"


def test_curves_are_metric_histories_equal_to_the_record(tracked):
    client, run = the_run(tracked)

    def history(key):
        return [(m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]

    labels = {label: m for label, m, _ in model_labels(tracked.record)}
    assert set(labels) == {"teacher", "student", "student_no_kd", "baselines.0"}
    for label in ("teacher", "student", "student_no_kd"):
        rows = labels[label].history
        assert len(rows) == 3 and history(f"{label}.loss") == [(r["epoch"], r["loss"]) for r in rows]
        assert history(f"{label}.valid_curve.NDCG_at_10") == [(r["epoch"], r["valid"]) for r in rows]
    assert history("student.distill.rrd") == [(r["epoch"], r["distill"]["rrd"]) for r in labels["student"].history]
    teacher_text = labels["teacher"].robustness["curves"][0]
    assert history("teacher.robustness.text.none.NDCG_at_10") == [
        (round(p["rate"] * 100), p["metrics"]["NDCG@10"]) for p in teacher_text["points"]]


def test_final_metrics_equal_the_record(tracked):
    _, run = the_run(tracked)
    metrics, rec = run.data.metrics, tracked.record
    for label, m, _ in model_labels(rec):
        for split in ("valid", "test"):
            for col, value in m.metrics[split].items():
                assert metrics[f"{label}.{split}.{metric_key(col)}"] == value
        assert metrics[f"{label}.latency_ms_p50"] == m.latency["latency_ms_p50"]
        assert metrics[f"{label}.size.params"] == m.size["params"]
    for col, values in rec.kd["metrics"].items():
        assert metrics[f"kd.{metric_key(col)}.retention"] == values["retention"]
        assert metrics[f"kd.{metric_key(col)}.gain"] == values["gain"]
    assert metrics["kd.params_ratio"] == rec.kd["params_ratio"]
    assert set(metrics) == {p.key for p in tracked_run(rec).metrics}  # nothing the record holds went missing


def test_artefacts_are_the_record_and_its_resolved_recipe(tracked, tmp_path):
    client, run = the_run(tracked)
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"run_record.json", "recipe.yaml"}
    record = client.download_artifacts(run.info.run_id, "run_record.json", str(tmp_path))
    assert json.loads(open(record, encoding="utf-8").read()) == json.loads(tracked.record_path.read_text())
    recipe = client.download_artifacts(run.info.run_id, "recipe.yaml", str(tmp_path))
    assert recipe_hash(load_recipe(recipe)) == tracked.record.recipe.hash  # `mmbench run` on it repeats the run


def test_a_record_already_logged_is_skipped(tracked):
    client, run = the_run(tracked)
    assert MlflowTracker(tracked.uri).log_record(tracked.record_path) == (run.info.run_id, False)
    assert len(client.search_runs([run.info.experiment_id])) == 1
    # -q: the run printed only its closing line on tracking
    assert f"MLflow at {tracked.uri}: 1 record(s) logged" in tracked.output and "tracked: " not in tracked.output


def test_a_deleted_experiment_is_an_error_naming_the_fix(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = MlflowTracker(uri)
    tracker.client.delete_experiment(tracker.experiment_id("gone"))
    with pytest.raises(TrackingError, match="experiment 'gone' .* is deleted; fix: restore it"):
        MlflowTracker(uri).experiment_id("gone")
    # artefacts sit beside the database, not in the folder the run started from
    assert MlflowClient(uri).get_experiment_by_name("gone").artifact_location == (tmp_path / "mlruns" / "gone").as_uri()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("uri", "says"), [
    (f"http://127.0.0.1:{closed_port()}", "check the address and that the server runs"),
    ("foo://somewhere", re.escape("use sqlite:///PATH.db, http(s)://HOST:PORT")),
    ("no-such-folder/mlflow.db", "set MLFLOW_ALLOW_FILE_STORE=true"),  # a plain path is MLflow's file store
    ("sqlite:///no-such-folder/mlflow.db", "the folder .* does not exist"),
])
def test_a_bad_tracking_uri_is_one_error_naming_the_fix(uri, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(TrackingError, match=says) as err:
        MlflowTracker(uri)
    assert "\n" not in str(err.value) and "fix: " in str(err.value)


def test_uris_resolve_to_absolute_local_stores(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_uri(None) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert resolve_uri("sqlite:///x/m.db") == f"sqlite:///{tmp_path / 'x' / 'm.db'}"
    assert resolve_uri("runs") == (tmp_path / "runs").as_uri()
    assert resolve_uri("http://host:5000") == "http://host:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert resolve_uri(None) == "http://env:5000" and resolve_uri("sqlite:////a.db") == "sqlite:////a.db"


def test_without_mlflow_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` fails as if it were not installed
    with pytest.raises(TrackingError, match=r'fix: pip install "mmbench\[track\]"'):
        mlflow_store.import_mlflow()
