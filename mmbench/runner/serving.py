"""Where and how a trained model serves requests, for the latency measurement (PROTOCOL rule 11), and what the
record says about how the served model differs from the trained one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mmbench.metrics.latency import measure_latency, measure_refresh
from mmbench.recipe.schema import LatencySpec


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


def serving_latency(served: nn.Module, n_users: int, spec: LatencySpec, seed: int,
                    encode: tuple[Callable[[int], None], dict[str, str]] | None = None) -> dict[str, Any]:
    """The record's latency of the served model: a request's p50/p95 (``U[u] @ I.T`` and top-K on the serving
    device), the refresh of its tables, and the same requests with the item encoders ``encode`` runs (its
    hook and the encoders' names; None: nothing to encode, so both are the same)."""
    scorer, device = serving_scorer(served)
    timing = dict(k=spec.k, warmup=spec.warmup, repeats=spec.repeats, batch_size=spec.batch_size, seed=seed,
                  device=device)
    latency = measure_latency(scorer, n_users, **timing)
    embeddings = getattr(served, "embeddings", None)
    latency["refresh_ms"] = measure_refresh(embeddings) if callable(embeddings) else 0.0
    with_enc = measure_latency(scorer, n_users, encode=encode[0], **timing) if encode is not None else latency
    latency.update(latency_enc_ms_p50=with_enc["latency_ms_p50"], latency_enc_ms_p95=with_enc["latency_ms_p95"],
                   encoders=encode[1] if encode is not None else {})
    return latency
