from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmbench.cli import main
from mmbench.results.record import RunRecord
from mmbench.results.store import load_record

# Small and real: Last.fm's given split with its shipped MiniLM text features (no encoder runs), a feature-
# reading teacher distilled into an ID-only LightGCN beside its no-KD twin and a baseline; every epoch
# validated, latency and robustness measured. About 20 s on 2 cores.
TINY_KD = """\
schema_version: 1
name: tiny-kd
description: a tiny KD run for the tracking tests
dataset: {name: lastfm, split: given}
encoders:
  text: {name: precomputed, params: {feature: text-minilm}}
teacher:
  name: mm-gnn
  params: {dim: 8, layers: 1}
  fusion: {name: concat}
student: {name: lightgcn, params: {dim: 8, layers: 1}}
baselines: [{name: pop}]
distill:
  - {name: rrd, weight: 0.5, params: {top_k: 5, samples: 10}}
train: {epochs: 3, eval_every: 1, batch_size: 4096, lr: 0.01}
eval:
  ks: [10]
  latency: {enabled: true, warmup: 1, repeats: 2, batch_size: 64}
  robustness: {enabled: true, rates: [0.0, 1.0], mask_seeds: 1}
seeds: [0]
"""


@dataclass(frozen=True)
class Tracked:
    """A real run made through ``mmbench run --track mlflow`` into a fresh SQLite store."""

    uri: str
    record_path: Path
    record: RunRecord
    output: str


@pytest.fixture(scope="session")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Tracked:
    root = tmp_path_factory.mktemp("tracked")
    recipe = root / "tiny-kd.yaml"
    recipe.write_text(TINY_KD)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = CliRunner().invoke(main, ["run", str(recipe), "--results-dir", str(root / "res"), "-q",
                                       "--track", "mlflow", "--tracking-uri", uri], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [path] = (root / "res" / "runs" / "tiny-kd").glob("*.json")
    return Tracked(uri, path, load_record(path), result.output)
