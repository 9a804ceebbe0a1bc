"""BPR training with early stopping on the validation split only (PROTOCOL rule 5), checkpoints, KD."""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mmbench.data.types import Split
from mmbench.errors import MMBenchError
from mmbench.recipe.schema import EvalSpec, TrainSpec
from mmbench.runner.evaluate import evaluate
from mmbench.runner.sampling import BPRSampler

Log = Callable[[str], None]


class TrainingError(MMBenchError):
    """Training cannot continue (non-finite loss)."""


class StopTrial(Exception):  # noqa: N818 - a control-flow signal, like StopIteration
    """Raised by an ``on_validation`` callback to end a run early (a pruned tuning trial): no record is written."""


@dataclass
class FitResult:
    """What training did: the selected epoch, why it stopped, and the validation curve."""

    best_epoch: int
    epochs_run: int
    stopped: str
    valid: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0


def is_trainable(model: nn.Module) -> bool:
    return any(p.requires_grad for p in model.parameters())


@dataclass(frozen=True)
class Checkpoint:
    """Where a model's training state is saved after every epoch, and what it must match to be resumed."""

    path: Path
    fingerprint: str


def _save(ckpt: Checkpoint, state: dict[str, Any]) -> None:
    ckpt.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = ckpt.path.with_name(f".{ckpt.path.name}.{os.getpid()}.tmp")
    torch.save({**state, "fingerprint": ckpt.fingerprint}, tmp)
    os.replace(tmp, ckpt.path)


def _load(ckpt: Checkpoint | None, log: Log) -> dict[str, Any] | None:
    if ckpt is None or not ckpt.path.exists():
        return None
    try:
        state = torch.load(ckpt.path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: start over rather than fail the run
        log(f"checkpoint {ckpt.path} is unreadable ({type(exc).__name__}: {exc}); training from scratch")
        return None
    if state.get("fingerprint") != ckpt.fingerprint:
        log(f"checkpoint {ckpt.path} belongs to another recipe, split or seed; training from scratch")
        return None
    return state


def _check_finite(value: torch.Tensor, what: str, epoch: int, step: int, lr: float) -> None:
    if not torch.isfinite(value):
        raise TrainingError(f"{what} became {value.item()} at epoch {epoch}, step {step}; "
                            f"lower train.lr (now {lr}) or check the model's inputs and weights")


def fit(model: nn.Module, split: Split, train: TrainSpec, ev: EvalSpec, *, seed: int,
        log: Log = lambda _: None, distiller: nn.Module | None = None, checkpoint: Checkpoint | None = None,
        progress: bool = False, stop_after: int | None = None,
        on_validation: Callable[[int, float], None] | None = None) -> FitResult:
    """Train ``model`` with BPR + Adam (plus distillation); keep the state with the best validation metric.

    Selection and early stopping use the validation split only. With ``checkpoint``, the full training state
    (weights, optimiser, RNGs, best state, curve) is saved atomically after every epoch and a matching
    checkpoint is resumed: a killed run continues from its last finished epoch and ends exactly where an
    uninterrupted run ends. ``stop_after`` ends training after that epoch as if killed (for tests).
    ``on_validation(epoch, value)`` sees every validation of the selection metric (those restored from a
    checkpoint too, so a resumed trial reports its whole curve); it may raise :class:`StopTrial`.
    """
    t0 = time.perf_counter()

    choices = model.serving_choices() if callable(getattr(model, "serving_choices", None)) else []

    def validate() -> dict[str, float]:
        """The validation metrics of the model as it would serve now: with serving choices (e.g. content heads
        for cold items), each is evaluated and the best on valid is kept (ties keep the earlier)."""
        model.eval()
        if len(choices) < 2:
            return evaluate(model.score, split, "valid", metrics=ev.metrics, ks=ev.ks, batch_size=ev.batch_size)
        best_k, best_v = 0, {}
        for k in range(len(choices)):
            model.serve_choice(k)
            v = evaluate(model.score, split, "valid", metrics=ev.metrics, ks=ev.ks, batch_size=ev.batch_size)
            if not best_v or v[train.select_metric] > best_v[train.select_metric]:
                best_k, best_v = k, v
        model.serve_choice(best_k)
        return best_v

    if not is_trainable(model):
        return FitResult(0, 0, "nothing to train", validate(),
                         seconds=time.perf_counter() - t0)
    params = [p for p in model.parameters() if p.requires_grad]
    device = params[0].device
    if distiller is not None:
        params += [p for p in distiller.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay)
    sampler = BPRSampler(split.graph, torch.Generator().manual_seed(seed), train.negatives, train.sampling)
    own_batches = getattr(model, "train_batches", None)
    if callable(own_batches) and train.negatives != "all":
        raise ValueError(f"train.negatives: {train.negatives} cannot apply to {type(model).__name__}: it trains on "
                         "its own data loader and draws its own negatives; remove the setting for this model")
    if callable(own_batches) and train.sampling != "interactions":
        raise ValueError(f"train.sampling: {train.sampling} cannot apply to {type(model).__name__}: it trains on "
                         "its own data loader and draws its own triples; remove the setting for this model")
    if callable(own_batches) and checkpoint is not None:
        # the model's own data pipeline (e.g. RecBole's loader) keeps RNG state no checkpoint holds: a resumed
        # run would not end where an uninterrupted one does, so such a model always trains from scratch
        log("this model trains on its own data loader: per-epoch checkpoints are off, a killed run restarts it")
        checkpoint = None
    best, best_epoch, best_state, best_valid = -math.inf, 0, None, {}
    history: list[dict[str, Any]] = []
    stale, stopped, start = 0, "epoch budget", 0
    state = _load(checkpoint, log)
    if state is not None:
        model.load_state_dict(state["model"])
        if distiller is not None:
            distiller.load_state_dict(state["distiller"])
        opt.load_state_dict(state["optimizer"])
        sampler.gen.set_state(state["sampler_rng"])
        torch.set_rng_state(state["torch_rng"])
        best, best_epoch, best_state, best_valid = state["best"], state["best_epoch"], state["best_state"], \
            state["best_valid"]
        history, stale, stopped, start = state["history"], state["stale"], state["stopped"], state["epoch"]
        log(f"resumed from {checkpoint.path} after epoch {start}" + (" (finished)" if state["done"] else ""))
        for row in history if on_validation is not None else ():
            if "valid" in row:
                on_validation(row["epoch"], row["valid"])
        if state["done"]:
            model.load_state_dict(best_state)
            model.eval()
            return FitResult(best_epoch, start, stopped, best_valid, history, time.perf_counter() - t0, start)
    resumed_from = start
    bar = tqdm(total=train.epochs, initial=start, unit="epoch", leave=False, dynamic_ncols=True,
               disable=None if progress else True)
    epoch, done = start, False
    for epoch in range(start + 1, train.epochs + 1):
        model.train()
        if callable(getattr(model, "new_epoch", None)):
            model.new_epoch()
        total, kd_total, steps, te = 0.0, {}, 0, time.perf_counter()
        batches = own_batches(train.batch_size) if callable(own_batches) else sampler.epoch(train.batch_size)
        for users, pos, third in batches:
            # mmbench's sampler gives (users, positives, negatives); a model's own pipeline gives its batch
            # loss in place of the negatives. The sampler runs on the CPU; the batch goes to the model's device.
            if device.type != "cpu" and not callable(own_batches):
                users, pos, third = users.to(device), pos.to(device), third.to(device)
            tables = None
            if callable(own_batches):
                loss = third
            elif distiller is not None and callable(getattr(model, "loss_and_embeddings", None)):
                loss, tables = model.loss_and_embeddings(users, pos, third)  # one propagation for both terms
            else:
                loss = model.loss(users, pos, third)
            _check_finite(loss, "the loss", epoch, steps + 1, train.lr)
            if distiller is not None:
                parts = distiller(model, users, pos, max_users=train.distill_users, tables=tables)
                for name, value in parts.items():
                    _check_finite(value, f"distillation loss {name!r}", epoch, steps + 1, train.lr)
                    kd_total[name] = kd_total.get(name, 0.0) + value.item()
                loss = loss + sum(parts.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, steps = total + loss.item(), steps + 1
        row: dict[str, Any] = {"epoch": epoch, "loss": total / max(steps, 1), "seconds": time.perf_counter() - te}
        if kd_total:
            row["distill"] = {k: v / max(steps, 1) for k, v in kd_total.items()}
        if epoch % train.eval_every == 0 or epoch == train.epochs:
            valid = validate()
            value = valid[train.select_metric]
            row["valid"] = value
            if len(choices) > 1:
                row["serving"] = model.served_choice()
            if value > best:
                best, best_epoch, best_valid, stale = value, epoch, valid, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
            log(f"epoch {epoch:>4}  loss {row['loss']:.4f}  valid {train.select_metric} {value:.4f}"
                f"  (best {best:.4f} @ {best_epoch})  {row['seconds']:.1f}s")
            bar.set_postfix(loss=f"{row['loss']:.4f}", **{train.select_metric: f"{value:.4f}"})
            if stale >= train.patience:
                stopped = f"patience ({train.patience} validations without improvement)"
                done = True
            if on_validation is not None:
                on_validation(epoch, value)
        history.append(row)
        bar.update(1)
        done = done or epoch == train.epochs
        if checkpoint is not None:
            _save(checkpoint, {
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "distiller": distiller.state_dict() if distiller is not None else {},
                "sampler_rng": sampler.gen.get_state(), "torch_rng": torch.get_rng_state(), "epoch": epoch,
                "best": best, "best_epoch": best_epoch, "best_state": best_state, "best_valid": best_valid,
                "history": history, "stale": stale, "stopped": stopped, "done": done})
        if done or (stop_after is not None and epoch >= stop_after):
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch, epoch, stopped, best_valid, history, time.perf_counter() - t0, resumed_from)


def seed_everything(seed: int) -> None:
    """Seed torch and numpy, and select torch's deterministic kernels: the same seed gives identical results.

    Seeding alone is not enough with several CPU threads: the default backward of an indexed gather with
    repeated indices (an embedding row used twice in a batch) accumulates in a thread-dependent order, and
    two runs of one seed drifted apart within an epoch (measured: mm-gnn with gated fusion on Last.fm). The
    deterministic kernels fix the order. ``warn_only``: an op without a deterministic kernel (some CUDA ones)
    warns instead of failing the run.
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
