"""Tuning studies (a sweep's `search:` block) on real small data: validation, budget, pruning, records,
resumption after a crash with the same trials as an uninterrupted study, the tuned recipe."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.recipe.load import load_recipe, recipe_hash
from mmbench.results.store import load_records
from mmbench.runner import tune
from mmbench.runner.sweep import SweepError, load_sweep
from mmbench.runner.tune import StudyError, driver_lock, finish_study, run_study

RECIPE = """\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 300}}
student: {name: mf, params: {dim: 8}}
baselines: [{name: pop}]
train: {epochs: 6, batch_size: 512, lr: 0.01, eval_every: 1, patience: 3, select_metric: NDCG@10}
eval: {ks: [5, 10], latency: {enabled: true, warmup: 1, repeats: 2}}
seeds: [0, 1, 2]
"""

STUDY = """\
sweep_version: 1
name: st
recipe: tiny.yaml
select: {metric: NDCG@10, role: student}
search:
  trials: 5
  sampler: {seed: 7, startup_trials: 2}
  pruner: {startup_trials: 2, warmup_epochs: 1}
  space:
    student.params.dim: {choice: [4, 8]}
  tuned_recipe: tuned/st.yaml
"""


def quiet(_: str) -> None:
    pass


@pytest.fixture
def folder(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("MMBENCH_CACHE_DIR", str(tmp_path / "cache"))  # no model reuse across studies
    (tmp_path / "tiny.yaml").write_text(RECIPE)
    (tmp_path / "st.yaml").write_text(STUDY)
    return tmp_path


def trials_of(results: Path, name: str = "st") -> list[tuple]:
    db = results / "sweeps" / name / "study.db"
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT t.number, t.state, v.value FROM trials t LEFT JOIN trial_values v "
                           "ON t.trial_id = v.trial_id ORDER BY t.number").fetchall()
    return rows


def test_search_block_is_validated_with_every_problem_at_once(folder):
    (folder / "bad.yaml").write_text("""\
sweep_version: 1
name: bad
recipe: tiny.yaml
search:
  trials: 0
  sampler: {name: grid}
  space:
    student.params.dimm: {int: [4, 8]}
    student.params.reg: {log_uniform: [0, 1]}
    seeds: {choice: [1, 2]}
    student.params.nothing: null
""")
    with pytest.raises(SweepError) as info:
        load_sweep(folder / "bad.yaml")
    text = str(info.value)
    assert "search.trials" in text and "search.sampler.name" in text
    (folder / "bad.yaml").write_text((folder / "bad.yaml").read_text().replace("trials: 0", "trials: 2")
                                     .replace("{name: grid}", "{name: tpe}"))
    with pytest.raises(SweepError) as info:
        load_sweep(folder / "bad.yaml")
    text = str(info.value)
    assert "bad.yaml:8: search.space.student.params.dimm" in text and "did you mean 'dim'" in text
    assert "0 < low < high" in text and "cannot be searched" in text
    assert "null drops a default dimension, but there is none" in text
    both = STUDY + "trials: [{set: {}}]\n"
    (folder / "both.yaml").write_text(both)
    with pytest.raises(SweepError, match="either `trials:`"):
        load_sweep(folder / "both.yaml")


def test_the_space_starts_from_the_component_and_its_training(folder):
    sweep = load_sweep(folder / "st.yaml")
    assert sweep.search is not None
    assert set(sweep.search.space) == {"student.params.reg", "student.train.lr", "student.params.dim"}
    assert sweep.seeds == (0,)  # a study runs one seed per trial unless told otherwise
    (folder / "pop.yaml").write_text(STUDY.replace("role: student", "role: baseline")
                                     .replace("  space:\n    student.params.dim: {choice: [4, 8]}\n", "  space: {}\n"))
    with pytest.raises(SweepError, match="nothing to search: baselines.0 \\(pop\\)"):
        load_sweep(folder / "pop.yaml")


def test_a_study_spends_its_budget_prunes_and_writes_records_summary_and_tuned_recipe(folder):
    sweep = load_sweep(folder / "st.yaml")
    res = folder / "res"
    run = run_study(sweep, results_dir=res, log=quiet, progress=quiet)
    assert run.ended == 5 and not run.failures
    states = [s for _, s, _ in trials_of(res)]
    assert len(states) == 5 and set(states) <= {"COMPLETE", "PRUNED"}
    recs = load_records(res / "sweeps" / "st")
    # one record per complete trial, none for pruned ones; a trial trains only the tuned model, no latency
    assert len(recs) == states.count("COMPLETE")
    assert all([m.role for m in r.models] == ["student"] and r.models[0].latency is None for r in recs)
    out = finish_study(sweep, res)
    summary = json.loads(out["summary_json"].read_text())
    best = summary["best"]
    assert best["value"] == max(t["value"] for t in summary["trials"] if t["state"] == "complete")
    assert summary["budget"]["trials"] == 5 and summary["selection"]["split"] == "valid"
    assert out["plot"].stat().st_size > 10_000
    tuned = load_recipe(out["tuned_recipe"])
    assert tuned.name == "st-tuned" and tuned.seeds == [0, 1, 2, 3, 4]
    assert tuned.student.tuning["budget"]["trials"] == 5 and tuned.student.tuning["best_trial"] == best["number"]
    assert tuned.baselines[0].name == "pop" and tuned.eval.latency.enabled  # the rest of the recipe as it was
    for key, value in best["params"].items():  # the best trial's params, exactly
        node = tuned.model_dump()
        for part in key.split("."):
            node = node[part]
        assert node == value
    # the tuned model computes exactly what the best trial computed (latency aside): same hash once aligned
    best_rec = next(r for r in recs if r.recipe.name == f"st.t{best['recipe_trial']:03d}")
    assert best_rec.models[0].metrics["valid"]["NDCG@10"] == pytest.approx(best["value"], abs=0)
    # a finished study does nothing more when run again
    again = run_study(sweep, results_dir=res, log=quiet, progress=quiet)
    assert again.ended == 0 and len(trials_of(res)) == 5


def test_a_crashed_study_resumes_to_the_trials_of_an_uninterrupted_one(folder, monkeypatch):
    sweep = load_sweep(folder / "st.yaml")
    straight = folder / "straight"
    run_study(sweep, results_dir=straight, log=quiet, progress=quiet)

    crashed = folder / "crashed"
    real = tune.execute_trial
    calls = []

    def dies_in_third_trial(recipe, seeds, path, metric, results_dir, report, log=quiet):
        calls.append(recipe.name)
        if len(calls) == 3:
            def crash(step, value):
                if step == 2:
                    raise KeyboardInterrupt  # the driver dies mid-trial, after epoch 2's checkpoint
                return report(step, value)
            return real(recipe, seeds, path, metric, results_dir, crash, log)
        return real(recipe, seeds, path, metric, results_dir, report, log)

    monkeypatch.setattr(tune, "execute_trial", dies_in_third_trial)
    with pytest.raises(KeyboardInterrupt):
        run_study(sweep, results_dir=crashed, log=quiet, progress=quiet)
    monkeypatch.setattr(tune, "execute_trial", real)
    assert [s for _, s, _ in trials_of(crashed)][2:] == ["RUNNING"]  # the dead driver's trial
    # "another machine": the study's folder (its SQLite storage and records) copied elsewhere, an empty cache
    moved = folder / "elsewhere"
    shutil.copytree(crashed, moved)
    resumed = run_study(sweep, results_dir=crashed, log=quiet, progress=quiet)
    assert resumed.recovered == [2]
    monkeypatch.setenv("MMBENCH_CACHE_DIR", str(folder / "other-cache"))
    assert run_study(sweep, results_dir=moved, log=quiet, progress=quiet).recovered == [2]
    a = json.loads(finish_study(sweep, straight)["summary_json"].read_text())
    for there in (moved, crashed):
        b = json.loads(finish_study(sweep, there)["summary_json"].read_text())
        ended = [t for t in b["trials"] if not t["interrupted"]]
        assert [(t["state"], t["params"], t["value"]) for t in ended] == \
            [(t["state"], t["params"], t["value"]) for t in a["trials"]]
    ended = [t for t in b["trials"] if not t["interrupted"]]
    assert [(t["state"], t["params"], t["value"]) for t in ended] == \
        [(t["state"], t["params"], t["value"]) for t in a["trials"]]
    assert b["best"]["params"] == a["best"]["params"] and b["best"]["value"] == a["best"]["value"]
    assert b["ended"]["interrupted"] == 1
    # the re-run trial keeps its recipe name (its training resumed from its checkpoint): no duplicate records
    names = [r.recipe.name for r in load_records(crashed / "sweeps" / "st")]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(r.recipe.name for r in load_records(straight / "sweeps" / "st"))


def test_a_trial_whose_records_exist_is_counted_not_rerun(folder):
    sweep = load_sweep(folder / "st.yaml")
    res = folder / "res"
    recipe = tune.trial_recipe(sweep, {"student.params.dim": 4, "student.params.reg": 1e-4,
                                       "student.train.lr": 0.01}, 0)
    first = tune.execute_trial(recipe, (0,), "student", "NDCG@10", res / "sweeps" / "st", None, quiet)
    again = tune.execute_trial(recipe, (0,), "student", "NDCG@10", res / "sweeps" / "st", None, quiet)
    assert first.records and again.value == first.value and again.records == []  # nothing written twice
    assert len(load_records(res / "sweeps" / "st")) == 1
    assert recipe_hash(recipe) == load_records(res / "sweeps" / "st")[0].recipe.hash


def test_one_driver_per_study(folder):
    with driver_lock(folder / "res"):
        with pytest.raises(StudyError, match="another `mmbench sweep` is running this study"):
            with driver_lock(folder / "res"):
                pass


def test_cli_dry_run_and_run(folder):
    runner = CliRunner()
    dry = runner.invoke(main, ["sweep", str(folder / "st.yaml"), "--dry-run", "--results-dir",
                               str(folder / "res")], catch_exceptions=False)
    assert dry.exit_code == 0 and "study st: tunes student (mf)" in dry.output and "dry run" in dry.output
    assert not (folder / "res").exists()
    (folder / "st.yaml").write_text(STUDY.replace("trials: 5", "trials: 2"))
    out = runner.invoke(main, ["sweep", str(folder / "st.yaml"), "-q", "--results-dir", str(folder / "res")],
                        catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "# Study `st`" in out.output and "**Best**: trial" in out.output
    tuned = yaml.safe_load((folder / "tuned" / "st.yaml").read_text())
    assert tuned["student"]["tuning"]["study"] == "st"
    table = runner.invoke(main, ["studies", "--results-dir", str(folder / "res")], catch_exceptions=False).output
    assert "| st " in table and "student (mf)" in table and "2/2" in table and "tuned/st.yaml" in table


def test_recipe_option_runs_the_same_study_on_other_data_under_its_own_name(folder):
    other = folder / "my_data.yaml"
    other.write_text(RECIPE.replace("max_users: 300", "max_users: 250"))
    sweep = load_sweep(folder / "st.yaml", other)
    assert sweep.name == "st.my-data" and sweep.recipe_path == other
    assert sweep.search is not None and "student.params.dim" in sweep.search.space
    with pytest.raises(SweepError, match="--recipe .*missing.yaml: file not found"):
        load_sweep(folder / "st.yaml", folder / "missing.yaml")
    out = CliRunner().invoke(main, ["sweep", str(folder / "st.yaml"), "--recipe", str(other), "--dry-run"],
                             catch_exceptions=False)
    assert out.exit_code == 0 and "study st.my-data" in out.output


TEACHER_RECIPE = RECIPE.replace("student: {name: mf, params: {dim: 8}}",
                                "teacher: {name: vbpr, params: {dim: 8}}\nstudent: {name: mf, params: {dim: 8, reg: 0.5}}\n"
                                "encoders: {text: {name: minilm}}")


def test_use_tuned_gives_the_tuned_recipe_the_other_models_own_tuned_settings(folder):
    from mmbench.errors import RecipeError
    from mmbench.results.tune import StudySummary, markdown
    from mmbench.results.tuned_recipe import tuned_others, write_tuned_recipe

    (folder / "teacher.yaml").write_text(TEACHER_RECIPE)
    study = (STUDY.replace("recipe: tiny.yaml", "recipe: teacher.yaml").replace("role: student", "role: teacher")
             .replace("    student.params.dim: {choice: [4, 8]}\n", "    teacher.params.dim: {choice: [4, 8]}\n")
             + "  use_tuned: {student: tuned/mf.yaml}\n")
    (folder / "tt.yaml").write_text(study)
    with pytest.raises(SweepError, match="use_tuned.teacher: this is the model the study tunes"):
        (folder / "bad.yaml").write_text(study.replace("{student: tuned/mf.yaml}", "{teacher: tuned/mf.yaml}"))
        load_sweep(folder / "bad.yaml")
    sweep = load_sweep(folder / "tt.yaml")
    trial = {"number": 0, "state": "complete", "value": 0.1, "params": {"teacher.params.dim": 4},
             "intermediate": {}, "duration_s": 1.0, "user_attrs": {"recipe_trial": 0, "epochs": 2}}
    summary = StudySummary(sweep, [trial] * 1, [], sweep.search.budget(6, 1) | {"trials": 1})
    # the student's study has not ended: base settings, and the summary says so
    assert tuned_others(sweep)["student"][0] is None
    assert "does not exist yet" in markdown(summary, None)
    out = write_tuned_recipe(summary, folder / "tuned" / "tt.yaml", "s.json", [0])
    assert load_recipe(out).student.params["reg"] == 0.5 and load_recipe(out).student.tuning is None
    # once it has: params, training and tuning provenance of the tuned student
    tuning = {"study": "tune-mf", "budget": {"trials": 1}}
    (folder / "tuned" / "mf.yaml").write_text(yaml.safe_dump(yaml.safe_load(RECIPE) | {
        "student": {"name": "mf", "params": {"reg": 0.002}, "train": {"lr": 0.003}, "tuning": tuning}}))
    summary = StudySummary(sweep, [trial], [], summary.budget)  # each finish reads use_tuned afresh
    tuned = load_recipe(write_tuned_recipe(summary, folder / "tuned" / "tt.yaml", "s.json", [0]))
    assert tuned.student.params["dim"] == 8 and tuned.student.params["reg"] == 0.002
    assert tuned.student.train["lr"] == 0.003
    assert tuned.student.tuning == tuning and tuned.teacher.params["dim"] == 4
    assert "`student` from tune-mf" in markdown(summary, None)
    # a tuned recipe of another model is refused, with what it holds
    (folder / "tuned" / "mf.yaml").write_text(yaml.safe_dump(yaml.safe_load(RECIPE) | {
        "student": {"name": "lightgcn", "tuning": tuning}}))
    with pytest.raises(RecipeError, match="must be the tuned recipe of 'mf'.*it holds lightgcn"):
        tuned_others(sweep)
