"""Robustness under missing modalities, latency with encoders and the KD report, end to end on real data.

Reuses the KD run of ``conftest.py`` (``kd_run``) (Amazon Beauty, 300 users, MiniLM text, EfficientNet images — absent
from Beauty — mm-gnn → LightGCN with an adapter, the no-KD LightGCN, and an ID-only MF baseline).
"""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.metrics.robustness import auc, condition_keep, keep_mask, relative, seeds_for, summary_rate
from mmbench.recipe.load import load_recipe
from mmbench.results.leaderboard import render
from mmbench.runner.evaluate import evaluate
from mmbench.runner.build import build_model
from mmbench.runner.run import prepare
from mmbench.runner.features import extract_all


# ------------------------------------------------------------------------------------------------ masks


def test_keep_mask_drops_exactly_the_rate_and_is_nested_and_seeded():
    n = 1001
    masks = {r: keep_mask(n, r, 0) for r in (0.0, 0.25, 0.5, 0.75, 1.0)}
    assert [int((~m).sum()) for m in masks.values()] == [0, 250, 500, 751, 1001]  # round(p * n)
    for lo, hi in ((0.25, 0.5), (0.5, 0.75)):
        assert bool(((~masks[lo]) <= (~masks[hi])).all())  # missing at 25% ⊂ missing at 50%
    assert torch.equal(keep_mask(n, 0.5, 0), masks[0.5])  # deterministic
    assert not torch.equal(keep_mask(n, 0.5, 1), masks[0.5])  # another mask seed, other items
    with pytest.raises(ValueError, match="missing rate"):
        keep_mask(n, 1.5, 0)


def test_all_condition_drops_every_modality_from_the_same_items():
    one = condition_keep("text", ["text", "image"], 200, 0.5, 3)
    both = condition_keep("all", ["text", "image"], 200, 0.5, 3)
    assert list(one) == ["text"] and sorted(both) == ["image", "text"]
    assert torch.equal(both["text"], both["image"]) and torch.equal(both["text"], one["text"])
    assert condition_keep("audio", ["text"], 200, 0.5, 3) == {}


def test_rates_zero_and_one_need_one_mask_seed():
    assert seeds_for(0.0, 3) == [0] and seeds_for(1.0, 3) == [0] and seeds_for(0.5, 3) == [0, 1, 2]


def test_summaries_by_hand():
    # clean 0.04; 0.03 at 50%; 0.02 at 100%: trapezoids (1 + 0.75) / 2 * 0.5 + (0.75 + 0.5) / 2 * 0.5 = 0.75
    assert auc([0.5, 1.0], [0.03, 0.02], 0.04) == pytest.approx(0.75)
    assert auc([0.5, 1.0], [0.04, 0.04], 0.04) == pytest.approx(1.0)  # unaffected
    assert auc([0.5], [0.02], 0.04) == pytest.approx(0.75)  # over the evaluated range [0, 0.5]
    assert auc([0.5], [0.0], 0.0) is None
    assert relative(0.03, 0.04) == pytest.approx(-0.25) and relative(0.0, 0.0) == 0.0 and relative(1.0, 0.0) is None
    assert summary_rate([0.0, 0.25, 0.5, 1.0]) == 0.5 and summary_rate([0.0, 0.3, 0.9]) == 0.3


# ------------------------------------------------------------------------------------------ end to end


def _curve(model, modality, imputer):
    return next(c for c in model.robustness["curves"] if c["modality"] == modality and c["imputer"] == imputer)


def test_every_model_is_evaluated_or_reported_unaffected(kd_run):
    rec = kd_run[3]
    teacher, student, twin, mf = rec.models
    for m in rec.models:
        rb = m.robustness
        assert rb["rates"] == [0.0, 0.5, 1.0] and rb["mask_seeds"] == 2
        assert rb["modalities"] == ["text", "image", "all"]
        # the trained imputer (mean; none for the ID-only mf) and the test-time one (zero), for every modality
        trained = "none" if m is mf else "mean"
        assert {(c["modality"], c["imputer"]) for c in rb["curves"]} == {
            (m_, i) for m_ in ("text", "image", "all") for i in (trained, "zero")}
        for c in rb["curves"]:
            assert c["points"][0]["metrics"] == m.metrics["test"]  # p = 0 under the trained imputer is the clean run
            assert c["absent"] == (c["modality"] == "image")
    for m in (teacher, student, twin):
        text = _curve(m, "text", "mean")
        assert not text["unaffected"] and text["points"][1]["per_seed"] is not None  # 2 mask seeds at 50%
        assert len(text["points"][1]["per_seed"]) == 2 and text["points"][2]["per_seed"] is None
        # a point is the mean over its mask seeds, not one seed's value (the two seeds' masks differ)
        point, (s0, s1) = text["points"][1], text["points"][1]["per_seed"]
        assert any(s0[col] != s1[col] for col in s0)
        for col in s0:
            assert point["metrics"][col] == pytest.approx((s0[col] + s1[col]) / 2, rel=1e-12, abs=1e-15)
        image = _curve(m, "image", "mean")
        assert image["unaffected"] and "no item has image" in image["note"]
    for c in mf.robustness["curves"]:
        assert c["unaffected"] and c["note"] == "reads no item features"
        assert all(p["metrics"] == mf.metrics["test"] for p in c["points"])
    assert mf.robustness["evaluations"] == 0


def test_masks_change_what_the_adapter_student_sees(kd_run):
    rec = kd_run[3]
    student = rec.models[1]
    full = _curve(student, "text", "zero")["points"][2]["metrics"]["NDCG@10"]
    clean = student.metrics["test"]["NDCG@10"]
    assert full != clean  # every item lost its text: the folded adapter offsets changed


def test_masks_rebuild_cached_tables_and_restore_them(kd_run, data_cache):
    """An adapter student under a 100%-missing-text mask: its cached tables and metrics change, and the clean
    tables and metrics come back exactly once the mask is lifted."""
    root, path, _, _ = kd_run
    recipe = load_recipe(path)
    data, split, _ = prepare(recipe, log=lambda _: None)
    features = extract_all(recipe.encoders, data, log=lambda _: None, progress=False)
    torch.manual_seed(0)
    model, items = build_model("student", recipe.student, recipe, split, features)
    with torch.no_grad():
        for lin in model.adapter.proj.values():
            lin.weight.normal_(0, 0.5)
    model.eval()
    kw = dict(metrics=["ndcg"], ks=[10])
    clean = evaluate(model.folded().score, split, "test", **kw)
    before = model.tables()[1].clone()
    with items.masked(condition_keep("text", items.names, split.n_items, 1.0, 0)):
        masked_tables = model.tables()[1].clone()
        masked = evaluate(model.folded().score, split, "test", **kw)
    assert not torch.equal(before, masked_tables)  # the cache follows the condition
    assert torch.equal(model.tables()[1], before)  # and is rebuilt for the clean condition afterwards
    assert evaluate(model.folded().score, split, "test", **kw) == clean
    assert masked != clean


def test_latency_with_and_without_encoders(kd_run):
    rec = kd_run[3]
    teacher, student, _, mf = rec.models
    for m in (teacher, student):
        lat = m.latency
        assert lat["encoders"] == {"text": "minilm"}  # image is absent: nothing to encode
        assert lat["latency_enc_ms_p50"] > lat["latency_ms_p50"] > 0 and lat["refresh_ms"] > 0
    assert mf.latency["encoders"] == {} and mf.latency["latency_enc_ms_p50"] == mf.latency["latency_ms_p50"]


def test_kd_report_in_the_record(kd_run):
    rec = kd_run[3]
    teacher, student, twin, _ = rec.models
    kd = rec.kd
    assert (kd["teacher"], kd["student"], kd["baseline"]) == ("mm-gnn", "lightgcn", "lightgcn")
    nd = kd["metrics"]["NDCG@10"]
    assert nd["teacher"] == teacher.metrics["test"]["NDCG@10"] and nd["student"] == student.metrics["test"]["NDCG@10"]
    if nd["teacher"]:
        assert nd["retention"] == pytest.approx(nd["student"] / nd["teacher"])
    assert nd["gain"] == pytest.approx(nd["student"] / nd["baseline"] - 1)
    assert kd["params_ratio"] == pytest.approx(student.size["params"] / teacher.size["params"])
    assert kd["latency_ratio"] == pytest.approx(student.latency["latency_ms_p50"] / teacher.latency["latency_ms_p50"])
    tests = kd["tests"]
    assert tests["metric"] == "NDCG@10" and tests["vs_baseline"]["n"] == tests["vs_teacher"]["n"] == 300
    for side in ("vs_baseline", "vs_teacher"):
        p = tests[side]["p"]
        assert p is None or 0.0 <= p <= 1.0


def test_leaderboard_views_of_the_run(kd_run, tmp_path):
    root = kd_run[0]
    rec = kd_run[3]
    table = json.loads(render([rec], "json"))
    by_role = {(r["role"], r["component"]): r for r in table}
    for key in [("teacher", "mm-gnn"), ("student", "lightgcn"), ("baseline", "lightgcn")]:
        row = by_role[key]
        for col in ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20", "latency_ms_p50", "params"):
            assert col in row, (key, col)
        assert "ΔNDCG@10[no-text@50%]" in row and "AUC-NDCG@10[no-text]" in row
        assert not any("no-image" in c for c in row)  # no item has images: no column of zeros
    assert by_role[("baseline", "mf")]["ΔNDCG@10[no-text@50%]"] == 0.0  # ID-only: unaffected, shown
    kd = json.loads(render([rec], "json", view="kd"))
    assert len(kd) == 1 and kd[0]["teacher"] == "mm-gnn" and "retention NDCG@10" in kd[0]
    assert kd[0]["p_vs_baseline"] is None  # one seed: no across-seed test
    rob = json.loads(render([rec], "json", view="robustness"))
    # 4 models × 3 modalities × 2 imputers, except that an unaffected curve is shown once (as trained):
    # teacher and the two LightGCNs are unaffected by images, mf by everything
    assert len(rob) == 3 * (2 + 1 + 2) + 3
    assert {r["note"].split(":")[0] for r in rob} >= {"unaffected", "imputer swapped in at test time", ""}
    md = render([rec], "md", view="robustness")
    assert "p=50% ↑" in md and "AUC ↑" in md
    result = CliRunner().invoke(main, ["leaderboard", "--results-dir", str(root / "res"), "--view", "kd",
                                       "--plot", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    # the Pareto chart, the robustness overview and the recipe's robustness figure
    assert len(pngs) == 3 and all(n.endswith(".png") for n in pngs)
    assert all((tmp_path / "plots" / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in pngs)


def test_run_prints_one_kd_line_per_seed(kd_run):
    from mmbench.results.terminal import kd_lines

    _, _, paths, rec = kd_run
    (line,) = kd_lines(paths)
    nd = rec.kd["metrics"]["NDCG@10"]
    gate = rec.kd["gate"]
    verdict = "gate passed" if gate["passed"] else "⚠ gate: teacher ≤ no-KD on valid"
    assert line.startswith(f"KD seed 0 (mm-gnn → lightgcn, NDCG@10): {verdict} (valid NDCG@10 teacher "
                           f"{gate['teacher_valid']:.4f} vs no-KD {gate['baseline_valid']:.4f}")
    assert "; retention " in line
    assert f"gain over no-KD {nd['gain'] * 100:+.1f}%" in line
    assert "paired over users p" in line and "vs teacher p" in line
    assert f"params {rec.kd['params_ratio']:.3g}×" in line
