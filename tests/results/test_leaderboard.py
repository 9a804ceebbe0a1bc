"""Leaderboards from run records: aggregation (means, 95% CI, newest-seed wins, recipe hashes),
the md/csv/json/html renderings (checked byte for byte against golden files) and the CLI command.

Regenerate the golden files after an intended change of the output with::

    MMBENCH_UPDATE_GOLDEN=1 .venv/bin/pytest tests/results/test_leaderboard.py

and review the diff of ``tests/results/golden/`` before committing it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from pathlib import Path
from statistics import stdev
from typing import Any

import pytest
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.registry import load_plugins
from mmbench.results import leaderboard
from mmbench.results.leaderboard import ci95, higher_is_better, render, rows
from mmbench.results.record import DatasetInfo, ModelResult, RecipeInfo, RunRecord
from mmbench.results.store import load_records, write_record

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MMBENCH_UPDATE_GOLDEN") == "1"
T95_DF2 = 4.302652729749462  # two-sided 95% Student t quantile, 2 degrees of freedom (3 seeds)
T95_DF1 = 12.706204736174694  # 1 degree of freedom (2 seeds)
METRIC_KEYS = ["HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"]

HASH_QS = "9c1e5a7b3d2f4e6a"
HASH_QS_OTHER = "07d4b2e8a1c9f350"
HASH_DIM128 = "5b8e2d1f0a7c3e94"
HASH_RANDOM = "e2a7c4d9b1f05836"
HASH_SMALL = "41f9d3c0e6b28a75"


@pytest.fixture(autouse=True, scope="module")
def _metrics_registered() -> None:
    """Metric directions (↑/↓) come from the METRICS registry."""
    load_plugins(entry_points=False)


# --------------------------------------------------------------------------------------------------
# hand-made, deterministic records
# --------------------------------------------------------------------------------------------------

def metrics(hr5: float, hr10: float, hr20: float, n5: float, n10: float, n20: float) -> dict[str, float]:
    # deliberately not in display order: the leaderboard orders columns itself
    return {"NDCG@10": n10, "HR@20": hr20, "HR@5": hr5, "NDCG@5": n5, "HR@10": hr10, "NDCG@20": n20}


def model(role: str, component: str, test: dict[str, float], *, params: int = 0,
          latency: tuple[float, float] | None = None) -> ModelResult:
    # validation metrics are large, so a leaderboard that used them instead of test would show it
    valid = {k: 0.9 for k in test}
    lat = None if latency is None else {"latency_ms_p50": latency[0], "latency_ms_p95": latency[1], "k": 20,
                                        "batch_size": 256, "repeats": 5}
    return ModelResult(role=role, component=component, params={"dim": 64} if component == "mf" else {},
                       best_epoch=10, epochs_run=16, stopped="patience", metrics={"valid": valid, "test": test},
                       size={"params": params, "serving_bytes": params * 4}, latency=lat,
                       history=[{"epoch": 10, "NDCG@10": 0.9}], timings={"train_s": 1.0, "test_eval_s": 0.5})


def record(recipe: str, seed: int, models: list[ModelResult], *, recipe_hash: str = HASH_QS,
           dataset: str = "amazon-beauty", split: str = "loo-time",
           created_at: str = "2025-01-15T10:00:00+00:00", run_id: str | None = None,
           split_hash: str = "0123456789abcdef") -> RunRecord:
    stamp = re.sub(r"[^0-9]", "", created_at)[:14]
    return RunRecord(
        run_id=run_id or f"{recipe}-{recipe_hash[:8]}-s{seed}-{stamp}",
        created_at=created_at,
        recipe=RecipeInfo(name=recipe, hash=recipe_hash, path=f"recipes/{recipe}.yaml",
                          resolved={"name": recipe, "seeds": [seed]}),
        dataset=DatasetInfo(name=dataset.split("[")[0], key=dataset, split=split, content_hash="c0ffee",
                            split_hash=split_hash, card={"users": 100, "items": 50}),
        seed=seed, git={"commit": "deadbeef", "dirty": False}, versions={"mmbench": "0.1.0"},
        hardware={"cpu": "test"}, models=models, timings={"prepare_s": 0.1, "run_s": 2.0})


# quickstart on amazon-beauty · loo-time, 3 seeds: student mf (with latency) + baseline pop (without)
QS_MF = [
    (metrics(0.0300, 0.0500, 0.0800, 0.0180, 0.0250, 0.0320), (1.20, 2.00)),
    (metrics(0.0340, 0.0560, 0.0850, 0.0200, 0.0270, 0.0345), (1.50, 2.60)),
    (metrics(0.0320, 0.0540, 0.0890, 0.0190, 0.0255, 0.0340), (1.35, 2.30)),
]
QS_POP = metrics(0.0150, 0.0250, 0.0400, 0.0090, 0.0120, 0.0160)  # popularity: identical for every seed
MF_PARAMS = 1_234_560


def quickstart_records() -> list[RunRecord]:
    return [record("quickstart", seed,
                   [model("student", "mf", test, params=MF_PARAMS, latency=lat), model("baseline", "pop", QS_POP)],
                   created_at=f"2025-01-15T10:0{seed}:00+00:00")
            for seed, (test, lat) in enumerate(QS_MF)]


def fixture_records() -> list[RunRecord]:
    """Four recipes over three (dataset, split) sections; given in an order unlike the leaderboard's."""
    small = record("quickstart-small", 0, [
        model("student", "mf", metrics(0.0600, 0.0900, 0.1400, 0.0350, 0.0450, 0.0580), params=300_000,
              latency=(0.40, 0.55)),
        model("baseline", "pop", metrics(0.0300, 0.0450, 0.0700, 0.0170, 0.0220, 0.0280), latency=(0.05, 0.08)),
    ], recipe_hash=HASH_SMALL, dataset="amazon-beauty[max_users=500]", created_at="2025-01-17T08:00:00+00:00")
    dim128 = record("mf-dim128", 0, [
        model("student", "mf", metrics(0.0360, 0.0590, 0.0910, 0.0210, 0.0285, 0.0360), params=2_469_120,
              latency=(2.40, 3.10)),
    ], recipe_hash=HASH_DIM128, created_at="2025-01-16T09:00:00+00:00")
    rand = [record("quickstart-random", seed, [
        model("student", "mf", test, params=MF_PARAMS),
        model("baseline", "pop", metrics(0.0200, 0.0300, 0.0500, 0.0110, 0.0150, 0.0200)),
    ], recipe_hash=HASH_RANDOM, split="loo-random", created_at=f"2025-01-16T12:0{seed}:00+00:00")
        for seed, test in enumerate([metrics(0.0380, 0.0650, 0.1000, 0.0230, 0.0320, 0.0410),
                                     metrics(0.0440, 0.0690, 0.1060, 0.0260, 0.0335, 0.0430)])]
    return [small, *quickstart_records()[::-1], dim128, *rand]


def by_key(table: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(r[k] for k in leaderboard.KEY): r for r in table}


def expected_ci(values: list[float], t: float) -> float:
    return t * stdev(values) / math.sqrt(len(values))


# --------------------------------------------------------------------------------------------------
# golden files
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["md", "csv", "json", "html"])
def test_golden_output(fmt: str) -> None:
    path = GOLDEN / f"leaderboard.{fmt}"
    text = render(fixture_records(), fmt)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    assert path.is_file(), f"{path} is missing: run with MMBENCH_UPDATE_GOLDEN=1 to create it"
    golden = path.read_bytes().decode("utf-8")
    assert text == golden, (f"leaderboard.{fmt} differs from {path}; if the change is intended, "
                            "regenerate with MMBENCH_UPDATE_GOLDEN=1 and review the diff")


def test_golden_output_independent_of_record_order() -> None:
    recs = fixture_records()
    for fmt in ("md", "csv", "json", "html"):
        assert render(recs[::-1], fmt) == render(recs, fmt)


def test_golden_json_numbers_by_hand() -> None:
    """The golden JSON's numbers, recomputed here from the fixture values (t = 4.3027 for 3 seeds)."""
    table = json.loads((GOLDEN / "leaderboard.json").read_text(encoding="utf-8"))
    row = by_key(table)[("quickstart", "amazon-beauty", "loo-time", "student", "mf")]
    assert row["seeds"] == 3
    # HR@5: 0.030, 0.034, 0.032 -> mean 0.032, sample sd 0.002, CI 4.3027 * 0.002 / sqrt(3) = 0.0049683
    assert row["HR@5"] == pytest.approx(0.032, abs=1e-12)
    assert row["HR@5_ci95"] == pytest.approx(0.0049683, abs=1e-7)
    # HR@10: 0.050, 0.056, 0.054 -> mean 0.0533333, sd sqrt(9.3333e-6) = 0.0030551, CI 0.0075892
    assert row["HR@10"] == pytest.approx(0.0533333, abs=1e-7)
    assert row["HR@10_ci95"] == pytest.approx(0.0075892, abs=1e-7)
    # NDCG@10: 0.0250, 0.0270, 0.0255 -> mean 0.0258333, sd sqrt(1.0833e-6) = 0.0010408, CI 0.0025856
    assert row["NDCG@10"] == pytest.approx(0.0258333, abs=1e-7)
    assert row["NDCG@10_ci95"] == pytest.approx(0.0025856, abs=1e-7)
    # latency p50: 1.20, 1.50, 1.35 -> mean 1.35, sd 0.15, CI 4.3027 * 0.15 / sqrt(3) = 0.3726207
    assert row["latency_ms_p50"] == pytest.approx(1.35, abs=1e-12)
    assert row["latency_ms_p50_ci95"] == pytest.approx(0.3726207, abs=1e-6)
    assert row["params"] == MF_PARAMS and "params_ci95" not in row
    # 2 seeds: t = 12.7062; HR@5 0.038, 0.044 -> mean 0.041, sd 0.0042426, CI 12.706 * 0.0042426 / sqrt(2) = 0.0381186
    rand = by_key(table)[("quickstart-random", "amazon-beauty", "loo-random", "student", "mf")]
    assert rand["seeds"] == 2
    assert rand["HR@5"] == pytest.approx(0.041, abs=1e-12)
    assert rand["HR@5_ci95"] == pytest.approx(0.0381186, abs=1e-7)
    # NDCG@5 0.023, 0.026 -> mean 0.0245, CI 12.7062 * 0.003 / 2 = 0.0190593
    assert rand["NDCG@5"] == pytest.approx(0.0245, abs=1e-12)
    assert rand["NDCG@5_ci95"] == pytest.approx(0.0190593, abs=1e-7)


# --------------------------------------------------------------------------------------------------
# rows()
# --------------------------------------------------------------------------------------------------

def test_ci95_formula() -> None:
    assert ci95([0.5]) is None
    assert ci95([]) is None
    vals = [0.030, 0.034, 0.032]
    assert ci95(vals) == pytest.approx(T95_DF2 * 0.002 / math.sqrt(3), rel=1e-9)
    assert ci95([1.0, 3.0]) == pytest.approx(T95_DF1 * math.sqrt(2) / math.sqrt(2), rel=1e-9)
    # exact Student t quantiles for any number of seeds (scipy.stats.t.ppf(0.975, df))
    assert ci95([float(i) for i in range(31)]) == pytest.approx(2.0422724563012378 * stdev(range(31)) / math.sqrt(31))
    assert ci95([float(i) for i in range(40)]) == pytest.approx(2.022690920036761 * stdev(range(40)) / math.sqrt(40))


def test_rows_one_per_recipe_dataset_split_role_component_in_order() -> None:
    table = rows(fixture_records())
    assert [tuple(r[k] for k in leaderboard.KEY) for r in table] == [
        ("quickstart-random", "amazon-beauty", "loo-random", "student", "mf"),
        ("quickstart-random", "amazon-beauty", "loo-random", "baseline", "pop"),
        ("mf-dim128", "amazon-beauty", "loo-time", "student", "mf"),
        ("quickstart", "amazon-beauty", "loo-time", "student", "mf"),
        ("quickstart", "amazon-beauty", "loo-time", "baseline", "pop"),
        ("quickstart-small", "amazon-beauty[max_users=500]", "loo-time", "student", "mf"),
        ("quickstart-small", "amazon-beauty[max_users=500]", "loo-time", "baseline", "pop"),
    ]
    assert [r["seeds"] for r in table] == [2, 2, 1, 3, 3, 1, 1]


def test_rows_means_and_ci_for_three_seeds() -> None:
    row = by_key(rows(quickstart_records()))[("quickstart", "amazon-beauty", "loo-time", "student", "mf")]
    for col in METRIC_KEYS:
        vals = [test[col] for test, _ in QS_MF]
        assert row[col] == pytest.approx(sum(vals) / 3, rel=1e-12), col
        assert row[f"{col}_ci95"] == pytest.approx(expected_ci(vals, T95_DF2), rel=1e-9), col
    for i, col in enumerate(["latency_ms_p50", "latency_ms_p95"]):
        vals = [lat[i] for _, lat in QS_MF]
        assert row[col] == pytest.approx(sum(vals) / 3, rel=1e-12)
        assert row[f"{col}_ci95"] == pytest.approx(expected_ci(vals, T95_DF2), rel=1e-9)
    assert row["params"] == MF_PARAMS and isinstance(row["params"], int)
    # the hand-computed value, not just the formula again
    assert row["HR@5_ci95"] == pytest.approx(0.0049683, abs=1e-7)


def test_rows_identical_seeds_have_zero_ci_and_no_latency_when_unmeasured() -> None:
    row = by_key(rows(quickstart_records()))[("quickstart", "amazon-beauty", "loo-time", "baseline", "pop")]
    assert row["seeds"] == 3
    for col in METRIC_KEYS:
        assert row[col] == pytest.approx(QS_POP[col], rel=1e-12)
        assert row[f"{col}_ci95"] == 0.0
    assert "latency_ms_p50" not in row and "latency_ms_p95" not in row
    assert row["params"] == 0


def test_rows_single_seed_has_no_ci() -> None:
    # one seed: the interval is undefined, not zero (json null, an empty csv cell, nothing after the value)
    row = by_key(rows(fixture_records()))[("mf-dim128", "amazon-beauty", "loo-time", "student", "mf")]
    assert row["seeds"] == 1
    assert row["HR@10"] == 0.0590
    for col in [*METRIC_KEYS, "latency_ms_p50", "latency_ms_p95"]:
        assert row[f"{col}_ci95"] is None
    (js,) = [r for r in json.loads(render(fixture_records(), "json")) if r["recipe"] == "mf-dim128"]
    assert js["HR@10_ci95"] is None
    (line,) = [ln for ln in csv.DictReader(io.StringIO(render(fixture_records(), "csv"))) if ln["recipe"] == "mf-dim128"]
    assert line["HR@10"] == "0.059" and line["HR@10_ci95"] == ""


def test_rows_use_test_metrics_not_valid() -> None:
    for row in rows(fixture_records()):
        for col in METRIC_KEYS:
            assert row[col] < 0.5, (row["recipe"], col)  # the fixture's valid metrics are all 0.9


def test_json_rows_carry_documented_keys() -> None:
    table = json.loads(render(fixture_records(), "json"))
    base = {"recipe", "dataset", "split", "role", "component", "seeds", *METRIC_KEYS, "params"}
    cis = {f"{c}_ci95" for c in METRIC_KEYS}
    lat = {"latency_ms_p50", "latency_ms_p95", "latency_ms_p50_ci95", "latency_ms_p95_ci95"}
    with_latency = {("mf-dim128", "mf"), ("quickstart", "mf"), ("quickstart-small", "mf"), ("quickstart-small", "pop")}
    for row in table:
        measured = (row["recipe"], row["component"]) in with_latency
        assert set(row) == base | cis | (lat if measured else set()), (row["recipe"], row["component"])
    assert table == rows(fixture_records())


def test_latency_measured_in_some_seeds_only_is_left_out() -> None:
    recs = quickstart_records()
    recs[1].models[0].latency = None
    row = by_key(rows(recs))[("quickstart", "amazon-beauty", "loo-time", "student", "mf")]
    assert row["seeds"] == 3
    assert "latency_ms_p50" not in row and "latency_ms_p50_ci95" not in row
    assert "HR@10" in row


def test_metric_columns_ordered_hr_ndcg_recall_mrr_by_k() -> None:
    test = {"MRR@10": 0.01, "Recall@20": 0.1, "NDCG@20": 0.03, "HR@10": 0.05, "Recall@5": 0.02, "HR@5": 0.04}
    row = rows([record("r", 0, [model("student", "mf", test, params=10)])])[0]
    assert list(row)[:6] == ["recipe", "dataset", "split", "role", "component", "seeds"]
    values = [c for c in row if not c.endswith("_ci95")][6:]
    assert values == ["HR@5", "HR@10", "NDCG@20", "Recall@5", "Recall@20", "MRR@10", "params"]


def test_same_name_different_hash_gives_separate_rows() -> None:
    recs = quickstart_records() + [
        record("quickstart", seed, [model("student", "mf", metrics(0.5, 0.5, 0.5, 0.5, 0.5, 0.5), params=7)],
               recipe_hash=HASH_QS_OTHER, created_at="2025-02-01T00:00:00+00:00")
        for seed in (0, 1)]
    table = rows(recs)
    names = [(r["recipe"], r["component"], r["seeds"]) for r in table]
    assert (f"quickstart@{HASH_QS[:8]}", "mf", 3) in names
    assert (f"quickstart@{HASH_QS[:8]}", "pop", 3) in names
    assert (f"quickstart@{HASH_QS_OTHER[:8]}", "mf", 2) in names
    assert len(table) == 3
    assert all(r["recipe"] != "quickstart" for r in table)
    other = by_key(table)[(f"quickstart@{HASH_QS_OTHER[:8]}", "amazon-beauty", "loo-time", "student", "mf")]
    assert other["HR@10"] == 0.5 and other["params"] == 7  # nothing averaged across hashes
    md = render(recs, "md")
    assert f"quickstart@{HASH_QS[:8]}" in md and f"quickstart@{HASH_QS_OTHER[:8]}" in md
    # other recipes keep their plain name
    assert "| mf-dim128 " in render(recs + fixture_records()[4:5], "md")


def test_same_recipe_on_changed_data_gives_separate_rows() -> None:
    """A bring-your-own file edited between runs: same recipe hash, other split content -> never averaged."""
    recs = [record("byo", 0, [model("student", "mf", metrics(0.1, 0.1, 0.1, 0.1, 0.1, 0.1))]),
            record("byo", 1, [model("student", "mf", metrics(0.2, 0.2, 0.2, 0.2, 0.2, 0.2))]),
            record("byo", 0, [model("student", "mf", metrics(0.9, 0.9, 0.9, 0.9, 0.9, 0.9))],
                   split_hash="fedcba9876543210", created_at="2025-02-01T00:00:00+00:00")]
    table = {r["recipe"]: r for r in rows(recs)}
    assert set(table) == {"byo~data:01234567", "byo~data:fedcba98"}
    assert table["byo~data:01234567"]["seeds"] == 2 and table["byo~data:fedcba98"]["HR@10"] == 0.9
    assert [r["recipe"] for r in rows(recs[:2])] == ["byo"]  # one data version: the plain name


def test_seed_recorded_twice_newest_counts() -> None:
    recs = quickstart_records()
    old = recs[0].model_copy(deep=True)
    new = record("quickstart", 0, [model("student", "mf", metrics(0.1, 0.2, 0.3, 0.4, 0.5, 0.6), params=MF_PARAMS,
                                         latency=(1.0, 2.0)), model("baseline", "pop", QS_POP)],
                 created_at="2025-03-01T00:00:00+00:00")
    # the older record (same seed, same hash) is given last: order of the input must not matter
    for given in ([*recs[1:], new, old], [old, new, *recs[1:]]):
        row = by_key(rows(given))[("quickstart", "amazon-beauty", "loo-time", "student", "mf")]
        assert row["seeds"] == 3
        vals = [0.1, QS_MF[1][0]["HR@5"], QS_MF[2][0]["HR@5"]]
        assert row["HR@5"] == pytest.approx(sum(vals) / 3, rel=1e-12)
        assert row["HR@5_ci95"] == pytest.approx(expected_ci(vals, T95_DF2), rel=1e-9)


def test_same_seed_on_other_dataset_or_split_is_not_a_duplicate() -> None:
    a = record("quickstart", 0, [model("student", "mf", QS_MF[0][0])], created_at="2025-01-01T00:00:00+00:00")
    b = record("quickstart", 0, [model("student", "mf", QS_MF[1][0])], split="loo-random",
               created_at="2025-01-02T00:00:00+00:00")
    c = record("quickstart", 0, [model("student", "mf", QS_MF[2][0])], dataset="amazon-beauty[max_users=500]",
               created_at="2025-01-03T00:00:00+00:00")
    table = rows([a, b, c])
    assert len(table) == 3 and all(r["seeds"] == 1 for r in table)


def test_empty() -> None:
    assert rows([]) == []
    assert render([], "md") == "No run records found.\n"
    assert json.loads(render([], "json")) == []
    assert "No run records found." in render([], "html")


# --------------------------------------------------------------------------------------------------
# renderings
# --------------------------------------------------------------------------------------------------

def md_sections(md: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in md.splitlines():
        if line.startswith("## "):
            current = line[3:]
            out[current] = []
        elif current and line.startswith("|"):
            out[current].append(line)
    return out


def test_markdown_header_directions() -> None:
    assert higher_is_better("HR@10") is True
    assert higher_is_better("NDCG@5") is True
    assert higher_is_better("latency_ms_p50") is False
    assert higher_is_better("params") is False
    assert higher_is_better("seeds") is None
    md = render(fixture_records(), "md")
    header = md_sections(md)["amazon-beauty · loo-time"][0]
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells == ["recipe", "role", "component", "seeds", "HR@5 ↑", "HR@10 ↑", "HR@20 ↑", "NDCG@5 ↑",
                     "NDCG@10 ↑", "NDCG@20 ↑", "latency_ms_p50 ↓", "latency_ms_p95 ↓", "params ↓"]


def test_markdown_sections_per_dataset_and_split() -> None:
    md = render(fixture_records(), "md")
    sections = md_sections(md)
    assert list(sections) == ["amazon-beauty · loo-random", "amazon-beauty · loo-time",
                              "amazon-beauty[max_users=500] · loo-time"]
    body = {name: [line.split("|")[1].strip() for line in lines[2:]] for name, lines in sections.items()}
    assert body == {
        "amazon-beauty · loo-random": ["quickstart-random", "quickstart-random"],
        "amazon-beauty · loo-time": ["mf-dim128", "quickstart", "quickstart"],
        "amazon-beauty[max_users=500] · loo-time": ["quickstart-small", "quickstart-small"],
    }
    # a section without latency measurements has no latency columns
    assert "latency" not in sections["amazon-beauty · loo-random"][0]
    assert md.rstrip().endswith("models selected on the validation split.")


def test_markdown_cells() -> None:
    lines = md_sections(render(fixture_records(), "md"))["amazon-beauty · loo-time"]
    parsed = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    cells = {f"{row[0]}/{row[2]}": row for row in parsed}
    mf = cells["quickstart/mf"]
    assert mf[3] == "3"
    assert mf[4] == "0.0320 ± 0.0050"  # HR@5 0.032 ± 0.0049687
    assert mf[5] == "0.0533 ± 0.0076"  # HR@10 0.053333 ± 0.0075892
    assert mf[10] == "1.350 ± 0.373"  # latency: three decimals
    assert mf[12] == "1,234,560"
    pop = cells["quickstart/pop"]
    assert pop[4] == "0.0150"  # identical seeds: no "± 0"
    assert pop[10] == "" and pop[11] == "" and pop[12] == "0"
    single = cells["mf-dim128/mf"]
    assert single[3] == "1" and single[4] == "0.0360" and "±" not in "".join(single)


def test_csv_columns_and_values() -> None:
    text = render(fixture_records(), "csv")
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["recipe", "dataset", "split", "role", "component", "seeds",
                                 *[c for m in METRIC_KEYS for c in (m, f"{m}_ci95")],
                                 "latency_ms_p50", "latency_ms_p50_ci95", "latency_ms_p95", "latency_ms_p95_ci95",
                                 "params"]
    got = list(reader)
    table = rows(fixture_records())
    assert len(got) == len(table)
    for line, row in zip(got, table):
        for col in reader.fieldnames:
            if col in row:
                want = row[col]
                if want is None:  # an undefined interval (one seed) is an empty cell
                    assert line[col] == "", col
                else:
                    assert (float(line[col]) == want) if isinstance(want, float) else (line[col] == str(want)), col
            else:
                assert line[col] == "", col


def test_html_single_self_contained_file() -> None:
    page = render(fixture_records(), "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "src=" not in page and "@import" not in page
    assert page.count("<script>") == 1 and "<script src" not in page
    script = page[page.index("<script>"):page.index("</script>")]
    assert "table.lb" in script and "sort(" in script and "addEventListener('click'" in script
    assert page.count("<table class='lb'>") == 3
    assert page.count("<h2>") == 3
    assert "<h2>amazon-beauty · loo-time</h2>" in page
    assert "<th title='click to sort' data-best='hi'>HR@10 ↑</th>" in page
    assert "<th title='click to sort' data-best='lo'>latency_ms_p50 ↓</th>" in page
    # cells carry the raw value for numeric sorting, and show the formatted one
    assert "<td data-v='1234560'>1,234,560</td>" in page
    assert "<td data-v='0.032'>0.0320<span class='ci'> ± 0.0050</span></td>" in page


def test_html_escapes_names() -> None:
    rec = record("<b>x</b>", 0, [model("student", "a'b&c", QS_POP)], dataset="d<s>")
    page = render([rec], "html")
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "a&#x27;b&amp;c" in page and "d&lt;s&gt;" in page


# --------------------------------------------------------------------------------------------------
# the CLI command
# --------------------------------------------------------------------------------------------------

def write_all(results: Path, recs: list[RunRecord]) -> None:
    for rec in recs:
        write_record(results, rec)


def test_cli_json_equals_rows(tmp_path: Path) -> None:
    recs = fixture_records()
    write_all(tmp_path, recs)
    result = CliRunner().invoke(main, ["leaderboard", "--results-dir", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == rows(recs) == rows(load_records(tmp_path))


@pytest.mark.parametrize("fmt", ["md", "csv", "json", "html"])
def test_cli_output_file_matches_golden(tmp_path: Path, fmt: str) -> None:
    results, out = tmp_path / "results", tmp_path / "site" / f"lb.{fmt}"
    write_all(results, fixture_records())
    result = CliRunner().invoke(main, ["leaderboard", "--results-dir", str(results), "--format", fmt,
                                       "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"wrote {out}" in result.stderr
    assert out.read_bytes() == render(fixture_records(), fmt).encode("utf-8")
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp file left


def test_cli_default_is_markdown(tmp_path: Path) -> None:
    write_all(tmp_path, fixture_records())
    result = CliRunner().invoke(main, ["leaderboard", "--results-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == render(fixture_records(), "md")


@pytest.mark.parametrize("make_runs", [False, True])
def test_cli_empty_results_dir(tmp_path: Path, make_runs: bool) -> None:
    if make_runs:
        (tmp_path / "runs" / "quickstart").mkdir(parents=True)
    result = CliRunner().invoke(main, ["leaderboard", "--results-dir", str(tmp_path)])
    # an empty or missing folder is an error naming it, not an empty leaderboard (a typo must not look like "no runs")
    assert result.exit_code == 2 and result.stdout == ""
    state = "holds no run record" if make_runs else "does not exist"
    assert f"{tmp_path / 'runs'} {state}; fix: point --results-dir" in result.stderr


@pytest.mark.parametrize("content", [b'{"record_version": 1, "run_id": "x", "created', b"", b"[]"],
                         ids=["truncated", "empty", "not-an-object"])
def test_cli_corrupt_record_exits_2_with_one_line(tmp_path: Path, content: bytes) -> None:
    write_all(tmp_path, quickstart_records())
    bad = tmp_path / "runs" / "quickstart" / "broken.json"
    bad.write_bytes(content)
    result = CliRunner().invoke(main, ["leaderboard", "--results-dir", str(tmp_path), "--format", "json"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert str(bad) in lines[0] and "fix:" in lines[0]


def test_columns_selection_keeps_keys_and_cis(tmp_path):
    from mmbench.errors import ResultsError
    from mmbench.results.leaderboard import rows, select_columns

    table = rows(fixture_records())
    picked = select_columns(table, ["NDCG@10", "HR@10"])
    assert list(picked[0])[:6] == ["recipe", "dataset", "split", "role", "component", "seeds"]
    assert [c for c in picked[0] if not c.endswith("_ci95")][6:] == ["NDCG@10", "HR@10"]
    assert "NDCG@10_ci95" in picked[0]
    with pytest.raises(ResultsError, match=r"unknown leaderboard column\(s\) \['NDCG@11'\]; available: HR@5"):
        select_columns(table, ["NDCG@11"])


def test_a_record_with_a_repeated_role_and_component_is_refused():
    from mmbench.errors import ResultsError

    twice = record("quickstart", 0, [model("baseline", "mf", QS_POP), model("baseline", "mf", QS_POP)])
    with pytest.raises(ResultsError, match="two models with the same role and component"):
        rows([twice])


def test_cold_and_warm_slices_become_columns_beside_their_metric() -> None:
    recs = []
    for seed, cold in enumerate((0.01, 0.03)):
        m = model("teacher", "freedom", {"NDCG@20": 0.05, "HR@20": 0.1}, params=10)
        m.slices = {"cold": {"pairs": 4, "users": 4, "metrics": {"NDCG@20": cold, "HR@20": 0.02}},
                    "warm": {"pairs": 96, "users": 90, "metrics": {"NDCG@20": 0.06, "HR@20": 0.12}}}
        recs.append(record("r", seed, [m]))
    row = rows(recs)[0]
    values = [c for c in row if not c.endswith("_ci95")][6:]
    assert values == ["HR@20", "HR@20[cold]", "HR@20[warm]", "NDCG@20", "NDCG@20[cold]", "NDCG@20[warm]", "params"]
    assert row["NDCG@20[cold]"] == pytest.approx(0.02) and row["NDCG@20[warm]"] == pytest.approx(0.06)
    assert higher_is_better("NDCG@20[cold]") is True
    # a seed without slices (an older record) leaves the slice columns out rather than averaging fewer seeds
    recs[1].models[0].slices = None
    assert "NDCG@20[cold]" not in rows(recs)[0]
