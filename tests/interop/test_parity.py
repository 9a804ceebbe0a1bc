"""The parity benchmark: mmbench's lightgcn and RecBole's LightGCN on one split, matched, side by side.

One real run on a 1,000-user Amazon Beauty subset (4 epochs, both tools) serves most tests; the CLI tests
replay it. Wall times are reported, never asserted.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import warnings

import pytest
import torch
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.interop import parity, parity_sides
from mmbench.interop.parity import ParityError, ParityParams, ParityResult, SideResult, from_recbole, ratios
from mmbench.runner.evaluate import metric_columns

RECBOLE_NOISE = pytest.mark.filterwarnings(
    "ignore::FutureWarning", "ignore::UserWarning", "ignore::DeprecationWarning")
PARAMS = {"max_users": 1000}
HP = ParityParams(epochs=4, eval_every=2, patience=5)
COLUMNS = metric_columns(["hr", "ndcg", "recall", "mrr"], [5, 10, 20])


@pytest.fixture(scope="module")
def result() -> ParityResult:
    pytest.importorskip("recbole")
    with warnings.catch_warnings():  # RecBole's dependencies' deprecation noise
        for category in (FutureWarning, UserWarning, DeprecationWarning):
            warnings.simplefilter("ignore", category)
        return parity.run_parity("amazon-beauty", params=PARAMS, hp=HP, seed=0)


def test_both_tools_ran_on_the_same_split(result):
    split = make_split("loo-time", load_dataset("amazon-beauty", PARAMS).interactions)
    want = {"users": split.n_users, "items": split.n_items, "train": len(split.train), "valid": len(split.valid),
            "test": len(split.test), "valid_users": split.n_users, "test_users": split.n_users}  # loo: one each
    assert result.mmbench.data == want
    assert result.recbole.data == want


def test_metric_columns_and_values(result):
    for side in (result.mmbench, result.recbole):
        assert sorted(side.test) == sorted(COLUMNS)
        assert sorted(side.valid) == sorted(COLUMNS)
        assert all(0.0 <= v <= 1.0 for v in side.test.values())
        # leave-one-out: one target per user, so HR = Recall, and metrics grow with K
        for k in (5, 10, 20):
            assert side.test[f"HR@{k}"] == pytest.approx(side.test[f"Recall@{k}"])
        assert side.test["HR@5"] <= side.test["HR@10"] <= side.test["HR@20"]
    assert result.recbole.test["NDCG@10"] > 0 and result.mmbench.test["NDCG@10"] > 0  # the subset is not degenerate


def test_recbole_names_map_onto_mmbench_columns():
    got = from_recbole({"hit@10": 0.1, "ndcg@5": 0.2, "recall@20": 0.3, "mrr@10": 0.4})
    assert got == {"HR@10": 0.1, "NDCG@5": 0.2, "Recall@20": 0.3, "MRR@10": 0.4}
    for bad in ("precision@10", "ndcg", "NDCG@10"):
        with pytest.raises(ParityError, match="no mmbench column"):
            from_recbole({bad: 0.1})


def test_ratio_arithmetic(result):
    for col in COLUMNS:
        mm, rb = result.mmbench.test[col], result.recbole.test[col]
        assert result.ratio[col] == (mm / rb if rb else None)
    assert result.wall_ratio == result.mmbench.timings["wall_s"] / result.recbole.timings["wall_s"]
    assert ratios({"a": 1.0, "b": 3.0}, {"a": 0.0, "b": 2.0}) == {"a": None, "b": 1.5}


def test_timings_add_up(result):
    for side in (result.mmbench, result.recbole):
        t = side.timings
        assert set(t) == {"prepare_s", "build_s", "train_s", "valid_s", "test_s", "wall_s"}
        assert all(v >= 0 for v in t.values())
        assert t["wall_s"] == pytest.approx(t["build_s"] + t["train_s"] + t["valid_s"] + t["test_s"])
        assert len(side.epoch_seconds) == side.epochs_run and sum(side.epoch_seconds) == pytest.approx(t["train_s"])
    assert result.host["loadavg_before"] and result.host["cpu_count"] >= 1


def test_one_set_of_settings_reaches_both_tools(result):
    rb = result.recbole.config
    assert (rb["embedding_size"], rb["n_layers"], rb["learning_rate"], rb["train_batch_size"]) == (64, 3, 1e-2, 4096)
    assert rb["reg_weight"] == 2 * HP.reg and rb["require_pow"] is True
    assert (rb["epochs"], rb["eval_step"], rb["stopping_step"]) == (4, 2, HP.patience - 1)
    assert rb["valid_metric"] == "NDCG@10" and rb["topk"] == [5, 10, 20]
    assert rb["metrics"] == ["Hit", "NDCG", "Recall", "MRR"] and rb["eval_args"]["mode"] == "full"
    assert rb["eval_batch_size"] == HP.eval_batch_size * (result.recbole.data["items"] + 1)
    mm = result.mmbench.config
    assert mm["student"]["params"] == {"dim": 64, "layers": 3, "reg": HP.reg}
    assert mm["train"]["patience"] == HP.patience and mm["eval"]["batch_size"] == HP.eval_batch_size
    # the same budget and validation schedule on both sides (patience 5 cannot stop a 4-epoch run)
    assert result.mmbench.epochs_run == result.recbole.epochs_run == 4
    assert [e for e, _ in result.mmbench.valid_curve] == [e for e, _ in result.recbole.valid_curve] == [2, 4]
    for side in (result.mmbench, result.recbole):
        assert side.best_epoch in (2, 4)
        assert dict(side.valid_curve)[side.best_epoch] == pytest.approx(side.valid["NDCG@10"])
    assert result.versions["recbole"] == "1.2.1" and result.threads == torch.get_num_threads()


def test_stopping_rules_agree():
    """mmbench stops after `patience` validations without improvement; RecBole's stopping_step = patience - 1 too."""
    pytest.importorskip("recbole")
    from recbole.utils import early_stopping

    curve = [0.1, 0.3, 0.2, 0.25, 0.29, 0.28, 0.5]
    for patience in (1, 2, 3, 4):
        best, step, rb_stop = -math.inf, 0, None
        for i, v in enumerate(curve):
            best, step, stop, _ = early_stopping(v, best, step, max_step=ParityParams(patience=patience)
                                                 .recbole_side(10)["stopping_step"])
            if stop:
                rb_stop = i
                break
        best, stale, mm_stop = -math.inf, 0, None
        for i, v in enumerate(curve):  # mmbench.runner.train.fit's rule
            best, stale = (v, 0) if v > best else (best, stale + 1)
            if stale >= patience:
                mm_stop = i
                break
        assert rb_stop == mm_stop, patience


def test_goal_verdict():
    side = SideResult({}, {}, 0, 0, [], {}, [], {}, {})
    res = ParityResult("d", {}, "loo-time", 0, 1, {}, side, side, ratio={"NDCG@10": 0.95}, wall_ratio=0.25)
    assert res.goal()["met"]
    for ndcg, wall, ok in ((1.3, 0.1, True), (0.94, 0.1, False), (1.0, 0.26, False), (None, 0.1, False)):
        res = dataclasses.replace(res, ratio={"NDCG@10": ndcg}, wall_ratio=wall)
        assert res.goal()["met"] is ok, (ndcg, wall)
    with pytest.raises(ParityError, match="select_metric"):
        ParityParams(select_metric="NDCG@50")


def test_different_data_is_refused(monkeypatch):
    pytest.importorskip("recbole")
    side = SideResult({c: 0.1 for c in COLUMNS}, {}, 2, 2, [], {"wall_s": 1.0}, [], {"train": 10}, {})
    monkeypatch.setattr(parity_sides, "run_mmbench", lambda *a: dataclasses.replace(side))
    monkeypatch.setattr(parity_sides, "run_recbole", lambda *a: dataclasses.replace(side, data={"train": 9}))
    with pytest.raises(ParityError, match="different data.*'train': \\(10, 9\\)"):
        parity.run_parity("amazon-beauty", params={"max_users": 100})


@RECBOLE_NOISE
def test_objectives_match(tmp_path, monkeypatch):
    """Same weights, same triples: mmbench's loss equals RecBole's LightGCN loss under the parity mapping."""
    pytest.importorskip("recbole")
    from mmbench.components.students.lightgcn import LightGCNStudent
    from mmbench.interop.recbole_data import benchmark_config, export_split, recbole_config

    monkeypatch.chdir(tmp_path)
    data = load_dataset("amazon-beauty", {"max_users": 300})
    split = make_split("loo-time", data.interactions)
    export_split(split, tmp_path / "data", "p", data.interactions)
    hp = ParityParams(reg=0.05)  # a large reg, so a wrong factor shows
    config = recbole_config("LightGCN", {**benchmark_config(tmp_path / "data", "p"),
                                         "checkpoint_dir": str(tmp_path / "saved"), **hp.recbole_side(split.n_items)})
    from recbole.data import create_dataset, data_preparation
    from recbole.data.interaction import Interaction
    from recbole.model.general_recommender import LightGCN

    train_data, _, _ = data_preparation(config, create_dataset(config))
    ds = train_data._dataset
    rb = LightGCN(config, ds)
    mm = LightGCNStudent(split.graph, **hp.mmbench_side()["student"]["params"])
    uid = torch.as_tensor(ds.token2id(ds.uid_field, [str(u) for u in range(split.n_users)]))
    iid = torch.as_tensor(ds.token2id(ds.iid_field, [str(i) for i in range(split.n_items)]))
    with torch.no_grad():
        mm.user.weight.copy_(rb.user_embedding.weight[uid])
        mm.item.weight.copy_(rb.item_embedding.weight[iid])
    gen = torch.Generator().manual_seed(0)
    pick = torch.randint(len(split.train), (512,), generator=gen)
    users = torch.as_tensor(split.train.user)[pick].long()
    pos = torch.as_tensor(split.train.item)[pick].long()
    neg = torch.randint(split.n_items, (512,), generator=gen)
    batch = Interaction({rb.USER_ID: uid[users], rb.ITEM_ID: iid[pos], rb.NEG_ITEM_ID: iid[neg]})
    want = rb.calculate_loss(batch).item()
    got = mm.loss(users, pos, neg).item()
    assert got == pytest.approx(want, rel=1e-5)
    reg_part = mm.reg * sum(float(t.square().sum()) for t in (mm.user.weight[users], mm.item.weight[pos],
                                                               mm.item.weight[neg])) / 512
    assert reg_part > 1e-3 * got  # the regulariser is a visible part of the compared loss


def _cli(*args: str):
    return CliRunner().invoke(main, ["parity", *args], catch_exceptions=False)


def test_cli_prints_side_by_side_and_writes_json(result, monkeypatch, tmp_path):
    calls = []

    def fake(dataset, **kwargs):
        calls.append((dataset, kwargs))
        return result

    monkeypatch.setattr(parity, "run_parity", fake)
    out = tmp_path / "sub" / "parity.json"
    res = _cli("--dataset", "amazon-beauty", "-p", "max_users=1000", "--epochs", "4", "--patience", "3",
               "--json-out", str(out), "-q")
    assert res.exit_code == 0, res.output
    (dataset, kwargs), = calls
    assert dataset == "amazon-beauty" and kwargs["params"] == {"max_users": 1000} and kwargs["seed"] == 0
    assert kwargs["hp"] == ParityParams(epochs=4, patience=3)  # the other options keep the suite's defaults
    lines = res.output.splitlines()
    assert "| test metric" in lines[1] and "mmbench" in lines[1] and "RecBole" in lines[1] and "ratio" in lines[1]
    ndcg = next(line for line in lines if line.startswith("| NDCG@10 "))
    cells = [c.strip() for c in ndcg.strip("|").split("|")]
    assert cells == ["NDCG@10", f"{result.mmbench.test['NDCG@10']:.4f}", f"{result.recbole.test['NDCG@10']:.4f}",
                     f"{result.ratio['NDCG@10']:.3f}"]
    wall = next(line for line in lines if line.startswith("| wall time"))
    assert f"{result.wall_ratio:.3f}" in wall
    assert lines[-2].startswith("goal ") and "NDCG@10" in lines[-2] and "wall time" in lines[-2]
    assert ("goal MET" in lines[-2]) is result.goal()["met"]
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result.to_dict()))
    assert written["recbole"]["test"]["HR@10"] == result.recbole.test["HR@10"]
    assert not list(out.parent.glob(".*.tmp"))


def test_cli_without_recbole_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "recbole" else real(name, *a))
    res = _cli("--dataset", "movielens-100k")
    assert res.exit_code == 2
    assert "error:" in res.output and "pip install --no-deps recbole==1.2.1" in res.output
    assert "Traceback" not in res.output


def test_cli_rejects_a_malformed_param():
    res = CliRunner().invoke(main, ["parity", "--dataset", "amazon-beauty", "-p", "max_users"])
    assert res.exit_code == 2 and "expected KEY=VALUE" in res.output


def test_parity_is_registered():
    assert "parity" in main.commands
