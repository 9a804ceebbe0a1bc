"""Seconds per training epoch: mmbench's LightGCN next to its floor and to RecBole 1.2.1's, same data and settings.

Run: ``pytest tests/benchmarks/test_bench_lightgcn_epoch.py --benchmark-enable``. Each test also stores its
epoch losses and the data sizes in the benchmark's ``extra_info`` (written by ``--benchmark-json=FILE``).
Measured, never asserted. With benchmarks disabled (the default test run) each test
trains a 2,000-user subset for three epochs instead of the full dataset, so it stays short.

The comparison, on two datasets: Amazon Beauty 5-core (``amazon-beauty``, ``loo-time`` split) and Gowalla (the
LightGCN paper's split, ``gowalla``, ``given``: 780,270 train pairs, 70,839 nodes); RecBole reads the very same
train / valid / test pairs in benchmark-file mode (:mod:`mmbench.interop.recbole_data`), so both train on
the same interactions.

The floor (``extra_info["floor_epoch_s"]``, measured in the same test right after the epochs): per step, the
work a BPR step of a 3-layer LightGCN cannot avoid, each part timed alone on the real graph and batch sizes:
the six sparse products (three ``A @ X`` forward, three ``Aᵀ @ G`` backward, ``X`` of [users + items, 64]),
the six row gathers of the batch (propagated and layer-0 rows of users, positives, negatives) with their
backward scatter-adds into full-size gradients, and one Adam step over the two tables; times the steps of an
epoch. ``epoch_over_floor`` is the mean epoch over it. One epoch = one pass over the train interactions in batches of 4,096 positives, one
uniform negative each (never a train positive of the user), Adam at lr 1e-3, no evaluation. LightGCN: 64
dimensions, 3 layers, mean layer combination, BPR plus ``reg`` × squared L2 of the batch's layer-0
embeddings / batch size. RecBole's defaults differ (``n_layers: 2``, ``reg_weight: 1e-5``,
``require_pow: False`` = unsquared norms, ``train_batch_size: 2048``) and are overridden: its
``reg_weight`` is 2 × mmbench's ``reg`` with ``require_pow: True`` (its EmbLoss halves the squared norms),
which makes the two objectives identical. The mmbench epoch is the inner loop of
:func:`mmbench.runner.train.fit` (``mmbench.runner.sampling.BPRSampler``, ``model.loss``, Adam step); RecBole's is
``Trainer._train_epoch`` on its train data loader (which samples the negatives). Both run on CPU with the
same torch thread count, in one process, one after the other.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

import numpy as np
import pytest
import torch

from mmbench.components._graph import spmm
from mmbench.components.students.lightgcn import LightGCNStudent
from mmbench.data.load import load_dataset
from mmbench.data.splits import make_split
from mmbench.data.types import Interactions, Pairs, Split
from mmbench.runner.sampling import BPRSampler
from mmbench.runner.train import seed_everything

DIM, LAYERS, BATCH, LR, REG = 64, 3, 4096, 1e-3, 1e-4
ROUNDS = 5  # timed epochs per model, after the two checked (warm-up) epochs
SUBSET = 2000  # max_users when benchmarks are disabled
SEED = 0


DATASETS = {"beauty": ("amazon-beauty", "loo-time"), "gowalla": ("gowalla", "given")}


@lru_cache(maxsize=4)
def dataset(key: str, max_users: int | None) -> tuple[Split, Interactions]:
    name, split_name = DATASETS[key]
    if name == "amazon-beauty":
        data = load_dataset(name, {"max_users": max_users} if max_users else None)
        return make_split(split_name, data.interactions), data.interactions
    data = load_dataset(name)
    split = make_split(split_name, data.interactions)
    if max_users is None:
        return split, data.interactions
    keep = lambda p: Pairs(p.user[p.user < max_users], p.item[p.user < max_users])  # noqa: E731
    return (Split(split.name, split.dataset, max_users, split.n_items, keep(split.train), keep(split.valid),
                  keep(split.test), split.card), data.interactions)


def scope(benchmark) -> int | None:
    return SUBSET if benchmark.disabled else None


def _median_s(fn, reps: int = 15) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def floor_step_s(model: LightGCNStudent, n_batch: int) -> dict[str, float]:
    """Seconds of each unavoidable part of one BPR step (see the module docstring), timed alone."""
    n = model.user.num_embeddings + model.item.num_embeddings
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, model.dim, generator=gen)
    adj = model.adj
    products = _median_s(lambda: [spmm(adj.matrix, x) for _ in range(model.layers)]) + \
        _median_s(lambda: [spmm(adj.transpose, x) for _ in range(model.layers)])
    idx = torch.randint(model.item.num_embeddings, (n_batch,), generator=gen)
    rows = torch.randn(n_batch, model.dim, generator=gen)
    table = model.item.weight.detach()

    def gathers() -> None:
        for _ in range(6):  # forward gather, backward scatter-add into a zero gradient of the table's size
            table[idx].sum()
            torch.zeros_like(table).index_add_(0, idx, rows)

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen) * 1e-3
    step = _median_s(opt.step)
    for p in params:
        p.grad = None
    gather = _median_s(gathers)
    return {"products": products, "gathers": gather, "adam": step, "total": products + gather + step}


def mmbench_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, sampler: BPRSampler) -> float:
    """One epoch of ``fit``'s BPR steps (no KD, no validation): ``new_epoch()`` where the model has one (its
    per-epoch resampling), then the batches; the mean batch loss. The teacher benchmark times the same epoch."""
    model.train()
    if callable(getattr(model, "new_epoch", None)):
        model.new_epoch()
    total, steps = 0.0, 0
    for users, pos, neg in sampler.epoch(BATCH):
        loss = model.loss(users, pos, neg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total, steps = total + loss.item(), steps + 1
    return total / steps


def check_trains(losses: list[float]) -> None:
    assert all(math.isfinite(x) for x in losses), losses
    assert losses[1] < losses[0], losses


@pytest.mark.parametrize("data", list(DATASETS))
def test_bench_mmbench_lightgcn_epoch(benchmark, data):
    split, _ = dataset(data, scope(benchmark))
    benchmark.group = f"lightgcn epoch {data}"
    seed_everything(SEED)
    model = LightGCNStudent(split.graph, dim=DIM, layers=LAYERS, reg=REG)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sampler = BPRSampler(split.graph, torch.Generator().manual_seed(SEED))
    losses = [mmbench_epoch(model, opt, sampler) for _ in range(2)]
    check_trains(losses)
    last = benchmark.pedantic(mmbench_epoch, args=(model, opt, sampler), rounds=ROUNDS, iterations=1)
    batches = math.ceil(len(split.train) / BATCH)
    floor = floor_step_s(model, BATCH)
    benchmark.extra_info.update(losses=[*losses, last], train=len(split.train), users=split.n_users,
                                items=split.n_items, batches=batches, threads=torch.get_num_threads(),
                                floor_step_s=floor, floor_epoch_s=floor["total"] * batches)
    if not benchmark.disabled:
        benchmark.extra_info["epoch_over_floor"] = benchmark.stats.stats.mean / (floor["total"] * batches)


@pytest.mark.filterwarnings("ignore::FutureWarning:recbole", "ignore::UserWarning:recbole",
                            "ignore:__array_wrap__ must accept context:DeprecationWarning")
@pytest.mark.parametrize("data", list(DATASETS))
def test_bench_recbole_lightgcn_epoch(benchmark, tmp_path, monkeypatch, data):
    pytest.importorskip("recbole")
    from mmbench.interop.recbole_data import benchmark_config, export_split, recbole_config

    split, inter = dataset(data, scope(benchmark))
    benchmark.group = f"lightgcn epoch {data}"
    monkeypatch.chdir(tmp_path)  # RecBole's Trainer writes log_tensorboard/ and saved/ into the working dir
    export_split(split, tmp_path / "data", "beauty", inter)
    config = recbole_config("LightGCN", {
        **benchmark_config(tmp_path / "data", "beauty"), "seed": SEED, "show_progress": False,
        "checkpoint_dir": str(tmp_path / "saved"), "embedding_size": DIM, "n_layers": LAYERS,
        "reg_weight": 2 * REG, "require_pow": True, "train_batch_size": BATCH, "learning_rate": LR,
        "learner": "adam", "weight_decay": 0.0,
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}})
    from recbole.data import create_dataset, data_preparation
    from recbole.model.general_recommender import LightGCN
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    init_seed(SEED, True)
    train_data, _, _ = data_preparation(config, create_dataset(config))
    assert len(train_data._dataset) == len(split.train)  # the same train interactions, nothing filtered
    init_seed(SEED, True)
    trainer = Trainer(config, LightGCN(config, train_data._dataset))

    def epoch(i: int = 0) -> float:
        return trainer._train_epoch(train_data, i, show_progress=False) / len(train_data)  # summed → mean

    losses = [epoch(0), epoch(1)]
    check_trains(losses)
    last = benchmark.pedantic(epoch, args=(2,), rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(losses=[*losses, last], train=len(train_data._dataset),
                                users=train_data._dataset.user_num - 1, items=train_data._dataset.item_num - 1,
                                batches=len(train_data), threads=torch.get_num_threads())
