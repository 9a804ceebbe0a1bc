"""`mmbench sweep --track mlflow`: a study's trials (pruned ones too) and a listed sweep's records in a real
MLflow store, read back with MlflowClient and checked against the study's own storage and records."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mmbench.cli import main
from mmbench.results.store import load_records
from mmbench.runner.sweep import load_sweep

RECIPE = """\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 300}}
student: {name: mf, params: {dim: 8}}
train: {epochs: 5, batch_size: 512, lr: 0.01, eval_every: 1, patience: 3, select_metric: NDCG@10}
eval: {ks: [5, 10]}
seeds: [0, 1]
"""

STUDY = """\
sweep_version: 1
name: st
recipe: tiny.yaml
select: {metric: NDCG@10, role: student}
search:
  trials: TRIALS
  sampler: {seed: 7, startup_trials: 2}
  pruner: {startup_trials: 2, warmup_epochs: 1}
  space:
    student.params.dim: {choice: [2, 4, 8]}
    train.lr: {log_uniform: [0.0005, 0.05]}
  tuned_recipe: tuned/st.yaml
"""

LISTED = """\
sweep_version: 1
name: ls
recipe: tiny.yaml
seeds: [0]
select: {metric: NDCG@10, role: student}
trials:
  - {name: d4, set: {student.params.dim: 4}}
  - {name: d8, set: {student.params.dim: 8}}
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("MMBENCH_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "tiny.yaml").write_text(RECIPE)
    return tmp_path


def sweep(folder: Path, file: str, *extra: str) -> str:
    result = CliRunner().invoke(main, ["sweep", str(folder / file), "-q", "--results-dir", str(folder / "res"),
                                       *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def study_trials(folder: Path) -> dict[int, tuple[str, float | None]]:
    with sqlite3.connect(folder / "res" / "sweeps" / "st" / "study.db") as con:
        rows = con.execute("SELECT t.number, t.state, v.value FROM trials t LEFT JOIN trial_values v "
                           "ON t.trial_id = v.trial_id").fetchall()
    return {n: (state.lower().replace("complete", "complete"), value) for n, state, value in rows}


def runs_by_kind(uri: str, experiment: str) -> tuple[MlflowClient, dict[str, list]]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    out: dict[str, list] = {}
    for run in client.search_runs([exp.experiment_id], max_results=1000):
        out.setdefault(run.data.tags.get("mmbench.kind", "record"), []).append(run)
    return client, out


def test_a_study_is_tracked_trial_by_trial_and_a_second_session_adds_only_what_is_new(folder):
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    # a first session without tracking, then one with it: the trials already ended are caught up
    (folder / "st.yaml").write_text(STUDY.replace("TRIALS", "2"))
    sweep(folder, "st.yaml")
    (folder / "st.yaml").write_text(STUDY.replace("TRIALS", "6"))
    out = sweep(folder, "st.yaml", "--track", "mlflow", "--tracking-uri", uri)
    assert "6 trial(s)" in out
    client, runs = runs_by_kind(uri, "st")
    [parent] = runs["study"]
    stored = study_trials(folder)
    assert len(stored) == 6 and {s for s, _ in stored.values()} == {"complete", "pruned"}
    trials = {int(r.data.tags["mmbench.trial"]): r for r in runs["trial"]}
    assert set(trials) == set(stored)  # every ended trial once, pruned ones too
    for number, run in trials.items():
        state, value = stored[number]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["mmbench.trial_state"] == state and run.info.status == "FINISHED"
        assert run.data.params["student.params.dim"] in ("2", "4", "8") and "train.lr" in run.data.params
        if state == "complete":
            assert run.data.metrics["valid.NDCG_at_10"] == pytest.approx(value, abs=0)
        curve = client.get_metric_history(run.info.run_id, "valid.NDCG_at_10.curve")
        assert curve and sorted(m.step for m in curve) == list(range(1, len(curve) + 1))
    # each complete trial's records sit under its trial run, and are the study's records, once each
    records = {r.run_id: r for r in load_records(folder / "res" / "sweeps" / "st")}
    logged = {r.data.tags["mmbench.run_id"]: r for r in runs["record"]}
    assert set(logged) == set(records)
    for run_id, run in logged.items():
        trial = trials[int(run.data.tags["mmbench.trial"])]
        assert run.data.tags["mlflow.parentRunId"] == trial.info.run_id
        assert run.data.tags["mmbench.recipe"] == records[run_id].recipe.name == trial.data.tags["mmbench.recipe"]
    complete = [n for n, (s, _) in stored.items() if s == "complete"]
    seeds = len(load_sweep(folder / "st.yaml").seeds)
    per_trial = [int(r.data.tags["mmbench.trial"]) for r in logged.values()]
    assert sorted(per_trial) == sorted(complete * seeds)  # every seed of a complete trial, none of a pruned one
    # the study's run: its space and budget, progress, best, and the files the study wrote
    assert parent.data.params["search.component"] == "mf" and parent.data.params["search.trials"] == "6"
    assert "log[" in parent.data.params["space.train.lr"]
    best = max(v for s, v in stored.values() if s == "complete")
    assert parent.data.metrics["best.valid.NDCG_at_10"] == pytest.approx(best, abs=0)
    assert parent.data.metrics["trials.complete"] == len(complete)
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"summary.json", "summary.md", "search.png", "st.yaml"} <= names
    summary = json.loads(Path(client.download_artifacts(parent.info.run_id, "summary.json", str(folder))).read_text())
    assert summary["best"]["value"] == pytest.approx(best, abs=0)
    # again, with nothing left to run: nothing new is logged
    again = sweep(folder, "st.yaml", "--track", "mlflow", "--tracking-uri", uri)
    assert "0 trial(s) and 0 record(s) logged" in again
    _, runs2 = runs_by_kind(uri, "st")
    assert {k: len(v) for k, v in runs2.items()} == {k: len(v) for k, v in runs.items()}


def test_a_listed_sweep_tracks_its_records_under_the_sweep_run(folder):
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    (folder / "ls.yaml").write_text(LISTED)
    out = sweep(folder, "ls.yaml", "--track", "mlflow", "--tracking-uri", uri, "--experiment", "mine")
    assert "2 record(s) logged" in out
    client, runs = runs_by_kind(uri, "mine")
    [parent] = runs["sweep"]
    assert parent.data.params["trial.d4"] == "student.params.dim=4"
    assert sorted(r.data.params["student.params.dim"] for r in runs["record"]) == ["4", "8"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in runs["record"])
    assert {"summary.json", "summary.md"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_a_bad_tracking_uri_fails_before_anything_runs(folder):
    (folder / "ls.yaml").write_text(LISTED)
    result = CliRunner().invoke(main, ["sweep", str(folder / "ls.yaml"), "--results-dir", str(folder / "res"),
                                       "--track", "mlflow", "--tracking-uri", f"sqlite:///{folder}/no/such/x.db"])
    assert result.exit_code != 0 and "does not exist" in result.output and "fix:" in result.output
    assert not (folder / "res" / "sweeps").exists()


def test_the_driver_calls_back_after_each_trial_it_ends_so_tracking_is_live(folder):
    from mmbench.runner.tune import run_study

    (folder / "st.yaml").write_text(STUDY.replace("TRIALS", "3"))
    seen: list[int] = []
    db = folder / "res" / "sweeps" / "st" / "study.db"

    def on_trial_end() -> None:  # by then the trial is stored, so a tracker reading the storage finds it
        with sqlite3.connect(db) as con:
            seen.append(con.execute("SELECT COUNT(*) FROM trials WHERE state != 'RUNNING'").fetchone()[0])

    run = run_study(load_sweep(folder / "st.yaml"), results_dir=folder / "res", log=lambda _: None,
                    progress=lambda _: None, on_trial_end=on_trial_end)
    assert run.ended == 3 and seen == [1, 2, 3]
