from __future__ import annotations

import pytest

from mmbench.data.load import load_dataset
from mmbench.data.splits import loo_time
from mmbench.data.types import Split
from mmbench.recipe.load import load_recipe
from mmbench.results.store import load_records
from mmbench.runner.run import run_recipe


@pytest.fixture(scope="session")
def small_split() -> Split:
    """Real data, small: the first 400 users of Amazon Beauty, split loo-time."""
    return loo_time(load_dataset("amazon-beauty", {"max_users": 400}).interactions)


KD_RECIPE = """\
schema_version: 1
dataset: {name: amazon-beauty, params: {max_users: 300}}
encoders:
  text: {name: minilm}
  image: {name: efficientnet-lite0}
teacher:
  name: mm-gnn
  params: {dim: 16, layers: 1}
  fusion: {name: concat}
student: {name: lightgcn, params: {dim: 16, layers: 2, adapter: true}}
distill:
  - {name: listwise-kl, weight: 1.0, params: {top_k: 10, samples: 20}}
  - {name: rrd, weight: 0.5, params: {top_k: 5, samples: 20}}
modality_dropout: {text: 0.3}
imputer: {name: mean}
train: {epochs: 2, batch_size: 512, lr: 0.01}
baselines: [{name: mf, params: {dim: 16}}]
eval:
  ks: [5, 10, 20]
  latency: {enabled: true, warmup: 1, repeats: 3, batch_size: 32}
  robustness: {enabled: true, rates: [0.0, 0.5, 1.0], mask_seeds: 2, imputers: [{name: zero}]}
seeds: [0]
"""


@pytest.fixture(scope="session")
def kd_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("kd")
    path = root / "kd.yaml"
    path.write_text(KD_RECIPE)
    paths = run_recipe(load_recipe(path), results_dir=root / "res", log=lambda _: None)
    return root, path, paths, load_records(root / "res")[0]
