"""The runner side of ``mmbench check``: running a CI recipe's seeds for the bands (:mod:`mmbench.results.check`
compares what they measured; it never runs anything itself)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mmbench.recipe.schema import Recipe
from mmbench.results.check import Log, SeedRun
from mmbench.results.record import RunRecord
from mmbench.runner.run import run_recipe


def run_seeds(recipe: Recipe, path: Path, seeds: Sequence[int], results_dir: Path, log: Log) -> list[SeedRun]:
    """The default runner: ``run_recipe`` (no checkpoints) into ``results_dir``, read back from the records."""
    out = []
    for p in run_recipe(recipe, results_dir=results_dir, seeds=list(seeds), recipe_path=str(path), log=log,
                        resume=False):
        rec = RunRecord.model_validate_json(Path(p).read_bytes())
        out.append(SeedRun(rec.seed, rec.dataset.split_hash, rec.dataset.key,
                           [(m.role, m.component, dict(m.metrics["test"])) for m in rec.models],
                           {"git": rec.git, "hardware": rec.hardware, "versions": rec.versions},
                           rec.timings.get("run_s", 0.0)))
    return out
