"""Shared fixtures: built-in components loaded once; registry state isolated per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from mmbench import plugins
from mmbench.kinds import KINDS
from mmbench.registry import load_plugins


@pytest.fixture(scope="session", autouse=True)
def builtins_loaded() -> None:
    load_plugins(entry_points=False)


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A session-private processed-dataset cache, so tests never read or write the user's cache."""
    root = tmp_path_factory.mktemp("mmbench-cache")
    old = os.environ.get("MMBENCH_CACHE_DIR")
    os.environ["MMBENCH_CACHE_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("MMBENCH_CACHE_DIR", None)
    else:
        os.environ["MMBENCH_CACHE_DIR"] = old


@pytest.fixture(scope="session", autouse=True)
def mlflow_telemetry_off() -> Iterator[None]:
    """MLflow's usage telemetry stays off in the run-tracking tests (no network)."""
    old = os.environ.get("MLFLOW_DISABLE_TELEMETRY")
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    yield
    if old is None:
        os.environ.pop("MLFLOW_DISABLE_TELEMETRY", None)
    else:
        os.environ["MLFLOW_DISABLE_TELEMETRY"] = old


@pytest.fixture
def isolated_registries():
    """Roll back registrations, plugin bookkeeping and failures made inside a test."""
    loaded, failures = set(plugins._LOADED_PLUGINS), list(plugins._PLUGIN_FAILURES)
    with ExitStack() as stack:
        for reg in KINDS.values():
            stack.enter_context(reg.scoped())
        yield
    plugins._LOADED_PLUGINS.clear()
    plugins._LOADED_PLUGINS.update(loaded)
    plugins._PLUGIN_FAILURES[:] = failures
