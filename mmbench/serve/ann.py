"""Approximate top-K by inner product (faiss HNSW), and its recall against exact search.

faiss (``pip install 'mmbench[ann]'``) is imported only when an index is built or read. An index is anything
with ``search(queries [n, d] float32, k) -> (scores [n, k], rows [n, k])``, rows -1 where it found fewer than
``k``; :class:`HnswIndex` wraps faiss's ``IndexHNSWFlat`` with the inner-product metric, and tests plug in others
(an exact one must give recall 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mmbench.errors import ServeError

DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 200
DEFAULT_EF_SEARCH = 128


class AnnIndex(Protocol):
    """What :class:`~mmbench.serve.recommender.Recommender` searches with ``ann=True``."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` rows of highest inner product per query, best first: ``(scores, rows)``."""
        ...


def require_faiss() -> Any:
    """The faiss module, or the error naming the extra that installs it."""
    try:
        import faiss
    except ImportError:
        raise ServeError("approximate search needs faiss; fix: pip install 'mmbench[ann]' (faiss-cpu), or leave "
                         "out --ann for exact search") from None
    return faiss


class HnswIndex:
    """faiss ``IndexHNSWFlat`` over the item table, inner-product metric.

    ``ef_search`` is raised to ``k`` for a search that asks for more (an HNSW search returns at most ``ef``).
    """

    def __init__(self, index: Any, params: dict[str, int]) -> None:
        self.index, self.params = index, dict(params)

    @classmethod
    def build(cls, items: np.ndarray, *, m: int = DEFAULT_M, ef_construction: int = DEFAULT_EF_CONSTRUCTION,
              ef_search: int = DEFAULT_EF_SEARCH, threads: int = 1) -> HnswIndex:
        """Build over ``items`` [n, d]. One thread by default: faiss builds HNSW graphs in parallel in an order
        that varies between runs, and one thread makes the index (and its recall) reproducible."""
        faiss = require_faiss()
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(threads)
        try:
            index = faiss.IndexHNSWFlat(items.shape[1], m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            index.add(np.ascontiguousarray(items, dtype=np.float32))
        finally:
            faiss.omp_set_num_threads(before)
        index.hnsw.efSearch = ef_search
        return cls(index, {"M": m, "ef_construction": ef_construction, "ef_search": ef_search})

    @classmethod
    def read(cls, path: Path, params: dict[str, int]) -> HnswIndex:
        """An index :meth:`write` stored (faiss's own binary format; nothing is unpickled)."""
        faiss = require_faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ServeError(f"{path}: unreadable faiss index ({str(exc).splitlines()[0]}); fix: export again with "
                             f"--ann, or search without --ann") from None
        index.hnsw.efSearch = int(params.get("ef_search", DEFAULT_EF_SEARCH))
        return cls(index, params)

    def write(self, path: Path) -> None:
        require_faiss().write_index(self.index, str(path))

    def set_ef_search(self, ef: int) -> None:
        """The search breadth from now on (wider: higher recall, slower); ``params`` keeps the index's own."""
        if ef < 1:
            raise ValueError(f"ef_search must be >= 1, got {ef}")
        self.index.hnsw.efSearch = int(ef)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ef = self.index.hnsw.efSearch
        self.index.hnsw.efSearch = max(ef, k)
        try:
            return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        finally:
            self.index.hnsw.efSearch = ef


def recall_at_k(exact: list[list[int]], approx: list[list[int]]) -> float:
    """Mean over queries of ``|approx ∩ exact| / |exact|`` (queries with an empty exact list are left out)."""
    if len(exact) != len(approx):
        raise ValueError(f"{len(exact)} exact lists against {len(approx)} approximate ones")
    shares = [len(set(a) & set(e)) / len(e) for e, a in zip(exact, approx) if e]
    return float(np.mean(shares)) if shares else float("nan")
