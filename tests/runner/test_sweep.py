"""Sweeps on real (small) data: validation of the file and every trial, runs, skips, selection on valid only."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from statistics import fmean

import pytest
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.recipe.load import apply_override, load_recipe, recipe_hash
from mmbench.results.store import load_records
from mmbench.recipe.sweep import assignment
from mmbench.runner.sweep import SweepError, load_sweep, plan, run_sweep, summarize, sweep_dir

ROOT = Path(__file__).resolve().parents[2]

RECIPE = """\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 300}}
student: {name: mf, params: {dim: 8}}
train: {epochs: 2, batch_size: 512, lr: 0.01, select_metric: NDCG@10}
eval: {ks: [5, 10]}
seeds: [0, 1]
"""


def quiet(_: str) -> None:
    pass


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "tiny.yaml").write_text(RECIPE)
    return tmp_path


def write_sweep(folder: Path, text: str, name: str = "sw.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def records_of(results: Path, sweep_name: str) -> dict[str, list]:
    """The sweep's records grouped by trial name, read straight from disk."""
    out: dict[str, list] = {}
    for rec in load_records(results / "sweeps" / sweep_name):
        out.setdefault(rec.recipe.name.split(".", 1)[1], []).append(rec)
    return out


def valid_of(rec, role: str = "student", metric: str = "NDCG@10") -> float:
    return next(m for m in rec.models if m.role == role).metrics["valid"][metric]


def test_every_problem_of_the_file_and_its_trials_is_reported_at_once(folder):
    path = write_sweep(folder, """\
sweep_version: 1
recipe: tiny.yaml
colour: red
select: {role: teacher}
trials:
  - {name: a, set: {train.lrr: 0.1}}
  - {name: a, set: {train.lr: 0.02}}
  - {set: {"bad key": 1}}
  - {set: {train.epochs: -1}, extra: 2}
  - {name: b, set: {train.epochs: -1}}
  - {name: c, set: {seeds.0: 3}}
""")
    with pytest.raises(SweepError) as info:
        load_sweep(path)
    text = str(info.value)
    expected = [r"sw\.yaml:3: colour: unknown field",
                r"sw\.yaml:7: trials\[1\]\.name: duplicate trial name 'a'",
                r"trial 'a': .*sw\.yaml:6: train\.lrr: unknown field; did you mean 'lr'",
                r"trials\[2\]\.set: 'bad key' is not a dotted recipe path",
                r"trials\[3\]\.extra: unknown field",
                r"trial 'b': .*train\.epochs: .*greater than or equal to 1",
                r"trials\[5\]\.set: 'seeds\.0' cannot be set by a trial",
                r"select\.role 'teacher': the recipe has no teacher model"]
    for pattern in expected:
        assert re.search(pattern, text), (pattern, text)
    assert len(info.value.issues) == len(expected)

    missing = write_sweep(folder, "sweep_version: 1\nrecipe: nope.yaml\nsurprise: 1\ntrials: [{set: {}}]\n", "m.yaml")
    result = cli("sweep", str(missing))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "recipe: 'nope.yaml' not found" in result.output and "surprise: unknown field" in result.output


def test_trials_get_their_overrides_names_and_hashes(folder):
    path = write_sweep(folder, """\
sweep_version: 1
name: lr-search
recipe: tiny.yaml
trials:
  - {name: fast, set: {train.lr: 5.0e-2, eval.ks: [5, 10, 20]}}
  - {set: {student.params: {dim: 4}, train.select_metric: NDCG@5}}
  - {set: {}}
""")
    sweep = load_sweep(path)
    assert (sweep.name, sweep.seeds, sweep.metric, sweep.role) == ("lr-search", (0, 1), "NDCG@10", "student")
    fast, t01, as_is = sweep.trials
    assert [t.name for t in sweep.trials] == ["fast", "t01", "t02"]
    assert [t.recipe_name for t in sweep.trials] == ["lr-search.fast", "lr-search.t01", "lr-search.t02"]
    assert fast.recipe.train.lr == 0.05 and fast.recipe.eval.ks == [5, 10, 20]
    assert t01.recipe.student.params["dim"] == 4 and t01.recipe.train.select_metric == "NDCG@5"
    assert as_is.recipe.student.params["dim"] == 8 and as_is.assignments == ()
    # the same recipe as `mmbench run tiny.yaml --set ...`, so workers and in-process runs agree
    for t in sweep.trials:
        again = load_recipe(folder / "tiny.yaml", [*t.assignments, f"name={t.recipe_name}"])
        assert again == t.recipe and recipe_hash(again) == t.hash
    assert as_is.hash == recipe_hash(load_recipe(folder / "tiny.yaml"))  # the name is not part of the hash
    assert len({t.hash for t in sweep.trials}) == 3


@pytest.mark.parametrize("value", [1.0e-3, 5, "1e-3", "yes", None, True, [1, {"x": 2.5}], {"a": [None, "b c"]},
                                   "multi\nline"])
def test_override_values_survive_the_set_syntax(value):
    key_value = assignment("k", value)
    assert apply_override({}, key_value)["k"] == value and type(apply_override({}, key_value)["k"]) is type(value)


def test_sequential_sweep_selects_on_valid_and_skips_existing_records(folder):
    path = write_sweep(folder, """\
sweep_version: 1
recipe: tiny.yaml
trials:
  - {name: tie-first, set: {train.lr: 0.02}}
  - {name: tie-second, set: {train.lr: 0.02, eval.latency.repeats: 7}}
  - {name: slow, set: {train.lr: 1.0e-4, train.epochs: 1}}
""")
    sweep = load_sweep(path)
    results = folder / "results"
    outcome = run_sweep(sweep, results_dir=results, log=quiet, progress=quiet)
    assert not outcome.failures and len(outcome.records) == 6 and not outcome.plan.skipped
    assert not (results / "runs").exists()  # never mixes with the leaderboard's records
    by_trial = records_of(results, "sw")
    assert {k: sorted(r.seed for r in v) for k, v in by_trial.items()} == {n: [0, 1] for n in
                                                                          ("tie-first", "tie-second", "slow")}
    assert {p.parent for p in outcome.records} == {sweep_dir(results, sweep) / "runs" / f"sw.{t.name}"
                                                   for t in sweep.trials}

    summary = summarize(sweep, results)
    means = {name: fmean(valid_of(r) for r in recs) for name, recs in by_trial.items()}
    best = max(means.values())
    assert [n for n in ("tie-first", "tie-second", "slow") if means[n] == best] == ["tie-first", "tie-second"]
    assert summary.selected is not None and summary.selected.trial.name == "tie-first"  # ties: file order
    for row in summary.rows:
        assert row.status == "done" and row.mean == pytest.approx(means[row.trial.name])
    assert fmean(summary.test) == pytest.approx(fmean(
        next(m for m in r.models if m.role == "student").metrics["test"]["NDCG@10"] for r in by_trial["tie-first"]))

    files = set((results / "sweeps").rglob("*.json"))
    again = run_sweep(sweep, results_dir=results, log=quiet, progress=quiet)
    assert not again.plan.run and len(again.plan.skipped) == 6
    assert set((results / "sweeps").rglob("*.json")) == files
    forced = run_sweep(sweep, results_dir=results, rerun=True, log=quiet, progress=quiet)
    assert len(forced.records) == 6 and len(set((results / "sweeps").rglob("*.json")) - files) == 6


def test_cli_writes_summary_without_per_trial_test_values(folder):
    path = write_sweep(folder, """\
sweep_version: 1
name: two
description: two learning rates
recipe: tiny.yaml
seeds: [1]
select: {metric: HR@10}
trials:
  - {name: low, set: {train.lr: 1.0e-3}}
  - {name: high, set: {train.lr: 0.05}}
""")
    results = folder / "res"
    result = cli("sweep", str(path), "--results-dir", str(results), "-q")
    assert result.exit_code == 0, result.output
    data = json.loads((results / "sweeps" / "two" / "summary.json").read_text())
    by_trial = records_of(results, "two")
    valid = {n: valid_of(recs[0], metric="HR@10") for n, recs in by_trial.items()}
    winner = max(["low", "high"], key=lambda n: (valid[n], n == "low"))
    assert data["selected"]["name"] == winner and data["selection"]["metric"] == "HR@10"
    assert data["sweep_file_hash"] and data["recipe"].endswith("tiny.yaml")
    assert [t["overrides"] for t in data["trials"]] == [{"train.lr": 0.001}, {"train.lr": 0.05}]
    assert [t["recipe_hash"] for t in data["trials"]] == [t.hash for t in load_sweep(path).trials]
    assert all("test" not in t for t in data["trials"]) and data["selected"]["test"]["metric"] == "HR@10"
    md = (results / "sweeps" / "two" / "summary.md").read_text()
    assert "test HR@10 of the selected trial only" in md and "← selected" in md
    assert md.count("test HR@10") == 1  # no test column per trial

    result = cli("sweep", str(path), "--results-dir", str(results), "-q")
    assert result.exit_code == 0 and result.output.count("skipped ") == 2


def test_dry_run_validates_and_runs_nothing(folder):
    path = write_sweep(folder, "sweep_version: 1\nrecipe: tiny.yaml\ntrials: [{set: {train.lr: 0.02}}, {set: {}}]\n")
    results = folder / "res"
    result = cli("sweep", str(path), "--results-dir", str(results), "--dry-run")
    assert result.exit_code == 0, result.output
    sweep = load_sweep(path)
    assert all(t.hash in result.output for t in sweep.trials) and "4 job(s) to run" in result.output
    assert not results.exists()
    assert len(plan(sweep, results).run) == 4


def test_failing_trial_is_reported_and_others_records_stay(folder):
    path = write_sweep(folder, """\
sweep_version: 1
recipe: tiny.yaml
seeds: [0]
trials:
  - {name: diverge, set: {train.lr: 1.0e+30}}
  - {name: fine, set: {train.lr: 0.02}}
""")
    results = folder / "res"
    result = cli("sweep", str(path), "--results-dir", str(results), "-q")
    assert result.exit_code == 1
    assert "FAILED diverge seed 0" in result.output and "the loss became nan" in result.output
    assert list(records_of(results, "sw")) == ["fine"]
    data = json.loads((results / "sweeps" / "sw" / "summary.json").read_text())
    assert [t["status"] for t in data["trials"]] == ["failed", "done"] and data["selected"]["name"] == "fine"


def test_parallel_workers_write_records_and_report_failures(folder):
    path = write_sweep(folder, """\
sweep_version: 1
recipe: tiny.yaml
seeds: [0]
trials:
  - {name: fine, set: {train.lr: 0.02, train.epochs: 1}}
  - {name: diverge, set: {train.lr: 1.0e+30, train.epochs: 1}}
""")
    results = folder / "res"
    result = cli("sweep", str(path), "--results-dir", str(results), "--jobs", "2", "-q")
    assert result.exit_code == 1, result.output
    assert "FAILED diverge seed 0" in result.output and "the loss became nan" in result.output
    recs = records_of(results, "sw")
    assert list(recs) == ["fine"] and recs["fine"][0].recipe.hash == load_sweep(path).trials[0].hash
    assert (results / "sweeps" / "sw" / "summary.md").is_file()


def test_student_role_is_the_kd_student_not_its_no_kd_twin(folder, isolated_registries):
    from mmbench.components.students.mf import MFStudent
    from mmbench.kinds import register_teacher

    @register_teacher("lab/wide-mf")
    class WideMFTeacher(MFStudent):
        """A wider MF used as a teacher."""

    (folder / "kd.yaml").write_text(RECIPE.replace("seeds: [0, 1]", "seeds: [0]") + """\
teacher: {name: lab/wide-mf, params: {dim: 32}}
distill: [{name: listwise-kl, params: {top_k: 10, samples: 20}}]
""")
    path = write_sweep(folder, "sweep_version: 1\nrecipe: kd.yaml\ntrials: [{set: {}}]\n")
    sweep = load_sweep(path)
    run_sweep(sweep, results_dir=folder / "res", log=quiet, progress=quiet)
    rec = load_records(sweep_dir(folder / "res", sweep))[0]
    student, twin = valid_of(rec, "student"), valid_of(rec, "baseline")
    assert student != twin  # else the test could not tell the two apart
    assert summarize(sweep, folder / "res").rows[0].valid == (student,)

    for role in ("teacher", "baseline"):
        role_sweep = write_sweep(folder, f"sweep_version: 1\nrecipe: kd.yaml\nselect: {{role: {role}}}\n"
                                 "trials: [{set: {}}]\n", f"{role}.yaml")
        assert load_sweep(role_sweep).role == role
    with pytest.raises(SweepError, match="select.role 'baseline' is ambiguous"):
        load_sweep(write_sweep(folder, "sweep_version: 1\nrecipe: kd.yaml\nselect: {role: baseline}\n"
                               "trials: [{set: {baselines: [{name: pop}]}}]\n", "amb.yaml"))


def test_the_documented_example_is_a_valid_sweep(tmp_path):
    text = (ROOT / "recipes" / "sweeps" / "README.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    recipe = os.path.relpath(ROOT / "recipes" / "quickstart.yaml", tmp_path)
    path = write_sweep(tmp_path, example.replace("../quickstart.yaml", recipe), "example.yaml")
    sweep = load_sweep(path)
    assert sweep.name == "quickstart-lr" and [t.name for t in sweep.trials] == ["lr-1e-3", "lr-5e-3", "as-is"]
    assert sweep.trials[0].recipe.train.lr == 1e-3 and sweep.seeds == (0, 1)
