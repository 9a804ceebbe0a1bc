"""How good and how fast approximate search is on an export: recall@K against exact search, query times."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mmbench.serve.ann import recall_at_k
from mmbench.serve.recommender import Recommender

Search = Callable[[np.ndarray, int, bool], "list[tuple[np.ndarray, np.ndarray]]"]


def _all(search: Search, rows: np.ndarray, k: int, exclude_seen: bool, batch_size: int) -> tuple[list[list[int]], float]:
    """Every row's top-``k`` item rows through ``search`` in batches, and the seconds it took."""
    out: list[list[int]] = []
    t0 = time.perf_counter()
    for start in range(0, len(rows), batch_size):
        out.extend(idx.tolist() for idx, _ in search(rows[start:start + batch_size], k, exclude_seen))
    return out, time.perf_counter() - t0


def _single(search: Search, rows: np.ndarray, k: int, exclude_seen: bool) -> dict[str, float]:
    """p50 / p95 milliseconds of one-user requests (one warm-up request first)."""
    search(rows[:1], k, exclude_seen)
    times = []
    for r in rows:
        t0 = time.perf_counter()
        search(np.array([r]), k, exclude_seen)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"ms_p50": float(np.percentile(times, 50)), "ms_p95": float(np.percentile(times, 95))}


def threads() -> dict[str, Any]:
    """The thread settings the figures were measured with (BLAS through the environment, faiss's OpenMP)."""
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    try:
        import faiss

        env["faiss_omp_threads"] = faiss.omp_get_max_threads()
    except ImportError:
        pass
    return {**env, "cpus": os.cpu_count()}


def measure_ann(rec: Recommender, *, k: int = 10, exclude_seen: bool = True, queries: int = 1000,
                batch_size: int = 1024, seed: int = 0, ef_search: Sequence[int] = ()) -> dict[str, Any]:
    """Recall@``k`` of :meth:`Recommender.search_ann` against :meth:`Recommender.search` over every user of the
    export, the time of both over all users (in batches of ``batch_size``) and of ``queries`` one-user requests
    (users drawn with ``seed``). The index is the export's (or built now: its build time is reported).

    ``ef_search``: also measure the index at each of these HNSW search breadths (``ef_search_sweep``: recall and
    times per value, the recall–latency trade-off); the top-level figures are the index's own setting.
    """
    t0 = time.perf_counter()
    index = rec.ann_index()
    index_s = time.perf_counter() - t0
    rows = np.arange(rec.n_users)
    exact, exact_s = _all(rec.search, rows, k, exclude_seen, batch_size)
    sample = np.random.default_rng(seed).choice(rows, size=min(queries, len(rows)), replace=False)

    def ann_figures() -> dict[str, Any]:
        approx, ann_s = _all(rec.search_ann, rows, k, exclude_seen, batch_size)
        return {"recall": recall_at_k(exact, approx), "ann_s": ann_s,
                "one_user": _single(rec.search_ann, sample, k, exclude_seen)}

    own = ann_figures()
    report = {"k": k, "exclude_seen": exclude_seen, "users": len(rows), "items": rec.n_items,
              "recall": own["recall"], "index": getattr(index, "params", {}),
              "index_load_or_build_s": index_s,
              "all_users": {"exact_s": exact_s, "ann_s": own["ann_s"], "batch_size": batch_size},
              "one_user": {"queries": len(sample), "exact": _single(rec.search, sample, k, exclude_seen),
                           "ann": own["one_user"]},
              "threads": threads()}
    if ef_search:
        if not hasattr(index, "set_ef_search"):
            raise ValueError(f"{type(index).__name__} has no ef_search to vary")
        sweep = []
        try:
            for ef in ef_search:
                index.set_ef_search(int(ef))
                sweep.append({"ef_search": int(ef), **ann_figures()})
        finally:
            index.set_ef_search(int(report["index"].get("ef_search", ef_search[-1])))
        report["ef_search_sweep"] = sweep
    return report
