"""BPR training with early stopping on the validation split only (PROTOCOL rule 5)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mmbench.data.types import Split, TrainGraph
from mmbench.errors import MMBenchError
from mmbench.recipe.schema import EvalSpec, TrainSpec
from mmbench.runner.evaluate import evaluate

Log = Callable[[str], None]


class TrainingError(MMBenchError):
    """Training cannot continue (non-finite loss)."""


class BPRSampler:
    """Epochs of (user, positive, negative) batches; negatives avoid the user's train items, vectorised."""

    def __init__(self, graph: TrainGraph, generator: torch.Generator) -> None:
        self.n_items = graph.n_items
        self.users = torch.as_tensor(graph.user, dtype=torch.long)
        self.items = torch.as_tensor(graph.item, dtype=torch.long)
        self.keys = torch.sort(self.users * self.n_items + self.items).values
        self.gen = generator

    def _is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        keys = users * self.n_items + items
        pos = torch.searchsorted(self.keys, keys).clamp(max=len(self.keys) - 1)
        return self.keys[pos] == keys

    def epoch(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.users), generator=self.gen)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            users, pos = self.users[idx], self.items[idx]
            neg = torch.randint(self.n_items, (len(idx),), generator=self.gen)
            for _ in range(100):  # resample only the collisions; a user owning every item is impossible to fix
                bad = self._is_positive(users, neg)
                if not bad.any():
                    break
                neg[bad] = torch.randint(self.n_items, (int(bad.sum()),), generator=self.gen)
            yield users, pos, neg


@dataclass
class FitResult:
    """What training did: the selected epoch, why it stopped, and the validation curve."""

    best_epoch: int
    epochs_run: int
    stopped: str
    valid: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def is_trainable(model: nn.Module) -> bool:
    return any(p.requires_grad for p in model.parameters())


def fit(model: nn.Module, split: Split, train: TrainSpec, ev: EvalSpec, *, seed: int,
        log: Log = lambda _: None) -> FitResult:
    """Train ``model`` with BPR + Adam; keep the state with the best validation ``select_metric``."""
    t0 = time.perf_counter()

    def validate() -> dict[str, float]:
        model.eval()
        return evaluate(model.score, split, "valid", metrics=ev.metrics, ks=ev.ks, batch_size=ev.batch_size)

    if not is_trainable(model) or train.epochs == 0:
        return FitResult(0, 0, "nothing to train" if train.epochs else "epochs: 0", validate(),
                         seconds=time.perf_counter() - t0)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay)
    sampler = BPRSampler(split.graph, torch.Generator().manual_seed(seed))
    best, best_epoch, best_state, best_valid = -math.inf, 0, None, {}
    history: list[dict[str, Any]] = []
    stale, stopped, epoch = 0, "epoch budget", 0
    for epoch in range(1, train.epochs + 1):
        model.train()
        total, steps, te = 0.0, 0, time.perf_counter()
        for users, pos, neg in sampler.epoch(train.batch_size):
            loss = model.loss(users, pos, neg)
            if not torch.isfinite(loss):
                raise TrainingError(f"loss became {loss.item()} at epoch {epoch}, step {steps + 1}; "
                                    f"lower train.lr (now {train.lr}) or check the model's inputs")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, steps = total + loss.item(), steps + 1
        row: dict[str, Any] = {"epoch": epoch, "loss": total / max(steps, 1), "seconds": time.perf_counter() - te}
        if epoch % train.eval_every == 0 or epoch == train.epochs:
            valid = validate()
            value = valid[train.select_metric]
            row["valid"] = value
            if value > best:
                best, best_epoch, best_valid, stale = value, epoch, valid, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
            log(f"epoch {epoch:>4}  loss {row['loss']:.4f}  valid {train.select_metric} {value:.4f}"
                f"  (best {best:.4f} @ {best_epoch})")
            if stale >= train.patience:
                stopped = f"patience ({train.patience} validations without improvement)"
                history.append(row)
                break
        history.append(row)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch, epoch, stopped, best_valid, history, time.perf_counter() - t0)


def seed_everything(seed: int) -> None:
    """Seed torch and numpy so that the same seed gives identical results on CPU."""
    torch.manual_seed(seed)
    np.random.seed(seed)
