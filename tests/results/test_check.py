"""`mmbench check`: band math, the comparison against synthetic bands, bands-file errors, the CLI on a tiny
real recipe, and the committed CI recipes and bands."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
import scipy.stats
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.cli_check import render
from mmbench.recipe.load import load_recipe, recipe_hash
from mmbench.results.bands import ABS_FLOOR, METRICS, Bands, BandsError, ModelBands, RecipeBands, band, load_bands
from mmbench.results.check import SeedRun, check, compare, measure_bands, model_labels

ROOT = Path(__file__).resolve().parents[2]
CI_RECIPES = sorted((ROOT / "ci" / "recipes").glob("*.yaml"))
TINY = """\
# a tiny real run for the CLI tests: 300 Amazon Beauty users, 2 epochs of MF, and popularity
schema_version: 1
dataset: {name: amazon-beauty, split: loo-time, params: {max_users: 300}}
student: {name: mf, params: {dim: 16}}
baselines: [{name: pop}]
train: {epochs: 2, batch_size: 1024, lr: 1.0e-2, eval_every: 1, patience: 2}
eval: {ks: [10, 20], metrics: [hr, ndcg, recall]}
seeds: [0]
"""


# ---- band math ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[0.1, 0.12], [0.031, 0.029, 0.034], [0.2, 0.21, 0.19, 0.205, 0.198],
                                    [0.5 + 0.01 * math.sin(i) for i in range(12)]])
def test_tolerance_is_the_99_prediction_interval_plus_the_floor(values):
    n = len(values)
    sd = statistics.stdev(values)
    expected = scipy.stats.t.ppf(0.995, n - 1) * sd * math.sqrt(1 + 1 / n) + 1e-6
    b = band(values)
    assert b.mean == pytest.approx(statistics.fmean(values), rel=1e-12)
    assert b.sd == pytest.approx(sd, rel=1e-12) and b.n == n and b.values == values
    assert b.tol == pytest.approx(expected, rel=1e-9)
    assert b.lo == pytest.approx(b.mean - expected) and b.hi == pytest.approx(b.mean + expected)


def test_a_deterministic_model_gets_the_floor_only():
    b = band([0.0171, 0.0171, 0.0171, 0.0171, 0.0171])
    assert b.sd == 0.0 and b.tol == ABS_FLOOR


def test_one_seed_is_not_a_spread():
    with pytest.raises(ValueError, match="at least 2"):
        band([0.1])


def test_model_labels_number_repeats():
    assert model_labels([("teacher", "freedom"), ("baseline", "mf"), ("baseline", "mf")]) == [
        "teacher/freedom", "baseline/mf", "baseline/mf#2"]


# ---- comparison against synthetic bands ---------------------------------------------------------------------


def _entry(recipe: Path, bands_path: Path, **over) -> RecipeBands:
    """Bands of the tiny recipe: every student/mf metric 0.1 ± about 0.007, pop exactly 0.02 (sd 0)."""
    mf = {m: band([0.1, 0.1, 0.1 - 0.01 / 5.04, 0.1 + 0.01 / 5.04, 0.1]) for m in METRICS}
    pop = {m: band([0.02] * 5) for m in METRICS}
    fields = dict(path=recipe.name, name="tiny", hash=recipe_hash(load_recipe(recipe)), dataset="amazon-beauty",
                  split_hash="s1", seeds=[0, 1, 2, 3, 4], check_seeds=[0], measured={},
                  models=[ModelBands(role="student", component="mf", metrics=mf),
                          ModelBands(role="baseline", component="pop", metrics=pop)])
    return RecipeBands(**{**fields, **over})


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path, tmp_path / "bands.json"


def _run(mf: dict[str, float], pop: float = 0.02, seed: int = 0, split_hash: str = "s1") -> SeedRun:
    return SeedRun(seed, split_hash, "amazon-beauty", [("student", "mf", mf), ("baseline", "pop", dict.fromkeys(METRICS, pop))])


def test_compare_statuses(tiny):
    entry = _entry(*tiny)
    mf = {"HR@10": 0.1, "NDCG@10": 0.05, "NDCG@20": 0.2}  # ok, LOW, HIGH, Recall@20 missing
    rows = {(r.model, r.metric): r for r in compare(entry, 0, [*_run(mf).models, ("baseline", "mf", {})])}
    assert rows["student/mf", "HR@10"].status == "ok" and rows["student/mf", "HR@10"].pinned == 0.1
    assert rows["student/mf", "NDCG@10"].status == "LOW"
    assert rows["student/mf", "NDCG@20"].status == "HIGH"
    assert rows["student/mf", "Recall@20"].status == "MISSING"
    assert rows["baseline/pop", "NDCG@10"].status == "ok"
    assert rows["baseline/mf", "-"].status == "UNBANDED"


def test_pop_band_catches_a_tiny_shift(tiny):
    rows = compare(_entry(*tiny), 7, _run(dict.fromkeys(METRICS, 0.1), pop=0.02 + 1e-5).models)
    assert {r.status for r in rows if r.model == "baseline/pop"} == {"HIGH"}
    assert {r.status for r in rows if r.model == "student/mf"} == {"ok"}
    assert all(r.pinned is None for r in rows)  # seed 7 was not measured


def test_check_passes_in_band_and_fails_out_of_band(tiny):
    path, bands_path = tiny
    bands = Bands(generated_by="test", level=0.99, abs_floor=ABS_FLOOR, metrics=list(METRICS),
                  recipes=[_entry(path, bands_path)])
    seen = []

    def runner(recipe, p, seeds, results_dir, log):
        seen.append(list(seeds))
        return [_run(dict.fromkeys(METRICS, value), seed=s) for s in seeds]

    value = 0.1
    report = check(bands, bands_path=bands_path, log=lambda _: None, runner=runner)
    assert report.ok and seen == [[0]] and len(report.recipes[0].rows) == 2 * len(METRICS)
    value = 0.0895
    report = check(bands, bands_path=bands_path, log=lambda _: None, runner=runner, seeds=[3, 5])
    assert not report.ok and seen[-1] == [3, 5]
    assert {r.status for r in report.recipes[0].rows if r.model == "student/mf"} == {"LOW"}
    text = render(report)
    assert "LOW" in text and "band [lo, hi]" in text and text.rstrip().splitlines()[-1].startswith("FAIL")


def test_a_run_that_raises_is_a_failure_with_its_message(tiny):
    path, bands_path = tiny
    bands = Bands(generated_by="test", level=0.99, abs_floor=ABS_FLOOR, metrics=list(METRICS),
                  recipes=[_entry(path, bands_path)])

    def runner(*args):
        raise RuntimeError("loss is NaN at epoch 3")

    report = check(bands, bands_path=bands_path, log=lambda _: None, runner=runner)
    assert not report.ok and "RuntimeError: loss is NaN at epoch 3" in report.recipes[0].error
    assert "loss is NaN" in render(report) and report.to_dict()["ok"] is False


def test_a_changed_recipe_fails_without_running(tiny):
    path, bands_path = tiny
    bands = Bands(generated_by="test", level=0.99, abs_floor=ABS_FLOOR, metrics=list(METRICS),
                  recipes=[_entry(path, bands_path, hash="0123456789abcdef")])

    def runner(*args):
        raise AssertionError("a changed recipe must not be run")

    report = check(bands, bands_path=bands_path, log=lambda _: None, runner=runner)
    error = report.recipes[0].error
    assert not report.ok and "recipe changed" in error and "0123456789abcdef" in error
    assert "mmbench check --update --recipe" in error


def test_a_changed_split_fails(tiny):
    path, bands_path = tiny
    bands = Bands(generated_by="test", level=0.99, abs_floor=ABS_FLOOR, metrics=list(METRICS),
                  recipes=[_entry(path, bands_path)])
    report = check(bands, bands_path=bands_path, log=lambda _: None,
                   runner=lambda r, p, seeds, d, log: [_run(dict.fromkeys(METRICS, 0.1), split_hash="s2")])
    assert not report.ok and "split changed" in report.recipes[0].error


def test_measure_bands_from_runs_and_keep_other_recipes(tiny):
    path, bands_path = tiny
    old = _entry(path, bands_path, path="other.yaml", name="other")
    existing = Bands(generated_by="test", level=0.99, abs_floor=ABS_FLOOR, metrics=list(METRICS), recipes=[old])
    per_seed = {0: 0.10, 1: 0.12, 2: 0.11}
    bands = measure_bands([path], [0, 1, 2], bands_path=bands_path, existing=existing, log=lambda _: None,
                          runner=lambda r, p, seeds, d, log: [_run(dict.fromkeys(METRICS, per_seed[s]), seed=s)
                                                              for s in seeds])
    assert [e.path for e in bands.recipes] == ["other.yaml", "tiny.yaml"]
    entry = bands.recipes[1]
    assert entry.seeds == [0, 1, 2] and entry.check_seeds == [0] and entry.hash == recipe_hash(load_recipe(path))
    assert entry.models[0].metrics["NDCG@10"].values == [0.10, 0.12, 0.11]
    assert bands.generated_by == "mmbench check --update --seeds 0,1,2"


def test_measure_bands_refuses_one_seed_and_missing_metrics(tiny):
    path, bands_path = tiny
    with pytest.raises(BandsError, match="seed spread"):
        measure_bands([path], [0], bands_path=bands_path, log=lambda _: None,
                      runner=lambda r, p, seeds, d, log: [])  # refused before anything runs
    with pytest.raises(BandsError, match="Recall@20"):
        measure_bands([path], [0, 1], bands_path=bands_path, log=lambda _: None,
                      runner=lambda r, p, seeds, d, log: [_run({"HR@10": 0.1, "NDCG@10": 0.1, "NDCG@20": 0.1}, seed=s)
                                                          for s in seeds])


# ---- the bands file -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[]", "not a valid bands file"),
    ('{"bands_version": 1, "generated_by": "x", "level": 0.99, "abs_floor": 0, "metrics": [], "recipes": []}',
     "not a valid bands file"),
])
def test_malformed_bands_files(tmp_path, text, message):
    path = tmp_path / "bands.json"
    path.write_text(text)
    with pytest.raises(BandsError, match=message) as err:
        load_bands(path)
    assert "mmbench check --update" in str(err.value)


def test_missing_bands_file(tmp_path):
    with pytest.raises(BandsError, match="no bands file.*mmbench check --update"):
        load_bands(tmp_path / "nope.json")


# ---- the CLI on a tiny real recipe ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    """Bands of the tiny recipe over seeds 0 and 1, measured through the CLI."""
    root = tmp_path_factory.mktemp("check")
    (root / "recipes").mkdir()
    (root / "recipes" / "tiny.yaml").write_text(TINY)
    result = CliRunner().invoke(main, ["check", "--update", "--bands", str(root / "bands.json"), "--seeds", "0,1"])
    assert result.exit_code == 0, result.output
    assert "warning: 2 seed(s)" in result.output and "student/mf" in result.stdout
    return root / "bands.json"


def test_cli_update_writes_valid_bands(measured):
    bands = load_bands(measured)
    (entry,) = bands.recipes
    assert entry.path == "recipes/tiny.yaml" and entry.seeds == [0, 1] and entry.check_seeds == [0]
    assert [(m.role, m.component) for m in entry.models] == [("student", "mf"), ("baseline", "pop")]
    assert set(entry.models[0].metrics) == set(METRICS)
    assert entry.dataset == "amazon-beauty[max_users=300]" and entry.measured["git"]["sha"]
    assert entry.measured["hardware"]["tag"] and entry.measured["versions"]["torch"] and entry.measured["date"]


def test_cli_check_passes_on_unchanged_code(measured):
    result = CliRunner().invoke(main, ["check", "--bands", str(measured)])
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().splitlines()[-1].startswith("PASS: 1 recipe(s), 8 metric(s): 8 ok")
    assert "| 0      | baseline/pop | NDCG@10" in result.stdout and "FAIL" not in result.stdout


def test_cli_check_fails_on_a_changed_recipe_and_reports_json(measured, tmp_path):
    copy = tmp_path / "bands.json"
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "tiny.yaml").write_text(TINY.replace("dim: 16", "dim: 17"))
    copy.write_text(measured.read_text())
    result = CliRunner().invoke(main, ["check", "--bands", str(copy), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and "recipe changed" in report["recipes"][0]["error"]


def test_cli_errors_exit_2_without_traceback(measured, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["check", "--bands", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "no bands file" in result.output and "Traceback" not in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"bands_version": 1,')
    result = runner.invoke(main, ["check", "--bands", str(bad)])
    assert result.exit_code == 2 and "not valid JSON" in result.output
    result = runner.invoke(main, ["check", "--bands", str(measured), "--recipe", str(tmp_path / "other.yaml")])
    assert result.exit_code == 2 and "no bands for this recipe" in result.output
    result = runner.invoke(main, ["check", "--bands", str(measured), "--seeds", "0,x"])
    assert result.exit_code == 2 and "comma-separated integers" in result.output


# ---- the committed CI recipes and bands ----------------------------------------------------------------------


def test_ci_recipes_exist():
    assert 2 <= len(CI_RECIPES) <= 3


@pytest.mark.parametrize("path", CI_RECIPES, ids=lambda p: p.name)
def test_ci_recipe_validates_and_says_what_it_guards(path):
    recipe = load_recipe(path)
    assert recipe.name and path.read_text().startswith("# ")
    ev = recipe.eval
    assert {"hr", "ndcg", "recall"} <= set(ev.metrics) and {10, 20} <= set(ev.ks)


def test_committed_bands_cover_the_ci_recipes_as_they_are():
    """Stale bands fail here, before any run: re-measure with `mmbench check --update`."""
    bands_path = ROOT / "ci" / "bands.json"
    bands = load_bands(bands_path)
    assert sorted(e.path for e in bands.recipes) == sorted(f"recipes/{p.name}" for p in CI_RECIPES)
    for entry in bands.recipes:
        assert entry.hash == recipe_hash(load_recipe(bands_path.parent / entry.path)), (
            f"{entry.path} changed since its bands were measured; run `mmbench check --update`")
        assert len(entry.seeds) >= 5 and set(entry.check_seeds) <= set(entry.seeds)
        assert all(set(m.metrics) == set(METRICS) for m in entry.models)


def test_results_never_import_the_runner():
    # results are plain data: what re-runs recipes (the CI check's runner) lives in mmbench.runner.check
    import ast

    root = Path(__file__).resolve().parents[2] / "mmbench" / "results"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.startswith("mmbench.runner") for n in names), f"{path.name} imports {names}"
