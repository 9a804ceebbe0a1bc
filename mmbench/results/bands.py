"""The pinned regression bands of ``ci/bands.json``: the file's schema, the band of one metric, reading and writing.

A band is where one new seed's test metric should land: the 99% prediction interval from the seed spread
measured by ``mmbench check --update`` (mean ± ``t_{0.995, n-1} · sd · sqrt(1 + 1/n)``, plus 1e-6 for
numerical noise). The file is generated, never hand-edited.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from mmbench.errors import MMBenchError
from mmbench.results.stats import prediction_interval

BANDS_VERSION = 1
METRICS = ("HR@10", "NDCG@10", "NDCG@20", "Recall@20")  # banded for every model of every recipe
LEVEL = 0.99
ABS_FLOOR = 1e-6  # deterministic models (pop) have sd 0: their band is the value ± float noise
MIN_SEEDS = 2  # the fewest with a spread at all; `mmbench check --update` warns below 5
UPDATE = "mmbench check --update"


class BandsError(MMBenchError):
    """The bands file is missing or malformed, names no such recipe, or bands cannot be measured."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class MetricBand(_Strict):
    """One metric of one model: the measured seeds' values and the band a new seed must land in."""

    mean: float
    sd: float = Field(ge=0)
    n: int = Field(ge=MIN_SEEDS)
    tol: float = Field(ge=0, description="half-width of the band: the prediction interval plus the floor")
    values: list[float] = Field(description="one per measured seed, in the recipe's `seeds` order")

    @property
    def lo(self) -> float:
        return self.mean - self.tol

    @property
    def hi(self) -> float:
        return self.mean + self.tol


class ModelBands(_Strict):
    role: str
    component: str
    metrics: dict[str, MetricBand]


class RecipeBands(_Strict):
    path: str = Field(description="the recipe file, relative to the bands file's folder")
    name: str
    hash: str
    dataset: str
    split_hash: str
    seeds: list[int] = Field(min_length=MIN_SEEDS)
    check_seeds: list[int] = Field(min_length=1)
    measured: dict[str, Any] = Field(description="date, git, hardware, versions, run_s_mean of the measurement")
    models: list[ModelBands] = Field(min_length=1)


class Bands(_Strict):
    """The contents of ``ci/bands.json``."""

    bands_version: Literal[1] = BANDS_VERSION
    generated_by: str
    level: float = Field(gt=0, lt=1)
    abs_floor: float = Field(ge=0)
    metrics: list[str]
    recipes: list[RecipeBands] = Field(min_length=1)


def band(values: Sequence[float], level: float = LEVEL, floor: float = ABS_FLOOR) -> MetricBand:
    """The band of one metric from its values over ``n ≥ 2`` seeds."""
    mean, half = prediction_interval(values, level)
    return MetricBand(mean=mean, sd=statistics.stdev(values), n=len(values), tol=half + floor,
                      values=[float(v) for v in values])


def load_bands(path: Path) -> Bands:
    """Read and validate a bands file; every problem is a :class:`BandsError` that says how to fix it."""
    path = Path(path)
    fix = f"the file is generated: re-create it with `{UPDATE} --bands {path}`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BandsError(f"{path}: no bands file; measure the bands first: `{UPDATE} --bands {path}`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BandsError(f"{path}: cannot read the bands file ({exc}); {fix}") from None
    except json.JSONDecodeError as exc:
        raise BandsError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg}); {fix}") from None
    try:
        return Bands.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'top level'}: {e['msg']}" for e in exc.errors()[:3])
        raise BandsError(f"{path}: not a valid bands file ({problems}); {fix}") from None


def dump_bands(bands: Bands) -> str:
    return json.dumps(bands.model_dump(mode="json"), indent=1, allow_nan=False) + "\n"
