"""Trainer: vectorised BPR sampling, selection on valid only, determinism, failure guard."""

from __future__ import annotations

import pytest
import torch

from mmbench.components.students.mf import MFStudent
from mmbench.components.students.pop import PopStudent
from mmbench.recipe.schema import EvalSpec, TrainSpec
from mmbench.runner import train as train_mod
from mmbench.runner.train import BPRSampler, TrainingError, fit, seed_everything

EV = EvalSpec(ks=[10], metrics=["hr", "ndcg"])


def test_negatives_are_never_train_positives(small_split):
    graph = small_split.graph
    sampler = BPRSampler(graph, torch.Generator().manual_seed(0))
    positives = set(zip(graph.user.tolist(), graph.item.tolist()))
    seen = 0
    for users, pos, neg in sampler.epoch(512):
        assert all((u, i) in positives for u, i in zip(users.tolist(), pos.tolist()))
        assert not any((u, n) in positives for u, n in zip(users.tolist(), neg.tolist()))
        seen += len(users)
    assert seen == len(graph.user)


def _fit(split, seed=0, **train):
    seed_everything(seed)
    model = MFStudent(split.graph, dim=16)
    spec = TrainSpec(**{"epochs": 6, "batch_size": 256, "lr": 0.01, "eval_every": 1, "patience": 10, **train})
    return model, fit(model, split, spec, EV, seed=seed)


def test_same_seed_same_result(small_split):
    (m1, r1), (m2, r2) = _fit(small_split), _fit(small_split)
    assert r1.valid == r2.valid and r1.best_epoch == r2.best_epoch
    assert torch.equal(m1.user.weight, m2.user.weight)
    _, r3 = _fit(small_split, seed=1)
    assert [h["loss"] for h in r3.history] != [h["loss"] for h in r1.history]


def test_selection_uses_valid_and_restores_best_epoch(small_split, monkeypatch):
    calls = []
    real = train_mod.evaluate

    def spy(score, split, part, **kw):
        calls.append(part)
        return real(score, split, part, **kw)

    monkeypatch.setattr(train_mod, "evaluate", spy)
    model, result = _fit(small_split, epochs=8)
    assert set(calls) == {"valid"}, "training must never look at the test split"
    curve = [h["valid"] for h in result.history if "valid" in h]
    assert result.best_epoch == 1 + curve.index(max(curve))
    # the restored weights reproduce the best validation score
    from mmbench.runner.evaluate import evaluate

    again = evaluate(model.score, small_split, "valid", metrics=EV.metrics, ks=EV.ks)
    assert again["NDCG@10"] == pytest.approx(max(curve), abs=1e-12)


def test_early_stopping_by_patience(small_split):
    _, result = _fit(small_split, epochs=50, lr=0.2, patience=2)
    assert result.stopped.startswith("patience") and result.epochs_run < 50
    assert result.epochs_run - result.best_epoch == 2


def test_untrainable_model_skips_training(small_split):
    result = fit(PopStudent(small_split.graph), small_split, TrainSpec(epochs=5), EV, seed=0)
    assert result.epochs_run == 0 and result.stopped == "nothing to train" and result.valid["HR@10"] > 0


def test_non_finite_loss_raises_clear_error(small_split):
    class Exploding(MFStudent):
        def loss(self, users, pos, neg):
            return super().loss(users, pos, neg) * float("nan")

    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1, step 1; lower train.lr"):
        fit(Exploding(small_split.graph, dim=4), small_split, TrainSpec(epochs=2), EV, seed=0)


def test_mf_learns_beyond_popularity(small_split):
    _, mf = _fit(small_split, epochs=15, lr=0.01)
    pop = fit(PopStudent(small_split.graph), small_split, TrainSpec(), EV, seed=0)
    assert mf.history[0]["loss"] > mf.history[-1]["loss"]
    assert mf.valid["HR@10"] > 0
    assert pop.valid["HR@10"] > 0
