"""Where and how a trained model serves requests, for the latency measurement (PROTOCOL rule 11), and what the
record says about how the served model differs from the trained one."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def serving_device() -> torch.device:
    """Where latency is measured: the GPU when one is present, else the CPU (the record says which)."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def serving_scorer(served: nn.Module) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.device]:
    """The served model's request path on the serving device: its precomputed tables there, ``U[u] @ I.T``.

    A model without tables (e.g. popularity) is timed through its own ``score`` on the CPU.
    """
    device = serving_device()
    tables = getattr(served, "tables", None)
    if not callable(tables):
        return served.score, torch.device("cpu")
    users, items = (t.to(device) for t in tables())
    return (lambda u: users[u] @ items.T), device


def served_note(model: nn.Module, served: nn.Module) -> str | None:
    """How the served model differs from the trained one, for the record (None: it is the trained one)."""
    choice = model.served_choice() if callable(getattr(model, "served_choice", None)) else None
    parts = (["folded adapter"] if getattr(model, "adapter", None) is not None and served is not model else []) \
        + ([f"{choice} (chosen on valid)"] if choice else [])
    return "; ".join(parts) or ("folded" if served is not model else None)
