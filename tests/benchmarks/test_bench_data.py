"""Speed of the data layer (pytest-benchmark; run with ``pytest tests/benchmarks --benchmark-enable``).

Targets on 2 CPU cores: a cold prepare of amazon-beauty (read, preprocess, write the cache) ≤ 10 s and a cached
load ≤ 1 s. Measured, never asserted: with benchmarks disabled (the default test run) each body runs once.
"""

from __future__ import annotations

import itertools

from mmbench.data.load import load_dataset


def test_bench_cold_prepare_amazon_beauty(benchmark, tmp_path):
    fresh = (tmp_path / f"cold{i}" for i in itertools.count())

    def setup():
        return (), {"root": next(fresh)}

    data = benchmark.pedantic(lambda root: load_dataset("amazon-beauty", root=root), setup=setup, rounds=3)
    assert len(data.interactions) == 198502


def test_bench_cached_load_amazon_beauty(benchmark, tmp_path):
    load_dataset("amazon-beauty", root=tmp_path)
    data = benchmark(lambda: load_dataset("amazon-beauty", root=tmp_path))
    assert data.card["interactions"] == 198502
