"""The command line, through click's CliRunner (and one real subprocess for start-up cost)."""

from __future__ import annotations

import json
import subprocess
import sys
import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.cli_registry import index_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_help_is_fast_and_lists_commands(cli):
    out = cli("--help").output
    for command in ("run", "validate", "ls", "leaderboard", "index", "data"):
        assert command in out
    code = "import sys, mmbench.cli; sys.exit(int(any(m in sys.modules for m in ('torch', 'pandas', 'numpy'))))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, "mmbench.cli must not import heavy modules"


def test_every_command_has_help(cli):
    for command in ("run", "validate", "ls", "leaderboard", "index", "data"):
        result = cli(command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_ls_lists_every_kind(cli):
    out = cli("ls").output
    for header in ("datasets", "encoders", "fusions", "teachers", "students", "distill-losses", "imputers", "metrics"):
        assert f"{header} (" in out
    assert "dim: int = 64" in out and "amazon-beauty" in out


def test_ls_kind_json(cli):
    rows = json.loads(cli("ls", "student", "--json").output)
    mf = next(r for r in rows if r["name"] == "mf")
    assert mf["kind"] == "student" and mf["params"]["dim"] == {"type": "int", "default": 64}
    assert mf["origin"].startswith("mmbench/components/students/mf.py:")
    assert mf["summary"].startswith("BPR-MF")


def test_ls_teachers_are_the_seven_and_one_shows_its_fidelity_notes(cli):
    rows = json.loads(cli("ls", "teacher", "--json").output)
    assert sorted(r["name"] for r in rows) == ["bm3", "freedom", "lgmrec", "mgcn", "mm-gnn", "smore", "vbpr"]
    out = cli("ls", "teacher", "smore").output
    assert out.startswith("teacher smore  (mmbench/components/teachers/smore.py:")
    assert "Fidelity" in out and "e775373b" in out and "search space: n_ui_layers ∈ {3, 4}" in out
    result = cli("ls", "teacher", "smor")
    assert result.exit_code == 2 and "Did you mean 'smore'" in result.output and "Traceback" not in result.output


def test_ls_unknown_kind_exits_2(cli):
    result = cli("ls", "studnt")
    assert result.exit_code == 2 and "Did you mean 'student'" in result.output and "Traceback" not in result.output


def test_validate_ok(cli):
    result = cli("validate", str(ROOT / "recipes" / "quickstart.yaml"))
    assert result.exit_code == 0 and result.output.startswith("ok: ")


def test_validate_typos_exit_2_without_traceback(cli, tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text(textwrap.dedent("""\
        schema_version: 1
        dataset: {name: amazon-beauty}
        student:
          name: mff
        baselines:
          - name: mf
            params: {dimm: 32}
    """))
    result = cli("validate", str(bad), str(ROOT / "recipes" / "quickstart.yaml"))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"{bad}:4: student.name: unknown student 'mff'; did you mean 'mf'?" in result.output
    assert f"{bad}:7: baselines[0].params.dimm: unknown parameter of student 'mf'; did you mean 'dim'?" in result.output
    assert "1 of 2 recipe(s) invalid" in result.output


def test_validate_checks_sweep_files_as_sweeps(cli, tmp_path):
    sweep = ROOT / "recipes" / "sweeps" / "beauty-lightgcn.yaml"
    result = cli("validate", str(sweep))
    assert result.exit_code == 0 and "(sweep beauty-lightgcn, 4 trial(s)" in result.output
    bad = tmp_path / "bad-sweep.yaml"
    bad.write_text(sweep.read_text().replace("recipe: ../beauty/lightgcn.yaml",
                                             f"recipe: {os.path.relpath(ROOT / 'recipes' / 'beauty' / 'lightgcn.yaml', tmp_path)}")
                   .replace("train.lr: 2.0e-2", "train.lrr: 2.0e-2"))
    result = cli("validate", str(bad))
    assert result.exit_code == 2 and "lr2e-2" in result.output and "lrr" in result.output
    assert "schema_version" not in result.output  # judged as a sweep, not as a malformed recipe


def test_validate_with_set(cli):
    result = cli("validate", str(ROOT / "recipes" / "quickstart.yaml"), "--set", "student.params.dim=abc")
    assert result.exit_code == 2 and "student.params.dim" in result.output


def test_run_then_leaderboard(cli, tmp_path):
    recipe = tmp_path / "smoke.yaml"
    recipe.write_text("schema_version: 1\ndataset: {name: amazon-beauty, params: {max_users: 200}}\n"
                      "student: {name: mf, params: {dim: 8}}\nbaselines: [{name: pop}]\n"
                      "train: {epochs: 2, batch_size: 512}\n")
    res = tmp_path / "res"
    result = cli("run", str(recipe), "--seed", "3", "--seed", "4", "--results-dir", str(res), "-q",
                 "--set", "train.lr=0.01")
    assert result.exit_code == 0, result.output
    assert "NDCG@10" in result.output and "2 record(s)" in result.output
    assert len(list((res / "runs" / "smoke").glob("*.json"))) == 2
    rows = json.loads(cli("leaderboard", "--results-dir", str(res), "--format", "json").output)
    assert {(r["role"], r["component"], r["seeds"]) for r in rows} == {("student", "mf", 2), ("baseline", "pop", 2)}
    md = cli("leaderboard", "--results-dir", str(res)).output
    assert "## amazon-beauty[max_users=200] · loo-time" in md and "±" in md


def test_run_unknown_plugin_exits_2(cli, tmp_path):
    result = cli("run", str(ROOT / "recipes" / "quickstart.yaml"), "--plugin", "no_such_module_abc",
                 "--results-dir", str(tmp_path))
    assert result.exit_code == 2 and "plugin 'no_such_module_abc' (--plugin) failed to import" in result.output


def test_registry_index_is_current():
    committed = (ROOT / "registry" / "index.json").read_text(encoding="utf-8")
    assert committed == index_text(), "registry/index.json is stale: run `mmbench index` and commit it"
    data = json.loads(committed)
    assert {e["name"] for e in data["kinds"]["student"]} >= {"mf", "pop"}
    assert all("origin" not in e for kind in data["kinds"].values() for e in kind)


def test_index_check_detects_staleness(cli, tmp_path):
    stale = tmp_path / "index.json"
    stale.write_text("{}\n")
    result = CliRunner().invoke(main, ["index", "--check", "--path", str(stale)])
    assert result.exit_code == 1 and "stale" in result.output
    assert cli("index", "--path", str(stale)).exit_code == 0
    assert cli("index", "--check", "--path", str(stale)).exit_code == 0


def test_data_info_prints_the_card_with_split_counts(cli):
    out = cli("data", "info", "amazon-beauty", "--split", "loo-time").output
    for expected in ("22,363", "12,101", "198,502", "## Split loo-time", "153,776", "raw content hash",
                     "| image      |       0 | 0.0%"):
        assert expected in out, expected
    card = json.loads(cli("data", "info", "amazon-beauty", "-p", "max_users=50", "--split", "ratio-8-1-1",
                          "--split-seed", "2", "--json").output)
    assert card["users"] == 50 and card["split"]["seed"] == 2 and card["split"]["split"] == "ratio-8-1-1"


def test_data_info_from_a_recipe(cli, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("schema_version: 1\ndataset: {name: amazon-beauty, split: ratio-8-1-1, split_seed: 4, "
                      "params: {max_users: 30}}\nstudent: {name: pop}\n")
    card = json.loads(cli("data", "info", "--recipe", str(recipe), "--json").output)
    assert card["users"] == 30 and card["split"]["split"] == "ratio-8-1-1" and card["split"]["seed"] == 4
    res = CliRunner().invoke(main, ["data", "info"])
    assert res.exit_code == 2 and "give a dataset NAME or --recipe PATH" in res.output


def test_data_info_bad_input_exits_2_with_one_line(cli):
    runner = CliRunner()
    res = runner.invoke(main, ["data", "info", "amazon-beuty"])
    assert res.exit_code == 2 and "Did you mean 'amazon-beauty'" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["data", "info", "amazon-beauty", "--split", "given"])
    assert res.exit_code == 2 and "ships no split" in res.output


def test_data_cache_lists_and_clears(cli, data_cache):
    cli("data", "info", "amazon-beauty", "-p", "max_users=20")
    assert "amazon-beauty" in cli("data", "cache").output
    assert "removed" in cli("data", "cache", "--clear").output
    assert "no cached datasets" in cli("data", "cache").output


def test_run_several_recipes_validates_all_before_running_any(cli, tmp_path):
    base = ("schema_version: 1\ndataset: {name: amazon-beauty, params: {max_users: 200}}\n"
            "student: {name: mf, params: {dim: 8}}\ntrain: {epochs: 1, batch_size: 512}\n")
    (tmp_path / "one.yaml").write_text(base)
    (tmp_path / "two.yaml").write_text(base.replace("dim: 8", "dim: 4"))
    (tmp_path / "bad.yaml").write_text(base.replace("dim: 8", "dimm: 8"))
    res = tmp_path / "res"
    bad = cli("run", str(tmp_path / "one.yaml"), str(tmp_path / "bad.yaml"), "--results-dir", str(res), "-q")
    assert bad.exit_code == 2 and "dimm" in bad.output and not res.exists()  # nothing ran
    good = cli("run", str(tmp_path / "one.yaml"), str(tmp_path / "two.yaml"), "--results-dir", str(res), "-q")
    assert good.exit_code == 0, good.output
    assert "\none\n" in good.output and "\ntwo\n" in good.output and "2 record(s)" in good.output
    assert sorted(p.parent.name for p in (res / "runs").rglob("*.json")) == ["one", "two"]


def test_run_missing_runs_only_unrecorded_seeds(cli, tmp_path):
    recipe = tmp_path / "cont.yaml"
    recipe.write_text("schema_version: 1\ndataset: {name: amazon-beauty, params: {max_users: 200}}\n"
                      "student: {name: mf, params: {dim: 8}}\ntrain: {epochs: 1, batch_size: 512}\nseeds: [0, 1]\n")
    res = tmp_path / "res"
    assert cli("run", str(recipe), "--seed", "0", "--results-dir", str(res), "-q").exit_code == 0
    cont = cli("run", str(recipe), "--missing", "--results-dir", str(res), "-q")
    assert cont.exit_code == 0, cont.output
    assert "seed(s) [0] already recorded" in cont.output and "1 record(s)" in cont.output
    assert sorted(json.loads(p.read_text())["seed"] for p in (res / "runs" / "cont").glob("*.json")) == [0, 1]
    done = cli("run", str(recipe), "--missing", "--results-dir", str(res), "-q")
    assert done.exit_code == 0 and "0 record(s)" in done.output  # every seed recorded: nothing runs
    changed = cli("run", str(recipe), "--missing", "--set", "student.params.dim=4", "--results-dir", str(res), "-q")
    assert "2 record(s)" in changed.output  # another recipe hash: its seeds are not recorded yet
    assert len(list((res / "runs" / "cont").glob("*.json"))) == 4


def test_run_writes_outside_the_committed_results_by_default_and_records_threads(cli, tmp_path, monkeypatch):
    import torch

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MMBENCH_RESULTS_DIR", raising=False)
    monkeypatch.setenv("MMBENCH_THREADS", "")  # restored (unset) after the test; --threads sets it
    threads = torch.get_num_threads()
    recipe = tmp_path / "local.yaml"
    recipe.write_text("schema_version: 1\ndataset: {name: amazon-beauty, params: {max_users: 200}}\n"
                      "student: {name: pop}\nseeds: [0]\n")
    try:
        first = cli("run", str(recipe), "--threads", "1", "-q")
        again = cli("run", str(recipe), "--threads", "1", "-q")
    finally:
        torch.set_num_threads(threads)
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    assert not (tmp_path / "results").exists()
    paths = sorted((tmp_path / "mmbench-results" / "runs" / "local").glob("*.json"))
    assert len(paths) == 2
    hw = json.loads(paths[0].read_text())["hardware"]
    assert hw["torch_threads"] == 1 and hw["threads_from"].startswith("--threads") and hw["tag"].endswith(":1t")
    assert "seed(s) [0] already have a record" in again.output
    # the leaderboard counts the newest record of the seed and names the one it does not count
    board = cli("leaderboard", "--results-dir", "mmbench-results", "--format", "json")
    assert board.exit_code == 0
    (row,) = json.loads(board.stdout)
    assert row["seeds"] == 1
    older, newer = (json.loads(p.read_text())["run_id"] for p in sorted(paths, key=lambda p: json.loads(p.read_text())["created_at"]))
    note = [ln for ln in board.stderr.splitlines() if "2 records of local" in ln]
    assert note and f"counted: the newest, {newer}" in note[0] and f"not counted: {older}" in note[0]


def test_leaderboard_refuses_a_missing_or_empty_results_dir_and_unknown_metrics(cli, tmp_path):
    missing = cli("leaderboard", "--results-dir", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and f"{tmp_path / 'nowhere' / 'runs'} does not exist" in missing.output
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    empty = cli("leaderboard", "--results-dir", str(tmp_path / "empty"))
    assert empty.exit_code == 2 and "holds no run record" in empty.output and "fix:" in empty.output
    typo = cli("leaderboard", "--view", "kd", "--metric", "NDGC@10")
    assert typo.exit_code == 2 and "unknown --metric 'NDGC@10'" in typo.output and "did you mean 'NDCG@10'" in typo.output
