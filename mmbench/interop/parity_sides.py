"""The two sides of the parity benchmark: mmbench's ``lightgcn`` and RecBole's LightGCN, each run on one split.

Each function builds its tool's model, trains it with the tool's own loop (selection and early stopping on
valid), evaluates test once with the selected weights and times every phase; :mod:`mmbench.interop.parity`
maps the settings and compares the two.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from mmbench.data.types import Interactions, Split
from mmbench.interop.parity import EXPORT_NAME, ParityParams, SideResult, from_recbole


def split_counts(split: Split) -> dict[str, int]:
    return {"users": split.n_users, "items": split.n_items, "train": len(split.train), "valid": len(split.valid),
            "test": len(split.test), "valid_users": len(set(split.valid.user.tolist())),
            "test_users": len(set(split.test.user.tolist()))}


def run_mmbench(split: Split, hp: ParityParams, seed: int) -> SideResult:
    """Build mmbench's LightGCN, ``fit`` it (selection on valid, no progress bar, no checkpoints), test once."""
    from mmbench.components.students.lightgcn import LightGCNStudent
    from mmbench.recipe.schema import EvalSpec, TrainSpec
    from mmbench.runner.evaluate import evaluate
    from mmbench.runner.train import fit, seed_everything

    side = hp.mmbench_side()
    train, ev = TrainSpec(**side["train"]), EvalSpec(**side["eval"])
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        t0 = time.perf_counter()
        seed_everything(seed)
        model = LightGCNStudent(split.graph, **side["student"]["params"])
        t1 = time.perf_counter()
        fitted = fit(model, split, train, ev, seed=seed)
        t2 = time.perf_counter()
        test = evaluate(model.score, split, "test", metrics=ev.metrics, ks=ev.ks, batch_size=ev.batch_size)
        t3 = time.perf_counter()
    finally:  # seed_everything is process-wide; RecBole runs next, as it runs by default
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    train_s = sum(row["seconds"] for row in fitted.history)
    return SideResult(
        test=test, valid=fitted.valid, best_epoch=fitted.best_epoch, epochs_run=fitted.epochs_run,
        valid_curve=[(row["epoch"], row["valid"]) for row in fitted.history if "valid" in row],
        timings={"build_s": t1 - t0, "train_s": train_s, "valid_s": (t2 - t1) - train_s, "test_s": t3 - t2,
                 "wall_s": t3 - t0},
        epoch_seconds=[row["seconds"] for row in fitted.history],
        data=split_counts(split), config={**side, "deterministic_kernels": True})


@contextmanager
def _in_dir(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_recbole(split: Split, interactions: Interactions | None, hp: ParityParams, seed: int,
                workdir: Path) -> SideResult:
    """Export ``split``, run RecBole's ``Trainer.fit`` (its early stopping on valid) and test its best epoch.

    Runs with ``workdir`` as the working directory: RecBole writes ``saved/`` and ``log_tensorboard/`` there.
    """
    from mmbench.interop.recbole_compat import recbole_checkpoints
    from mmbench.interop.recbole_data import benchmark_config, export_split, recbole_config
    from mmbench.interop.recbole_models import quiet_recbole

    timestamp = interactions is not None and interactions.timestamp is not None
    settings = {**benchmark_config(workdir / "data", EXPORT_NAME, timestamp=timestamp), "seed": seed,
                "reproducibility": True, "show_progress": False, "checkpoint_dir": str(workdir / "saved"),
                **hp.recbole_side(split.n_items)}
    with _in_dir(workdir), quiet_recbole():
        t0 = time.perf_counter()
        export_split(split, workdir / "data", EXPORT_NAME, interactions if timestamp else None)
        config = recbole_config("LightGCN", settings)
        from recbole.data import create_dataset, data_preparation
        from recbole.model.general_recommender import LightGCN
        from recbole.trainer import Trainer
        from recbole.utils import init_seed

        init_seed(seed, True)  # as recbole.quick_start.run_recbole: before the data, and again before the model
        train_data, valid_data, test_data = data_preparation(config, create_dataset(config))
        t1 = time.perf_counter()
        init_seed(seed, True)
        trainer = Trainer(config, LightGCN(config, train_data._dataset))
        t2 = time.perf_counter()
        epoch_s: list[float] = []
        curve: list[tuple[int, float]] = []
        train_epoch = trainer._train_epoch

        def timed_epoch(*args: Any, **kwargs: Any) -> Any:
            te = time.perf_counter()
            try:
                return train_epoch(*args, **kwargs)
            finally:
                epoch_s.append(time.perf_counter() - te)

        trainer._train_epoch = timed_epoch  # type: ignore[method-assign]
        trainer.fit(train_data, valid_data, verbose=False, saved=True, show_progress=False,
                    callback_fn=lambda epoch_idx, score: curve.append((epoch_idx + 1, float(score))))
        t3 = time.perf_counter()
        with recbole_checkpoints():
            test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
        t4 = time.perf_counter()
    best, best_epoch = -float("inf"), 0
    for epoch, score in curve:  # RecBole's rule: a tie moves the best epoch forward
        if score >= best:
            best, best_epoch = score, epoch
    ds, train_s = train_data._dataset, sum(epoch_s)
    data = {"users": ds.user_num - 1, "items": ds.item_num - 1, "train": len(ds), "valid": len(valid_data._dataset),
            "test": len(test_data._dataset), "valid_users": len(valid_data.uid_list),
            "test_users": len(test_data.uid_list)}
    return SideResult(
        test=from_recbole(test), valid=from_recbole(trainer.best_valid_result or {}), best_epoch=best_epoch,
        epochs_run=len(trainer.train_loss_dict), valid_curve=curve,
        timings={"prepare_s": t1 - t0, "build_s": t2 - t1, "train_s": train_s, "valid_s": (t3 - t2) - train_s,
                 "test_s": t4 - t3, "wall_s": t4 - t1},
        epoch_seconds=epoch_s,
        data=data, config={k: v for k, v in settings.items() if k not in ("data_path", "checkpoint_dir")})
