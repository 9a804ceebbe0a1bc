"""Distillation losses: the contract for every registered loss, then each loss against hand-computed values.

Expected values are written out from the papers' formulas with ``math``/``numpy`` in the test, never by
calling the module's own helpers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

# Imported explicitly so that they register even before mmbench.components lists them.
from mmbench.components.distill import contrastive, embedding, listwise_kl, ranking_rd, rrd
from mmbench.kinds import DISTILL_LOSSES
from mmbench.params import REQUIRED, param_specs

MODULES = {"listwise-kl": listwise_kl, "ranking-rd": ranking_rd, "rrd": rrd, "embedding": embedding,
           "contrastive": contrastive}
NAMES = list(MODULES)
SCORE_LOSSES = ["listwise-kl", "ranking-rd", "rrd"]
EMBEDDING_LOSSES = ["embedding", "contrastive"]
B, T, M, N_ITEMS, D_S, D_T, N_BATCH_ITEMS = 6, 20, 100, 500, 16, 24, 30


def make_batch(loss: Any, *, d_s: int = D_S, d_t: int = D_T, seed: int = 0, extra: int = 0) -> tuple[dict, dict]:
    """A random batch shaped as the runner builds it; T and M grow if the loss needs more columns (+ extra)."""
    g = torch.Generator().manual_seed(seed)
    n_top, n_sampled = max(T, loss.n_top) + extra, max(M, loss.n_sampled) + extra
    top = torch.rand(B, n_top, generator=g).sort(1, descending=True).values + 3.0  # above every sampled score
    teacher = {"scores": torch.cat([top, torch.randn(B, n_sampled, generator=g)], 1),
               "n_top": torch.tensor(n_top), "n_items": torch.tensor(N_ITEMS),
               "users": torch.randn(B, d_t, generator=g), "items": torch.randn(N_BATCH_ITEMS, d_t, generator=g)}
    student = {"scores": torch.randn(B, n_top + n_sampled, generator=g),
               "users": torch.randn(B, d_s, generator=g), "items": torch.randn(N_BATCH_ITEMS, d_s, generator=g)}
    return student, teacher


def leaves(batch: dict) -> dict:
    return {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in batch.items()}


def scores_batch(student_scores: list[list[float]], n_top: int, n_items: int = N_ITEMS) -> tuple[dict, dict]:
    s = torch.tensor(student_scores, dtype=torch.float64)
    return {"scores": s}, {"scores": s.clone(), "n_top": torch.tensor(n_top), "n_items": torch.tensor(n_items)}


def discordant_pairs(top: torch.Tensor) -> int:
    """Pairs i < j (teacher order) that the student scores the other way round, summed over users."""
    return int((top[:, :, None] < top[:, None, :]).triu(1).sum())


# --- the contract, for every registered loss ---------------------------------------------------------------

def test_every_loss_is_registered_from_its_own_module() -> None:
    for name, module in MODULES.items():
        entry = DISTILL_LOSSES.entry(name)
        assert entry.obj.__module__ == module.__name__
        assert entry.summary and len(entry.summary) <= 120


@pytest.mark.parametrize("name", NAMES)
def test_params_are_typed_keyword_only_with_defaults_and_documented(name: str) -> None:
    cls = DISTILL_LOSSES.get(name)
    specs = param_specs(cls)
    assert specs
    doc = cls.__init__.__doc__ or ""
    assert "Args:" in doc
    for spec in specs.values():
        assert spec.default is not REQUIRED and spec.annotation is not Any, spec.name
        assert f"{spec.name}:" in doc, f"{spec.name} is not documented"


@pytest.mark.parametrize("name", NAMES)
def test_builds_with_defaults_and_runs_forward_backward(name: str) -> None:
    loss = DISTILL_LOSSES.get(name)(D_S, D_T)
    assert isinstance(loss, torch.nn.Module)
    assert isinstance(loss.n_top, int) and isinstance(loss.n_sampled, int)
    if name in EMBEDDING_LOSSES:
        assert (loss.n_top, loss.n_sampled) == (0, 0)
    else:
        assert loss.n_top >= 1
    student, teacher = make_batch(loss)
    student, teacher = leaves(student), leaves(teacher)
    value = loss(student, teacher)
    assert value.shape == () and torch.isfinite(value)
    value.backward()
    used = ["scores"] if name in SCORE_LOSSES else ["users", "items"]
    for key in used:
        grad = student[key].grad
        assert grad is not None and grad.shape == student[key].shape and torch.isfinite(grad).all()
        assert grad.abs().sum() > 0, key
    for key in ("scores", "users", "items"):
        assert teacher[key].grad is None, f"gradient reached the teacher's {key}"
    for p in loss.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert (len(list(loss.parameters())) > 0) == (name in EMBEDDING_LOSSES)


@pytest.mark.parametrize("name", SCORE_LOSSES)
def test_reads_only_its_top_and_sampled_columns(name: str) -> None:
    loss = DISTILL_LOSSES.get(name)(D_S, D_T)
    student, teacher = make_batch(loss, extra=3)
    n_top = int(teacher["n_top"])
    unused = torch.ones(student["scores"].shape[1], dtype=torch.bool)
    unused[:loss.n_top] = False
    unused[n_top:n_top + loss.n_sampled] = False
    assert unused.any()
    before = loss(student, teacher)
    for batch in (student, teacher):
        batch["scores"] = torch.where(unused, batch["scores"] + 7.0, batch["scores"])
    assert loss(student, teacher).item() == before.item()


@pytest.mark.parametrize("name", SCORE_LOSSES)
def test_too_few_candidate_columns_raise(name: str) -> None:
    loss = DISTILL_LOSSES.get(name)(D_S, D_T)
    student, teacher = make_batch(loss)
    short = int(teacher["n_top"]) + loss.n_sampled - 1
    student["scores"], teacher["scores"] = student["scores"][:, :short], teacher["scores"][:, :short]
    with pytest.raises(ValueError, match=f"{name}: needs"):
        loss(student, teacher)


# --- divergence losses: 0 at the teacher, positive elsewhere -----------------------------------------------

DIVERGENCES = [("listwise-kl", {}), ("listwise-kl", {"temperature": 4.0}), ("embedding", {}),
               ("embedding", {"metric": "cosine"}), ("embedding", {"normalize": True}), ("contrastive", {}),
               ("contrastive", {"temperature": 1.0})]


@pytest.mark.parametrize(("name", "params"), DIVERGENCES)
def test_divergence_is_zero_for_the_teacher_and_positive_for_a_perturbed_student(name: str, params: dict) -> None:
    loss = DISTILL_LOSSES.get(name)(D_T, D_T, **params)
    _, teacher = make_batch(loss, d_s=D_T)
    same = {k: teacher[k].clone() for k in ("scores", "users", "items")}
    assert abs(loss(same, teacher).item()) <= 1e-6
    g = torch.Generator().manual_seed(1)
    perturbed = {k: v + 0.5 * torch.randn(v.shape, generator=g) for k, v in same.items()}
    assert loss(perturbed, teacher).item() > 1e-4


@pytest.mark.parametrize("params", [{"metric": "cosine"}, {"normalize": True}])
def test_embedding_direction_metrics_ignore_the_norm(params: dict) -> None:
    loss = embedding.EmbeddingLoss(D_T, D_T, **params)
    _, teacher = make_batch(loss, d_s=D_T)
    assert abs(loss({k: 3.0 * teacher[k] for k in ("users", "items")}, teacher).item()) <= 1e-6
    assert embedding.EmbeddingLoss(D_T, D_T)({k: 3.0 * teacher[k] for k in ("users", "items")}, teacher) > 1.0


@pytest.mark.parametrize("name", EMBEDDING_LOSSES)
def test_projection_starts_as_the_rectangular_identity(name: str) -> None:
    loss = DISTILL_LOSSES.get(name)(D_S, D_T)
    _, teacher = make_batch(loss)
    for key in ("users", "items"):
        teacher[key][:, D_S:] = 0.0
    student = {k: teacher[k][:, :D_S].clone() for k in ("users", "items")}
    assert abs(loss(student, teacher).item()) <= 1e-6
    torch.testing.assert_close(loss.proj.weight, torch.eye(D_T, D_S), rtol=0, atol=0)
    assert not loss.proj.bias.any()


def test_listwise_kl_hand_computed_with_temperature() -> None:
    # 1 user, 3 candidates: the top item and two sampled ones (one unused top column between them).
    tau, t, s = 2.0, np.array([3.0, 1.0, 0.0]), np.array([1.0, 2.0, 0.0])
    p_t = np.exp(t / tau) / np.exp(t / tau).sum()
    p_s = np.exp(s / tau) / np.exp(s / tau).sum()
    expected = tau**2 * float((p_t * np.log(p_t / p_s)).sum())
    loss = listwise_kl.ListwiseKLLoss(1, 1, temperature=tau, top_k=1, samples=2)
    student = {"scores": torch.tensor([[1.0, 9.0, 2.0, 0.0]])}
    teacher = {"scores": torch.tensor([[3.0, 2.5, 1.0, 0.0]]), "n_top": torch.tensor(2),
               "n_items": torch.tensor(10)}
    assert loss(student, teacher).item() == pytest.approx(expected, rel=1e-5)
    assert expected > 0.01


def test_listwise_kl_temperature_scaling() -> None:
    g = torch.Generator().manual_seed(3)
    s, t = torch.randn(4, 12, generator=g, dtype=torch.float64), torch.randn(4, 12, generator=g, dtype=torch.float64)

    def value(tau: float, student: torch.Tensor, teacher: torch.Tensor) -> float:
        loss = listwise_kl.ListwiseKLLoss(1, 1, temperature=tau, top_k=2, samples=10)
        return loss({"scores": student}, {"scores": teacher, "n_top": torch.tensor(2)}).item()

    # τ only rescales the scores, and the τ² factor: L_τ(s, t) = τ²·L_1(s/τ, t/τ).
    assert value(3.0, s, t) == pytest.approx(9.0 * value(1.0, s / 3.0, t / 3.0), rel=1e-9)
    # Hinton's high-temperature limit: τ²·KL → Σ_i ((s_i - mean s) - (t_i - mean t))² / (2C).
    d = (s - s.mean(1, keepdim=True)) - (t - t.mean(1, keepdim=True))
    limit = ((d**2).sum(1) / (2 * 12)).mean().item()
    assert value(1e3, s, t) == pytest.approx(limit, rel=1e-2)
    assert value(1.0, s, t) != pytest.approx(limit, rel=1e-2)


NORMALIZED_MSE = ((1 / math.sqrt(5) - 1) ** 2 + (2 / math.sqrt(5)) ** 2) / 2


@pytest.mark.parametrize(("params", "expected"), [({"metric": "mse"}, (2.0 + 0.0) / 2),
                                                  ({"metric": "cosine"}, ((1 - 1 / math.sqrt(5)) + 0.0) / 2),
                                                  ({"normalize": True}, (NORMALIZED_MSE + 0.0) / 2)])
def test_embedding_hand_computed(params: dict, expected: float) -> None:
    # users: student [1, 2] vs teacher [1, 0]: squared errors (0, 4) -> mse 2; cos = 1/√5; normalised, the
    # student is [1/√5, 2/√5]. items: equal -> 0.
    loss = embedding.EmbeddingLoss(2, 2, **params)
    items = torch.tensor([[0.5, -1.0], [3.0, 1.0]])
    student = {"users": torch.tensor([[1.0, 2.0]]), "items": items.clone()}
    teacher = {"users": torch.tensor([[1.0, 0.0]]), "items": items.clone()}
    assert loss(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_contrastive_hand_computed() -> None:
    tau = 0.5
    t = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    s = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def log_softmax(x: np.ndarray) -> np.ndarray:
        return x - np.log(np.exp(x).sum(1, keepdims=True))

    log_target, log_q = log_softmax(unit(t) @ unit(t).T / tau), log_softmax(unit(s) @ unit(t).T / tau)
    users = float((np.exp(log_target) * (log_target - log_q)).sum(1).mean())
    loss = contrastive.ContrastiveLoss(2, 2, temperature=tau)
    same = torch.tensor([[0.3, -0.2], [1.0, 0.5]])
    student = {"users": torch.tensor(s, dtype=torch.float32), "items": same.clone()}
    teacher = {"users": torch.tensor(t, dtype=torch.float32), "items": same.clone()}
    assert loss(student, teacher).item() == pytest.approx(users / 2, rel=1e-5)
    assert users > 0.01


def test_contrastive_tends_to_standard_infonce_as_the_temperature_falls() -> None:
    # Orthogonal teacher rows: the soft target softmax_j(t̂_i·t̂_j/τ) is one-hot up to e^{-1/τ}.
    tau, t = 0.05, np.eye(4)
    s = np.random.default_rng(0).normal(size=(4, 4))
    logits = (s / np.linalg.norm(s, axis=1, keepdims=True)) @ t.T / tau
    infonce = float(np.mean(np.log(np.exp(logits).sum(1)) - np.diag(logits)))
    loss = contrastive.ContrastiveLoss(4, 4, temperature=tau)
    student = {k: torch.tensor(s, dtype=torch.float32) for k in ("users", "items")}
    teacher = {k: torch.tensor(t, dtype=torch.float32) for k in ("users", "items")}
    assert loss(student, teacher).item() == pytest.approx(infonce, rel=1e-4)


# --- likelihood losses: lowest for the student that agrees with the teacher's ranking ----------------------

LIKELIHOODS = [("ranking-rd", {"dynamic": False}), ("ranking-rd", {}), ("rrd", {}), ("rrd", {"top_k": 5})]


@pytest.mark.parametrize(("name", "params"), LIKELIHOODS)
def test_likelihood_is_positive(name: str, params: dict) -> None:
    loss = DISTILL_LOSSES.get(name)(D_S, D_T, **params)
    student, teacher = make_batch(loss)
    assert loss(student, teacher).item() > 0


@pytest.mark.parametrize(("name", "params"), [("ranking-rd", {"dynamic": False}), ("rrd", {}), ("rrd", {"top_k": 5})])
def test_teacher_order_beats_the_same_scores_shuffled(name: str, params: dict) -> None:
    loss = DISTILL_LOSSES.get(name)(D_S, D_T, **params)
    _, teacher = make_batch(loss)
    agree = {"scores": teacher["scores"].clone()}
    g = torch.Generator().manual_seed(2)
    for _ in range(5):
        perm = torch.randperm(loss.n_top, generator=g)
        if torch.equal(perm, torch.arange(loss.n_top)):
            continue
        shuffled = agree["scores"].clone()
        shuffled[:, :loss.n_top] = shuffled[:, perm]
        assert loss(agree, teacher).item() < loss({"scores": shuffled}, teacher).item()


def test_ranking_rd_dynamic_weights_vanish_for_a_student_that_ranks_the_top_items_first() -> None:
    loss = ranking_rd.RankingRDLoss(D_S, D_T)
    _, teacher = make_batch(loss)
    assert loss({"scores": teacher["scores"].clone()}, teacher).item() == 0.0
    demoted = teacher["scores"].clone()
    demoted[:, :loss.n_top] -= 10.0  # now below every sampled item
    assert loss({"scores": demoted}, teacher).item() > 0.1


@pytest.mark.parametrize(("name", "params"), LIKELIHOODS)
def test_one_sgd_step_lowers_the_loss_and_moves_towards_the_teacher_order(name: str, params: dict) -> None:
    loss = DISTILL_LOSSES.get(name)(D_S, D_T, **params)
    student, teacher = make_batch(loss, seed=4)
    scores = student["scores"].clone().requires_grad_(True)
    before = loss({"scores": scores}, teacher)
    before.backward()
    with torch.no_grad():
        stepped = scores - 2.0 * B * scores.grad  # the mean over users divides each row's gradient by B
    after = loss({"scores": stepped}, teacher)
    assert after.item() < before.item()
    k = loss.n_top
    assert discordant_pairs(stepped[:, :k]) < discordant_pairs(scores.detach()[:, :k])


def test_rrd_hand_computed() -> None:
    # K = 2 interesting (of n_top = 3 columns), L = 2 sampled (of 3): the extra columns are ignored.
    # Two users; the loss is the mean of their negative log-likelihoods.
    loss = rrd.RRDLoss(1, 1, top_k=2, samples=2)
    student, teacher = scores_batch([[2.0, 1.0, 5.0, 0.0, -1.0, 7.0], [0.0, 3.0, 0.0, 1.0, 1.0, 0.0]], n_top=3)
    e = math.exp
    first = -((2.0 - math.log(e(2.0) + e(1.0) + e(0.0) + e(-1.0))) + (1.0 - math.log(e(1.0) + e(0.0) + e(-1.0))))
    second = -((0.0 - math.log(e(0.0) + e(3.0) + e(1.0) + e(1.0))) + (3.0 - math.log(e(3.0) + e(1.0) + e(1.0))))
    assert loss(student, teacher).item() == pytest.approx((first + second) / 2, rel=1e-12)


def test_rrd_is_stable_for_large_scores() -> None:
    loss = rrd.RRDLoss(1, 1, top_k=2, samples=2)
    student, teacher = scores_batch([[1000.0, 999.0, 998.0, 997.0]], n_top=2)
    e = math.exp
    expected = -((0.0 - math.log(1 + e(-1) + e(-2) + e(-3))) + (0.0 - math.log(1 + e(-1) + e(-2))))
    assert loss(student, teacher).item() == pytest.approx(expected, rel=1e-9)


def test_ranking_rd_static_hand_computed() -> None:
    # w_r = e^{-r/λ} / Σ_{i≤K} e^{-i/λ} with λ = 2, K = 3; loss = -Σ w_r log σ(s_r).
    loss = ranking_rd.RankingRDLoss(1, 1, top_k=3, lam=2.0, dynamic=False)
    assert (loss.n_top, loss.n_sampled) == (3, 0)
    student, teacher = scores_batch([[0.5, -1.0, 2.0, 9.0, -9.0], [1.0, 1.0, 1.0, 0.0, 0.0]], n_top=4)
    w = [math.exp(-r / 2.0) for r in (1, 2, 3)]
    w = [x / sum(w) for x in w]

    def log_sigmoid(x: float) -> float:
        return -math.log1p(math.exp(-x))

    rows = [[0.5, -1.0, 2.0], [1.0, 1.0, 1.0]]
    expected = sum(-sum(wr * log_sigmoid(x) for wr, x in zip(w, row)) for row in rows) / 2
    assert loss(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_ranking_rd_dynamic_hand_computed() -> None:
    # n_items = 100, 4 samples. Item 1 (s = 1.0): 1 of 4 sampled strictly above (the tie at 1.0 is not)
    # -> r̂ = 1 + ⌊100/4⌋ = 26, w^b = tanh(0.1·(26 - 1)). Item 2 (s = 0.5): 2 of 4 above -> r̂ = 51,
    # w^b = tanh(0.1·(51 - 2)).
    loss = ranking_rd.RankingRDLoss(1, 1, top_k=2, lam=1.0, mu=0.1, samples=4)
    student, teacher = scores_batch([[1.0, 0.5, 2.0, 1.0, 0.0, -1.0]], n_top=2, n_items=100)
    z = math.exp(-1) + math.exp(-2)
    w = [math.exp(-1) / z * math.tanh(2.5), math.exp(-2) / z * math.tanh(4.9)]
    expected = w[0] * math.log1p(math.exp(-1.0)) + w[1] * math.log1p(math.exp(-0.5))
    assert loss(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_ranking_rd_without_dynamic_weights_needs_no_samples() -> None:
    loss = ranking_rd.RankingRDLoss(1, 1, dynamic=False, samples=0)
    assert loss.n_sampled == 0


# --- bad params --------------------------------------------------------------------------------------------

BAD_PARAMS = [
    ("listwise-kl", {"temperature": 0.0}, "temperature"),
    ("listwise-kl", {"temperature": float("nan")}, "temperature"),
    ("listwise-kl", {"top_k": -1}, "top_k"),
    ("listwise-kl", {"top_k": 1, "samples": 0}, "top_k \\+ samples"),
    ("ranking-rd", {"top_k": 0}, "top_k"),
    ("ranking-rd", {"lam": 0.0}, "lam"),
    ("ranking-rd", {"lam": float("inf")}, "lam"),
    ("ranking-rd", {"mu": -0.1}, "mu"),
    ("ranking-rd", {"samples": 0}, "samples"),
    ("rrd", {"top_k": 0}, "top_k"),
    ("rrd", {"samples": 0}, "samples"),
    ("embedding", {"metric": "l2"}, "metric must be one of \\['mse', 'cosine'\\]"),
    ("contrastive", {"temperature": -1.0}, "temperature"),
    ("contrastive", {"temperature": float("nan")}, "temperature"),
]


@pytest.mark.parametrize(("name", "params", "match"), BAD_PARAMS)
def test_bad_params_raise_a_clear_value_error(name: str, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=f"^{name}: .*{match}") as info:
        DISTILL_LOSSES.get(name)(D_S, D_T, **params)
    assert "try" in str(info.value) or "use" in str(info.value)


def test_bad_params_are_reported_together() -> None:
    with pytest.raises(ValueError, match="top_k.*lam.*mu") as info:
        ranking_rd.RankingRDLoss(D_S, D_T, top_k=0, lam=-1.0, mu=0.0)
    assert str(info.value).count("must be") == 3


@pytest.mark.parametrize("name", EMBEDDING_LOSSES)
def test_bad_embedding_sizes_raise(name: str) -> None:
    with pytest.raises(ValueError, match="student_dim"):
        DISTILL_LOSSES.get(name)(0, D_T)


def test_discordant_pairs_helper() -> None:
    assert discordant_pairs(torch.tensor([[3.0, 2.0, 1.0]])) == 0
    assert discordant_pairs(torch.tensor([[1.0, 2.0, 3.0]])) == 3
    assert discordant_pairs(torch.tensor([[2.0, 3.0, 1.0]])) == 1
