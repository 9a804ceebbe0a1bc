"""``mmbench run --track`` and ``mmbench track`` through click's CliRunner, on real runs and committed records."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "results" / "runs" / "quickstart"
TINY = ("schema_version: 1\nname: tiny\ndataset: {name: amazon-beauty, params: {max_users: 200}}\n"
        "student: {name: mf, params: {dim: 8}}\ntrain: {epochs: 1, batch_size: 512}\n")


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def recipe(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture
def no_mlflow(monkeypatch):
    """`import mlflow` fails, as if the package were not installed."""
    monkeypatch.setitem(sys.modules, "mlflow", None)


def test_tracking_is_off_by_default_and_never_imports_mlflow(cli, recipe, tmp_path, monkeypatch, no_mlflow):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MMBENCH_TRACKING", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'env.db'}")  # MLflow's variable alone: off
    result = cli("run", str(recipe), "--results-dir", str(tmp_path / "res"), "-q")
    assert result.exit_code == 0, result.output  # with mlflow unimportable: nothing tried to import it
    assert len(list((tmp_path / "res" / "runs" / "tiny").glob("*.json"))) == 1
    assert not {"mlflow.db", "env.db", "mlruns"} & {p.name for p in tmp_path.iterdir()}
    assert "MLflow" not in result.output


def test_tracking_without_mlflow_installed_names_the_extra_before_training(cli, recipe, tmp_path, monkeypatch,
                                                                          no_mlflow):
    monkeypatch.setenv("MMBENCH_TRACKING", "mlflow")  # the recipe-independent switch
    result = cli("run", str(recipe), "--results-dir", str(tmp_path / "res"))
    assert result.exit_code == 2 and 'fix: pip install "mmbench[track]"' in result.output
    assert "Traceback" not in result.output and not (tmp_path / "res").exists()  # nothing ran


def test_an_unreachable_server_fails_before_training(cli, recipe, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = cli("run", str(recipe), "--results-dir", str(tmp_path / "res"), "--track", "mlflow",
                 "--tracking-uri", f"http://127.0.0.1:{port}")
    assert result.exit_code == 2 and f"MLflow tracking URI http://127.0.0.1:{port} does not work" in result.output
    assert "fix: check the address" in result.output and not (tmp_path / "res").exists()


def test_tracking_options_without_track_are_refused(cli, recipe, tmp_path, monkeypatch):
    monkeypatch.delenv("MMBENCH_TRACKING", raising=False)
    result = cli("run", str(recipe), "--results-dir", str(tmp_path / "res"), "--experiment", "x")
    assert result.exit_code == 2 and "apply only with --track mlflow" in result.output
    assert not (tmp_path / "res").exists()


def test_a_failed_log_keeps_the_record_exits_1_and_track_logs_it_later(cli, recipe, tmp_path, monkeypatch):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    def server_gone(*args, **kwargs):
        raise MlflowException("the server went away")

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "log_batch", server_gone)
        result = cli("run", str(recipe), "--results-dir", str(tmp_path / "res"), "--track", "mlflow",
                     "--tracking-uri", uri, "--experiment", "kept")
    [record] = (tmp_path / "res" / "runs" / "tiny").glob("*.json")
    assert result.exit_code == 1 and "the server went away" in result.output and "the record is kept" in result.output
    assert f"mmbench track {record}" in result.output and "1 FAILED" in result.output
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("kept").experiment_id
    assert [r.info.status for r in client.search_runs([exp])] == ["FAILED"]
    again = cli("track", str(record), "--tracking-uri", uri, "--experiment", "kept")
    assert again.exit_code == 0, again.output
    [run] = client.search_runs([exp])  # the failed attempt is replaced, not duplicated
    assert run.info.status == "FINISHED" and run.data.tags["mmbench.run_id"] == json.loads(record.read_text())["run_id"]


def test_track_logs_committed_records_once(cli, tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = cli("track", str(QUICKSTART), "--tracking-uri", uri)
    assert first.exit_code == 0 and "3 record(s) logged" in first.output, first.output
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
    records = {json.loads(p.read_text())["run_id"]: json.loads(p.read_text()) for p in QUICKSTART.glob("*.json")}
    assert {r.data.tags["mmbench.run_id"] for r in runs} == set(records)
    for run in runs:
        rec = records[run.data.tags["mmbench.run_id"]]
        assert run.data.params["seed"] == str(rec["seed"])
        assert run.data.metrics["student.test.NDCG_at_10"] == rec["models"][1]["metrics"]["test"]["NDCG@10"]
    second = cli("track", str(QUICKSTART), "--tracking-uri", uri)
    assert second.exit_code == 0 and "0 record(s) logged, 3 already there" in second.output
    assert len(client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])) == 3


def test_track_refuses_a_file_that_is_not_a_record_before_logging(cli, tmp_path):
    bad = tmp_path / "runs" / "notes.json"
    bad.parent.mkdir()
    bad.write_text('{"hello": 1}')
    result = cli("track", str(bad.parent), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert result.exit_code == 2 and f"{bad}: not a valid run record" in result.output
    assert not (tmp_path / "mlflow.db").exists()
