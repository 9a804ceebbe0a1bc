"""Benchmarks time what the ``mmbench`` commands run, so the command line's allocator setting applies to them too
(:func:`mmbench.allocator.keep_freed_memory`; ``MMBENCH_MALLOC_TUNING=0`` measures without it). Only when
benchmarks are enabled: the default test run keeps glibc's defaults. Each benchmark records the setting."""

from __future__ import annotations

import pytest

from mmbench.allocator import keep_freed_memory

MALLOC_TUNED = False


def pytest_configure(config: pytest.Config) -> None:
    global MALLOC_TUNED
    if config.getoption("benchmark_enable", default=False):
        MALLOC_TUNED = keep_freed_memory()


@pytest.fixture(autouse=True)
def _record_allocator(request: pytest.FixtureRequest):
    yield
    bench = request.node.funcargs.get("benchmark")
    if bench is not None and not bench.disabled:
        bench.extra_info["malloc_tuning"] = MALLOC_TUNED
