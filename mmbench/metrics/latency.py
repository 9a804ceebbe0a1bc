"""Serving latency and size of a recommender: single-user requests and batched throughput (PROTOCOL rule 11)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

Scorer = Callable[[torch.Tensor], torch.Tensor]
RequestHook = Callable[[int], object]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_size(model: nn.Module) -> dict[str, int]:
    """Parameter count and the bytes a server holds (parameters + buffers).

    A model fitted in closed form keeps its fitted state outside ``parameters()`` (EASE's item–item matrix,
    ItemKNN's neighbours, Pop's counts); its ``fitted_arrays()`` returns ``(elements, bytes)`` of that state,
    which counts as parameters too.
    """
    params = sum(p.numel() for p in model.parameters())
    held = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    fitted = getattr(model, "fitted_arrays", None)
    for numel, nbytes in fitted() if callable(fitted) else ():
        params, held = params + numel, held + nbytes
    return {"params": int(params), "serving_bytes": int(held)}


def measure_latency(score: Scorer, n_users: int, *, k: int, warmup: int, repeats: int, batch_size: int,
                    seed: int = 0, device: torch.device | None = None,
                    encode: RequestHook | None = None) -> dict[str, float | int | str]:
    """p50/p95 of one-user requests (score all items + top-K) after warm-up, and batched users/s.

    With ``encode``, every single-user request first calls ``encode(i)`` (the feature encoders run on one
    item's raw inputs, inside the timed region): the request of a model that needs content features.
    """
    device = device or torch.device("cpu")
    rng = np.random.default_rng(seed)
    users = torch.as_tensor(rng.integers(0, n_users, size=warmup + repeats), dtype=torch.long, device=device)
    times = []
    with torch.inference_mode():
        for i, u in enumerate(users):
            _sync(device)
            t0 = time.perf_counter()
            if encode is not None:
                encode(i)
            torch.topk(score(u.view(1)), k, dim=1)
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        batch = torch.as_tensor(rng.integers(0, n_users, size=min(batch_size, n_users)), device=device)
        torch.topk(score(batch), k, dim=1)  # warm-up at batch shape
        rounds, t0 = 0, time.perf_counter()
        while rounds < 3 or time.perf_counter() - t0 < 0.5:
            torch.topk(score(batch), k, dim=1)
            _sync(device)
            rounds += 1
        throughput = rounds * len(batch) / (time.perf_counter() - t0)
    ms = np.asarray(times) * 1e3
    return {
        "latency_ms_p50": float(np.percentile(ms, 50)),
        "latency_ms_p95": float(np.percentile(ms, 95)),
        "throughput_users_per_s": float(throughput),
        "k": k, "repeats": repeats, "warmup": warmup, "batch_size": int(len(batch)),
        "device": str(device), "threads": torch.get_num_threads(),
        "includes_encoders": encode is not None,
    }


def measure_refresh(build: Callable[[], object], *, repeats: int = 3,
                    device: torch.device | None = None) -> float:
    """Median milliseconds to rebuild a model's serving tables from scratch (e.g. after new interactions)."""
    device = device or torch.device("cpu")
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            build()
            _sync(device)
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)
