"""mmbench's ``lightgcn`` next to RecBole 1.2.1's LightGCN: one split, one set of hyperparameters, both tools.

:func:`run_parity` prepares the split once, trains and tests mmbench's model on it, exports the very same
train / valid / test pairs to RecBole's benchmark files (:mod:`mmbench.interop.recbole_data`) and runs
RecBole's own ``Trainer`` on them (both sides: :mod:`mmbench.interop.parity_sides`), then puts both metric
sets, their ratio and both wall times side by side. ``mmbench parity`` is its command line.

One :class:`ParityParams` is mapped onto both tools:

=================  ====================================  ==============================================
setting            mmbench                               RecBole 1.2.1
=================  ====================================  ==============================================
dim, layers        ``lightgcn`` ``dim``, ``layers``      ``embedding_size``, ``n_layers``
reg                ``reg`` (× squared L2 / batch)        ``reg_weight = 2 × reg``, ``require_pow: True``
                                                         (its EmbLoss halves the squared norms)
lr, batch_size     ``train.lr``, ``train.batch_size``    ``learning_rate`` (``learner: adam``,
                                                         ``weight_decay: 0``), ``train_batch_size``
negatives          one uniform unseen item per positive  ``train_neg_sample_args``: uniform, 1
epochs             ``train.epochs``                      ``epochs``
eval_every         ``train.eval_every``                  ``eval_step``
patience           ``train.patience``: stop after that   ``stopping_step = patience - 1``: RecBole stops
                   many validations without improvement  once ``cur_step > stopping_step``
select_metric      ``train.select_metric`` (NDCG@10)     ``valid_metric`` (NDCG@10), bigger is better
ks, metrics        ``eval.ks`` 5/10/20; hr ndcg          ``topk`` [5, 10, 20]; Hit NDCG Recall MRR, full
                   recall mrr, full ranking              ranking (``eval_args.mode: full``)
eval_batch_size    ``eval.batch_size`` users per batch   ``eval_batch_size = users × item_num``: RecBole
                                                         counts scores, not users (item_num has [PAD])
=================  ====================================  ==============================================

Both mask the same history (valid: train; test: train ∪ valid; a target is never masked), select the
epoch on valid and evaluate test once with the selected weights (RecBole reloads its best checkpoint).
Left as each tool has them: mmbench also validates after the last epoch when ``epochs`` is not a multiple
of ``eval_every`` (RecBole does not; the defaults, 100 and 2, validate alike); RecBole keeps a later epoch
on a tie of the validation metric (``>=``, mmbench ``>``), ranks ties by ``torch.topk`` order (mmbench: the exact tie expectation) and rounds metrics to
``metric_decimal_place`` (set to 12 here). Both initialise with Xavier-uniform, from their own RNG streams.

Wall time of a side = building the model (RecBole's adjacency included) + training with its validation +
the test evaluation; data preparation (mmbench: load + split; RecBole: export + ``create_dataset`` +
``data_preparation``) is timed and reported separately. Both run in this process, mmbench first, with the
same torch thread count; mmbench with its deterministic kernels (``seed_everything``), RecBole as it runs
by default (its ``init_seed(seed, reproducibility=True)``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mmbench.errors import MMBenchError

Log = Callable[[str], None]
NDCG_TOLERANCE = 0.05  # goal: mmbench's NDCG@10 within ±5 % of RecBole's, or better
WALL_GOAL = 0.25  # goal: mmbench's wall time ≤ 0.25 × RecBole's
RECBOLE_METRICS = {"hit": "HR", "ndcg": "NDCG", "recall": "Recall", "mrr": "MRR"}  # RecBole key → column
MMBENCH_METRICS = ("hr", "ndcg", "recall", "mrr")  # registry names, in RECBOLE_METRICS' order
RECBOLE_CLASSES = ("Hit", "NDCG", "Recall", "MRR")
EXPORT_NAME = "parity"
INSTALL_FIX = "pip install --no-deps recbole==1.2.1"


class ParityError(MMBenchError):
    """The parity run cannot proceed: RecBole missing, bad settings, or the two tools saw different data."""


@dataclass(frozen=True)
class ParityParams:
    """The one set of hyperparameters both tools get (defaults: the suite's Beauty LightGCN settings)."""

    dim: int = 64
    layers: int = 3
    reg: float = 1e-3
    lr: float = 1e-2
    batch_size: int = 4096
    epochs: int = 100
    eval_every: int = 2
    patience: int = 5
    select_metric: str = "NDCG@10"
    ks: tuple[int, ...] = (5, 10, 20)
    eval_batch_size: int = 4096  # users per evaluation batch

    def __post_init__(self) -> None:
        label, _, k = self.select_metric.partition("@")
        if label not in RECBOLE_METRICS.values() or not k.isdigit() or int(k) not in self.ks:
            raise ParityError(f"select_metric {self.select_metric!r} is not one of the compared columns "
                              f"({', '.join(f'{m}@K' for m in RECBOLE_METRICS.values())}, K in {list(self.ks)})")

    def mmbench_side(self) -> dict[str, Any]:
        """mmbench's student params, ``train`` and ``eval`` sections (recipe fields)."""
        return {"student": {"name": "lightgcn", "params": {"dim": self.dim, "layers": self.layers, "reg": self.reg}},
                "train": {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "weight_decay": 0.0,
                          "eval_every": self.eval_every, "patience": self.patience,
                          "select_metric": self.select_metric},
                "eval": {"ks": list(self.ks), "metrics": list(MMBENCH_METRICS), "batch_size": self.eval_batch_size}}

    def recbole_side(self, n_items: int) -> dict[str, Any]:
        """RecBole config entries (on top of :func:`~mmbench.interop.recbole_data.benchmark_config`)."""
        return {"embedding_size": self.dim, "n_layers": self.layers, "reg_weight": 2 * self.reg,
                "require_pow": True, "learner": "adam", "learning_rate": self.lr, "weight_decay": 0.0,
                "train_batch_size": self.batch_size,
                "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1, "alpha": 1.0,
                                          "dynamic": False, "candidate_num": 0},
                "epochs": self.epochs, "eval_step": self.eval_every, "stopping_step": self.patience - 1,
                "valid_metric": self.select_metric, "valid_metric_bigger": True,
                "metrics": list(RECBOLE_CLASSES), "topk": list(self.ks),
                "eval_batch_size": self.eval_batch_size * (n_items + 1), "metric_decimal_place": 12,
                "shuffle": True, "clip_grad_norm": None, "enable_amp": False, "log_wandb": False}


@dataclass
class SideResult:
    """One tool's run: test and best-valid metrics (mmbench column names), selection, timings, data seen."""

    test: dict[str, float]
    valid: dict[str, float]
    best_epoch: int
    epochs_run: int
    valid_curve: list[tuple[int, float]]  # (epoch, select metric) at every validation
    timings: dict[str, float]  # prepare_s (reported apart), build_s, train_s, valid_s, test_s, wall_s
    epoch_seconds: list[float]  # each training epoch (validation excluded): shows contention spikes
    data: dict[str, int]  # users, items, train, valid, test, valid_users, test_users
    config: dict[str, Any]  # this side's exact settings


@dataclass
class ParityResult:
    """Both sides on one split, the ratio mmbench / RecBole of every metric and of the wall time."""

    dataset: str
    dataset_params: dict[str, Any]
    split: str
    seed: int
    threads: int
    hyperparameters: dict[str, Any]
    mmbench: SideResult
    recbole: SideResult
    ratio: dict[str, float | None] = field(default_factory=dict)
    wall_ratio: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)  # CPU, cores, load averages before and after
    git: dict[str, Any] = field(default_factory=dict)  # the code that ran: SHA and whether it was modified

    def goal(self) -> dict[str, Any]:
        """The issue's goal: NDCG@10 ≥ (1 - 5 %) × RecBole's and wall time ≤ 0.25 × RecBole's."""
        r = self.ratio.get("NDCG@10")
        metric_ok = r is not None and r >= 1 - NDCG_TOLERANCE
        wall_ok = self.wall_ratio is not None and self.wall_ratio <= WALL_GOAL
        return {"ndcg10_ratio": r, "ndcg10_ok": metric_ok, "wall_ratio": self.wall_ratio, "wall_ok": wall_ok,
                "met": metric_ok and wall_ok}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "goal": self.goal()}


def from_recbole(result: Mapping[str, float]) -> dict[str, float]:
    """RecBole's result keys (``hit@10``, ``ndcg@5`` ...) as mmbench's columns (``HR@10``, ``NDCG@5`` ...)."""
    out = {}
    for key, value in result.items():
        m = re.fullmatch(r"([a-z]+)@(\d+)", key)
        if m is None or m.group(1) not in RECBOLE_METRICS:
            raise ParityError(f"RecBole metric {key!r} has no mmbench column (known: {', '.join(RECBOLE_METRICS)})")
        out[f"{RECBOLE_METRICS[m.group(1)]}@{m.group(2)}"] = float(value)
    return out


def ratios(num: Mapping[str, float], den: Mapping[str, float]) -> dict[str, float | None]:
    """``num[c] / den[c]`` for every column of ``num`` (None where ``den`` is 0)."""
    return {c: (v / den[c] if den[c] else None) for c, v in num.items()}


def require_recbole() -> None:
    if importlib.util.find_spec("recbole") is None:
        raise ParityError(f"the parity benchmark runs RecBole 1.2.1, which is not installed; fix: {INSTALL_FIX} "
                          "(--no-deps: RecBole pins ray<=2.6.3, which does not install on current Python)")


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def versions() -> dict[str, str]:
    import mmbench

    out = {"mmbench": mmbench.__version__, "python": platform.python_version(), "torch": torch.__version__}
    for name in ("recbole", "numpy", "scipy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def run_parity(dataset: str, *, params: Mapping[str, Any] | None = None, split: str = "loo-time", seed: int = 0,
               hp: ParityParams | None = None, threads: int | None = None, log: Log = lambda _: None) -> ParityResult:
    """Run mmbench's ``lightgcn`` and RecBole's LightGCN on one split of ``dataset`` with the same settings.

    Args:
        dataset: a registered dataset name, e.g. ``movielens-100k``.
        params: the dataset's params (e.g. ``{"max_users": 500}``).
        split: the split both tools train and evaluate on (RecBole reads it exported, unchanged).
        seed: each tool's seed.
        hp: the hyperparameters both get (default: :class:`ParityParams`).
        threads: torch threads for both (default: torch's current count).
        log: progress messages.

    Raises:
        ParityError: RecBole is not installed, or the two tools did not see the same data.
    """
    require_recbole()
    from mmbench.interop import parity_sides
    from mmbench.recipe.schema import Recipe
    from mmbench.runner.provenance import hardware
    from mmbench.runner.run import prepare

    from mmbench.allocator import keep_freed_memory
    from mmbench.runner.provenance import git_info

    hp = hp or ParityParams()
    git = git_info()
    malloc_tuned = keep_freed_memory()  # one process for both tools: both get it (MMBENCH_MALLOC_TUNING=0: neither)
    load_before = os.getloadavg()
    threads = threads or torch.get_num_threads()
    recipe = Recipe(schema_version=1, name="parity", dataset={"name": dataset, "params": dict(params or {}),
                                                             "split": split},
                    student=hp.mmbench_side()["student"], seeds=[seed])
    with torch_threads(threads):
        t0 = time.perf_counter()
        data, split_, _ = prepare(recipe)
        prepare_s = time.perf_counter() - t0
        log(f"{dataset} · {split}: {split_.n_users} users, {split_.n_items} items, train/valid/test "
            f"{len(split_.train)}/{len(split_.valid)}/{len(split_.test)}; {threads} torch thread(s)")
        log("mmbench lightgcn ...")
        mm = parity_sides.run_mmbench(split_, hp, seed)
        mm.timings = {"prepare_s": prepare_s, **mm.timings}
        log(f"  {mm.timings['wall_s']:.1f}s, best epoch {mm.best_epoch} of {mm.epochs_run}")
        log("RecBole LightGCN ...")
        with tempfile.TemporaryDirectory(prefix="mmbench-parity-") as tmp:
            rb = parity_sides.run_recbole(split_, data.interactions, hp, seed, Path(tmp))
        log(f"  {rb.timings['wall_s']:.1f}s, best epoch {rb.best_epoch} of {rb.epochs_run}")
        host = {**hardware(), "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg()),
                "malloc_tuning": malloc_tuned}
    if mm.data != rb.data:
        diff = {k: (mm.data[k], rb.data.get(k)) for k in mm.data if mm.data[k] != rb.data.get(k)}
        raise ParityError(f"mmbench and RecBole saw different data (mmbench, RecBole): {diff}")
    return ParityResult(
        dataset=dataset, dataset_params=dict(params or {}), split=split, seed=seed, threads=threads,
        hyperparameters={**asdict(hp), "ks": list(hp.ks)}, mmbench=mm, recbole=rb,
        ratio=ratios(mm.test, rb.test), wall_ratio=mm.timings["wall_s"] / rb.timings["wall_s"],
        versions=versions(), host=host, git=git)
