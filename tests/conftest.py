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


EXPORT_RECIPE = """\
schema_version: 1
name: export-test
dataset: {name: amazon-beauty, params: {max_users: 300}}
encoders:
  text: {name: minilm}
teacher:
  name: mm-gnn
  params: {dim: 16, layers: 1}
  fusion: {name: concat}
student: {name: lightgcn, params: {dim: 16, layers: 2, adapter: true}}
distill:
  - {name: rrd, weight: 1.0, params: {top_k: 5, samples: 20}}
train: {epochs: 2, batch_size: 512, lr: 0.01}
baselines: [{name: mf, params: {dim: 16, adapter: true}}, {name: pop}]
eval: {ks: [5, 10, 20]}
seeds: [0]
"""


@pytest.fixture(scope="session")
def exported(tmp_path_factory, data_cache):
    """A small real KD run (300 Amazon Beauty users, MiniLM text, a LightGCN student with an adapter, an MF
    baseline with one, pop) and its KD student exported with an HNSW index: ``(results dir, record path, export
    folder)``. The trained weights stay in the session's cache, so tests can rebuild and export again."""
    from mmbench.export import export_model, find_record
    from mmbench.recipe.load import load_recipe
    from mmbench.runner.run import run_recipe

    root = tmp_path_factory.mktemp("export")
    (root / "export-test.yaml").write_text(EXPORT_RECIPE)
    [record] = run_recipe(load_recipe(root / "export-test.yaml"), results_dir=root / "res", log=lambda _: None,
                          recipe_path=str(root / "export-test.yaml"))
    located = find_record(record, None, None, root / "res")
    export_model(located, 1, root / "student", ann=True, log=lambda _: None)
    return root / "res", record, root / "student"
