"""The Ray backend on a real two-node Ray cluster on this machine (a head and a second node on loopback, each
with its own CPU): a study whose second node is killed mid-trial still ends its budget, with every record
written once; explicit sweeps and plain multi-recipe, multi-seed runs land their records where the local
backend does."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mmbench.results.store import load_records

pytestmark = pytest.mark.integration

RAY = str(Path(sys.executable).with_name("ray"))
RECIPE = """\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 1500}}
student: {name: mf, params: {dim: 16}}
train: {epochs: 30, batch_size: 256, lr: 0.01, eval_every: 1, patience: 40, select_metric: NDCG@10}
eval: {ks: [10]}
seeds: [0, 1]
"""
STUDY = """\
sweep_version: 1
name: two-nodes
recipe: tiny.yaml
search:
  trials: 5
  sampler: {seed: 1, startup_trials: 3}
  pruner: {name: none}
  tuned_recipe: tuned.yaml
"""
SWEEP = """\
sweep_version: 1
name: explicit
recipe: tiny.yaml
trials:
  - {name: a, set: {train.epochs: 2}}
  - {name: b, set: {train.epochs: 3}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reported_running(db: Path) -> int:
    """How many running trials have reported at least two validation values to the study."""
    with sqlite3.connect(db) as con:
        return con.execute("SELECT COUNT(*) FROM (SELECT t.trial_id FROM trials t JOIN trial_intermediate_values v "
                           "ON t.trial_id = v.trial_id WHERE t.state = 'RUNNING' GROUP BY t.trial_id "
                           "HAVING COUNT(*) >= 2)").fetchone()[0]


def _second_node_raylet() -> psutil.Process:
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "raylet/raylet" in cmd and "mmbench_second_node" in cmd:
            return proc
    raise AssertionError("the second node's raylet is not running")


def _session_processes(session: str, port: int) -> list[psutil.Process]:
    """Every process of one Ray session: those naming its session folder (GCS, raylets, agents, monitors) or its
    GCS port (the client server), and their children (the workers, renamed ``ray::…``)."""
    own = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if session in cmd or ("ray" in cmd and f":{port} " in f"{cmd} "):
                own.append(proc)
        except psutil.Error:
            continue
    kids = []
    for proc in own:
        try:
            kids += proc.children(recursive=True)
        except psutil.Error:
            continue
    return list({p.pid: p for p in own + kids}.values())


def _stop_session(session: str, port: int) -> None:
    """Stop this fixture's cluster only: `ray stop` would also kill every other Ray cluster on the machine (a
    user's running study)."""
    procs = _session_processes(session, port)
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=30)
    # what `ray stop` also does: forget the address `ray start --head` recorded, now that nothing serves it
    current = Path("/tmp/ray/ray_current_cluster")
    if current.exists() and current.read_text().strip().endswith(f":{port}"):
        current.unlink()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray head (1 CPU) and a second Ray node (1 CPU, resource `mmbench_second_node`), both on this machine.

    Token auth with a token of the fixture's own (``RAY_AUTH_TOKEN``): a fresh machine has no ``~/.ray/auth_token``,
    and ``ray start`` with ``RAY_AUTH_MODE=token`` refuses to start without one."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32), "OMP_NUM_THREADS": "1"}
    port = _free_port()
    address = f"127.0.0.1:{port}"
    session = None
    try:
        subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
                        "--disable-usage-stats"], env=env, check=True, capture_output=True, timeout=120)
        session = Path(os.path.realpath("/tmp/ray/session_latest")).name  # the session `ray start --head` made
        assert session.startswith("session_"), session
        subprocess.run([RAY, "start", f"--address={address}", "--num-cpus=1",
                        '--resources={"mmbench_second_node": 1}'], env=env, check=True, capture_output=True,
                       timeout=120)
        yield address, env
    finally:
        if session is not None:
            _stop_session(session, port)
            assert not _session_processes(session, port), "the fixture's cluster outlived its teardown"


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "tiny.yaml").write_text(RECIPE)
    (tmp_path / "study.yaml").write_text(STUDY)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    return tmp_path


def test_study_survives_losing_a_node_with_every_record_intact(cluster, tmp_path):
    address, env = cluster
    folder = _folder(tmp_path)
    env = {**env, "MMBENCH_CACHE_DIR": str(folder / "cache"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    uri = f"sqlite:///{folder / 'mlflow.db'}"  # tracked as it runs: each trial logged by the driver as it ends
    cmd = [sys.executable, "-m", "mmbench", "sweep", str(folder / "study.yaml"), "--backend", "ray", "--address",
           address, "--workers", "2", "-q", "--results-dir", str(folder / "res"), "--track", "mlflow",
           "--tracking-uri", uri]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started, killed, lines = 0, None, []
    assert proc.stderr is not None
    db = folder / "res" / "sweeps" / "two-nodes" / "study.db"
    for line in proc.stderr:
        lines.append(line)
        started += "started" in line
        if started == 2 and killed is None:  # both nodes busy: the second node dies mid-trial, once both
            while _reported_running(db) < 2:  # running trials have reported a validation value
                time.sleep(0.5)
            raylet = _second_node_raylet()
            killed = raylet.pid
            for child in raylet.children(recursive=True):
                child.send_signal(signal.SIGKILL)
            raylet.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, "".join(lines[-30:]) + out
    assert killed is not None
    with sqlite3.connect(db) as con:
        states = [s for (s,) in con.execute("SELECT state FROM trials ORDER BY number")]
    assert states.count("COMPLETE") == 5, states  # no pruner: every trial of the budget completes
    records = load_records(folder / "res" / "sweeps" / "two-nodes")
    keys = [(r.recipe.name, r.seed) for r in records]
    assert len(keys) == len(set(keys)) == 5  # one record per trial (one seed each), none lost, none twice
    summary = json.loads((folder / "res" / "sweeps" / "two-nodes" / "summary.json").read_text())
    assert summary["complete"] and summary["sessions"][-1]["backend"] == "ray"
    # the trial that ran on the killed node was run again by Ray (its second attempt reported from the start)
    assert max(t["attempts"] for t in summary["trials"]) == 2, [t["attempts"] for t in summary["trials"]]
    assert (folder / "tuned.yaml").is_file()
    # MLflow: the study's run, the 5 ended trials under it (the lost attempt is not a trial), a record under each
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("two-nodes").experiment_id], max_results=100)
    kinds = sorted(r.data.tags.get("mmbench.kind", "record") for r in runs)
    assert kinds == ["record"] * 5 + ["study"] + ["trial"] * 5, kinds
    trial_runs = {r.info.run_id for r in runs if r.data.tags.get("mmbench.kind") == "trial"}
    assert {r.data.tags["mlflow.parentRunId"] for r in runs if "mmbench.run_id" in r.data.tags} == trial_runs


def test_explicit_sweep_and_multi_seed_run_on_ray(cluster, tmp_path):
    address, env = cluster
    folder = _folder(tmp_path)
    env = {**env, "MMBENCH_CACHE_DIR": str(folder / "cache")}
    res = folder / "res"
    sweep = subprocess.run([sys.executable, "-m", "mmbench", "sweep", str(folder / "sweep.yaml"), "--backend", "ray",
                            "--address", address, "--workers", "2", "-q", "--results-dir", str(res)], env=env,
                           capture_output=True, text=True, timeout=600)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    recs = load_records(res / "sweeps" / "explicit")
    assert sorted((r.recipe.name, r.seed) for r in recs) == [
        ("explicit.a", 0), ("explicit.a", 1), ("explicit.b", 0), ("explicit.b", 1)]
    (folder / "other.yaml").write_text(RECIPE.replace("dim: 16", "dim: 8"))
    run = subprocess.run([sys.executable, "-m", "mmbench", "run", str(folder / "tiny.yaml"), str(folder / "other.yaml"),
                          "--set", "train.epochs=2",
                          "--backend", "ray", "--address", address, "--workers", "2", "-q", "--results-dir",
                          str(res)], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted((r.recipe.name, r.seed) for r in load_records(res)) == [
        ("other", 0), ("other", 1), ("tiny", 0), ("tiny", 1)]
    assert "[4/4]" in run.stderr  # both recipes' seeds in one pool, not two pools of two
    assert {r.recipe.name: Path(r.recipe.path).name for r in load_records(res)} == {"tiny": "tiny.yaml",
                                                                                   "other": "other.yaml"}


FEATURES = """\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 200}}
encoders:
  text: {name: minilm, template: "{title_keywords}[. Brand: {brand}]"}
student: {name: pop}
"""


def _feature_entry(cache: Path) -> dict[str, bytes]:
    entries = [p for p in (cache / "features" / "minilm").iterdir() if p.is_dir()]
    assert len(entries) == 1, entries
    return {"key": entries[0].name.encode(), **{f: (entries[0] / f).read_bytes()
                                                for f in ("values.npy", "available.npy")}}


def test_features_on_ray_data_workers_equal_the_local_path_byte_for_byte(cluster, tmp_path):
    """`mmbench features --backend ray`: MiniLM over the items as Ray Data batches on two actors (one per node of
    the loopback cluster), written to the same content-keyed cache entry as the local path, byte for byte."""
    address, env = cluster
    (tmp_path / "f.yaml").write_text(FEATURES)
    out = {}
    for backend in ("local", "ray"):
        cache = tmp_path / backend
        args = ["--backend", "ray", "--address", address, "--workers", "2"] if backend == "ray" else []
        proc = subprocess.run([sys.executable, "-m", "mmbench", "features", str(tmp_path / "f.yaml"), *args],
                              env={**env, "MMBENCH_CACHE_DIR": str(cache)}, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "extracted" in proc.stderr and "minilm" in proc.stdout
        out[backend] = _feature_entry(cache)
        meta = json.loads(next((cache / "features" / "minilm").iterdir()).joinpath("meta.json").read_text())
        assert meta["shape"][0] > 2 * 256  # several chunks, so the actors shared the work
        assert meta.get("backend", "local").startswith(backend)
    assert out["ray"] == out["local"]


def test_features_on_ray_refuse_an_encoder_that_reads_the_dataset(tmp_path):
    from mmbench.errors import EncoderError
    from mmbench.runner.features_ray import RayFeatureOptions, run_ray

    with pytest.raises(EncoderError, match="nothing to spread over Ray workers; fix: run `mmbench features` without"):
        run_ray("precomputed", {}, "item", [1, 2], "feature:precomputed", 256, RayFeatureOptions())
