"""Pinned regression bands: measure small CI recipes over seeds, re-run them, flag metrics that leave their band.

A band is where one new seed's test metric should land: the 99% prediction interval from the seed spread
measured by ``mmbench check --update`` (mean ± ``t_{0.995, n-1} · sd · sqrt(1 + 1/n)``, plus 1e-6 for
numerical noise). ``ci/bands.json`` is generated, never hand-edited; a recipe whose hash or data split differs
from the one its bands were measured on fails until it is re-measured, since its bands no longer apply.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


from mmbench.errors import MMBenchError
from mmbench.recipe.load import load_recipe, recipe_hash
from mmbench.recipe.schema import Recipe
from mmbench.results.bands import (ABS_FLOOR, LEVEL, METRICS, MIN_SEEDS, UPDATE, Bands, BandsError, MetricBand,
                                    ModelBands, RecipeBands, band)

Log = Callable[[str], None]

@dataclass(frozen=True)
class SeedRun:
    """What bands are measured from and checked against: the test metrics of one run record."""

    seed: int
    split_hash: str
    dataset: str
    models: list[tuple[str, str, dict[str, float]]]  # (role, component, test metrics)
    provenance: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


Runner = Callable[[Recipe, Path, Sequence[int], Path, Log], list[SeedRun]]
"""Runs a recipe's seeds into a folder and returns what they measured: results/ compares, the runner runs
(:func:`mmbench.runner.check.run_seeds` is the real one; tests pass their own)."""


def model_labels(models: Sequence[tuple[str, ...]]) -> list[str]:
    """``role/component`` of each model, with ``#2``, ``#3`` … on repeats (two baselines of one component)."""
    seen: dict[str, int] = {}
    out = []
    for role, component, *_ in models:
        key = f"{role}/{component}"
        seen[key] = seen.get(key, 0) + 1
        out.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return out


def _rel(path: Path, bands_path: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(bands_path).resolve().parent)).as_posix()


def shown(entry: RecipeBands, bands_path: Path) -> str:
    """The recipe's path as a user in the current folder would type it."""
    return os.path.relpath(Path(bands_path).parent / entry.path)


def recipe_bands(path: Path, bands_path: Path, recipe: Recipe, runs: Sequence[SeedRun],
                 check_seeds: Sequence[int]) -> RecipeBands:
    """Bands of every model and metric of one recipe from its runs (one per seed)."""
    first = runs[0]
    shape = [(role, comp) for role, comp, _ in first.models]
    for run in runs[1:]:
        if [(role, comp) for role, comp, _ in run.models] != shape or run.split_hash != first.split_hash:
            raise BandsError(f"{path}: seeds {first.seed} and {run.seed} trained different models or split the "
                             "data differently; bands need the same runs on every seed")
    models = []
    for j, label in enumerate(model_labels(shape)):
        missing = [m for m in METRICS if any(m not in run.models[j][2] for run in runs)]
        if missing:
            raise BandsError(f"{path}: {label} reports no {', '.join(missing)}; fix: the recipe's eval must "
                             "compute hr, ndcg and recall at ks 10 and 20")
        models.append(ModelBands(role=shape[j][0], component=shape[j][1],
                                 metrics={m: band([run.models[j][2][m] for run in runs]) for m in METRICS}))
    measured = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), **first.provenance,
                "run_s_mean": round(statistics.fmean(r.seconds for r in runs), 2)}
    return RecipeBands(path=_rel(path, bands_path), name=recipe.name or Path(path).stem, hash=recipe_hash(recipe),
                       dataset=first.dataset, split_hash=first.split_hash, seeds=[r.seed for r in runs],
                       check_seeds=list(check_seeds), measured=measured, models=models)


def measure_bands(recipe_paths: Sequence[Path], seeds: Sequence[int], *, bands_path: Path,
                  check_seeds: Sequence[int] | None = None, existing: Bands | None = None, log: Log = print,
                  run_log: Log = lambda _: None, runner: Runner) -> Bands:
    """Run every recipe with every seed and compute its bands; entries of ``existing`` for other recipes stay.

    ``check`` later re-runs ``check_seeds`` (default: the first measured seed: unchanged code then reproduces
    a measured value, up to the float noise of multi-threaded kernels, and the check does not flake).
    """
    seeds = list(dict.fromkeys(seeds))
    if len(seeds) < MIN_SEEDS:
        raise BandsError(f"bands need a seed spread: got seeds {seeds}; fix: --seeds 0,1,2,3,4")
    if not recipe_paths:
        raise BandsError(f"no recipes to measure; fix: put them under {Path(bands_path).parent / 'recipes'} "
                         "or name them with --recipe")
    entries = []
    for i, path in enumerate(recipe_paths, 1):
        recipe = load_recipe(path)
        log(f"[{i}/{len(recipe_paths)}] {path}: seeds {','.join(map(str, seeds))}")
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="mmbench-bands-") as tmp:
            try:
                runs = runner(recipe, Path(path), seeds, Path(tmp), run_log)
            except Exception as exc:  # any failure: no bands are written, the user sees why
                raise BandsError(f"{path}: the run failed ({type(exc).__name__}: {exc}); no bands were written; "
                                 f"fix the recipe or the code (`mmbench run {path}` shows the traceback)") from exc
        entries.append(recipe_bands(Path(path), bands_path, recipe, runs, check_seeds or seeds[:1]))
        log(f"  measured in {time.perf_counter() - t0:.0f} s")
    new = {e.path for e in entries}
    kept = [r for r in existing.recipes if r.path not in new] if existing else []
    return Bands(generated_by=f"{UPDATE} --seeds {','.join(map(str, seeds))}", level=LEVEL, abs_floor=ABS_FLOOR,
                 metrics=list(METRICS), recipes=sorted([*kept, *entries], key=lambda r: r.path))


@dataclass(frozen=True)
class MetricCheck:
    """One metric of one model in one re-run: its value against its band."""

    seed: int
    model: str
    metric: str
    value: float | None
    lo: float | None
    hi: float | None
    status: str  # ok | LOW | HIGH | MISSING (banded, not reported) | UNBANDED (reported, no band)
    pinned: float | None = None  # this seed's value when the bands were measured (if it was measured)


@dataclass
class RecipeCheck:
    path: str
    name: str
    rows: list[MetricCheck] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.status == "ok" for r in self.rows)


@dataclass
class CheckReport:
    recipes: list[RecipeCheck]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.recipes)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "summary": summary(self), "seconds": round(self.seconds, 2),
                "recipes": [{**asdict(r), "ok": r.ok} for r in self.recipes]}


def status(value: float | None, b: MetricBand) -> str:
    if value is None:
        return "MISSING"
    return "LOW" if value < b.lo else "HIGH" if value > b.hi else "ok"


def compare(entry: RecipeBands, seed: int, models: Sequence[tuple[str, str, dict[str, float]]]) -> list[MetricCheck]:
    """Every banded metric of ``entry`` against one run's models; models without bands are flagged too."""
    got = dict(zip(model_labels(models), (metrics for _, _, metrics in models)))
    want = model_labels([(m.role, m.component) for m in entry.models])
    at = entry.seeds.index(seed) if seed in entry.seeds else None
    rows = []
    for label, mb in zip(want, entry.models):
        for name, b in mb.metrics.items():
            value = got.get(label, {}).get(name)
            pinned = b.values[at] if at is not None and at < len(b.values) else None
            rows.append(MetricCheck(seed, label, name, value, b.lo, b.hi, status(value, b), pinned))
    rows += [MetricCheck(seed, label, "-", None, None, None, "UNBANDED") for label in got if label not in want]
    return rows


def check_recipe(entry: RecipeBands, path: Path, seeds: Sequence[int], *, runner: Runner,
                 run_log: Log = lambda _: None) -> RecipeCheck:
    """Re-run one recipe with ``seeds`` into a temporary folder and compare it with its bands."""
    out = RecipeCheck(str(path), entry.name)
    t0 = time.perf_counter()
    remeasure = f"if the change is intended, re-measure: `{UPDATE} --recipe {path}`"
    try:
        recipe = load_recipe(path)
    except MMBenchError as exc:
        out.error = f"the recipe does not load: {exc}"
        return out
    if (current := recipe_hash(recipe)) != entry.hash:
        out.error = f"the recipe changed since its bands were measured (hash {entry.hash} -> {current}); {remeasure}"
        return out
    with tempfile.TemporaryDirectory(prefix="mmbench-check-") as tmp:
        try:
            runs = runner(recipe, path, seeds, Path(tmp), run_log)
        except Exception as exc:  # a crash is a failed check, reported with its message, not an aborted one
            out.error = f"the run failed: {type(exc).__name__}: {exc}"
            out.seconds = time.perf_counter() - t0
            return out
    for run in runs:
        if run.split_hash != entry.split_hash:
            out.error = (f"the data split changed since the bands were measured (split hash {entry.split_hash} -> "
                         f"{run.split_hash}): the dataset or its preprocessing changed; {remeasure}")
        out.rows += compare(entry, run.seed, run.models)
    out.seconds = time.perf_counter() - t0
    return out


def select(bands: Bands, bands_path: Path, only: Sequence[Path] = ()) -> list[RecipeBands]:
    """The entries to check: all, or those of the ``only`` recipe files (an unknown one is an error)."""
    if not only:
        return list(bands.recipes)
    by_file = {(Path(bands_path).parent / e.path).resolve(): e for e in bands.recipes}
    out = []
    for p in only:
        if Path(p).resolve() not in by_file:
            known = ", ".join(shown(e, bands_path) for e in bands.recipes)
            raise BandsError(f"{p}: no bands for this recipe in {bands_path} (it has: {known}); "
                             f"measure it: `{UPDATE} --recipe {p}`")
        out.append(by_file[Path(p).resolve()])
    return out


def check(bands: Bands, *, bands_path: Path, only: Sequence[Path] = (), seeds: Sequence[int] | None = None,
          log: Log = print, run_log: Log = lambda _: None, runner: Runner) -> CheckReport:
    """Re-run each recipe's check seeds (or ``seeds``) and compare every banded metric; never raises for a run."""
    t0 = time.perf_counter()
    results = []
    for entry in select(bands, bands_path, only):
        path = Path(shown(entry, bands_path))
        run_with = list(seeds or entry.check_seeds)
        log(f"checking {path} (seed {','.join(map(str, run_with))}) ...")
        results.append(check_recipe(entry, path, run_with, runner=runner, run_log=run_log))
    return CheckReport(results, time.perf_counter() - t0)


def summary(report: CheckReport) -> str:
    rows = [r for rc in report.recipes for r in rc.rows]
    counts = {s: sum(r.status == s for r in rows) for s in ("ok", "LOW", "HIGH", "MISSING", "UNBANDED")}
    failed = [rc for rc in report.recipes if not rc.ok]
    parts = [f"{len(report.recipes)} recipe(s), {len(rows)} metric(s): "
             + ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "ok")]
    errors = sum(rc.error is not None for rc in report.recipes)
    if errors:
        parts.append(f"{errors} recipe(s) not checked or failed to run")
    verdict = "PASS" if not failed else f"FAIL ({', '.join(rc.path for rc in failed)})"
    return f"{verdict}: {'; '.join(parts)}; {report.seconds:.0f} s"
