"""The recipe schema (pydantic v2, ``extra="forbid"``, frozen): what a recipe YAML may say.

A component is ``{name: <registry name>, params: {...}}``; its params are checked against the component's
typed constructor in :mod:`mmbench.recipe.validate`. Lists are explicit lists, never implicit grids.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1
Rate = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveInt = Annotated[int, Field(ge=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(values: list[Any]) -> list[Any]:
    dupes = sorted({v for v in values if values.count(v) > 1}, key=str)
    if dupes:
        raise ValueError(f"duplicate entries {dupes}")
    return values


class ComponentSpec(_Strict):
    """A registered component: its registry ``name`` and keyword ``params``."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class EncoderSpec(ComponentSpec):
    """A feature encoder for one modality; text encoders also take the item-text ``template``."""

    template: str | None = Field(None, description="text encoders: item text from item-table fields, "
                                 "e.g. '{title}[. Brand: {brand}]' (a [...] section is dropped when a field in it "
                                 "is empty); default: every text field of the dataset")


class DatasetSpec(ComponentSpec):
    """The dataset and the split that is part of every result key."""

    split: str = "loo-time"
    split_seed: int = Field(0, ge=0, description="seed of seeded splits (ratio-8-1-1); part of the result key")

    @model_validator(mode="after")
    def _seed_only_for_seeded_splits(self) -> DatasetSpec:
        from mmbench.data.splits import SEEDED_SPLITS

        if self.split_seed and self.split not in SEEDED_SPLITS:
            raise ValueError(f"split_seed is set but split {self.split!r} is deterministic; remove split_seed "
                             f"(seeded splits: {', '.join(sorted(SEEDED_SPLITS))})")
        return self

    @field_validator("split")
    @classmethod
    def _known_split(cls, value: str) -> str:
        from mmbench.data.splits import SPLITS

        if value not in SPLITS:
            hint = difflib.get_close_matches(value, list(SPLITS), n=1)
            raise ValueError(f"unknown split {value!r}{f'; did you mean {hint[0]!r}?' if hint else ''} "
                             f"(available: {', '.join(SPLITS)})")
        return value


class TrainSpec(_Strict):
    """Training budget and model selection (always on the validation split)."""

    epochs: int = Field(100, ge=1, description="most epochs to train (at least 1: a record of untrained models "
                        "is never what a recipe means; a model with nothing to train, such as pop, ignores it)")
    batch_size: PositiveInt = 4096
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    eval_every: PositiveInt = 1
    patience: PositiveInt = Field(10, description="validation rounds without improvement before stopping")
    select_metric: str = "NDCG@10"
    distill_users: PositiveInt = Field(1024, description="KD students: batch users per step that get the "
                                       "distillation term (distinct users of the batch, at random)")
    negatives: Literal["all", "warm"] = Field(
        "all", description="where BPR negatives come from: `all` items the user has no train pair with (the usual "
        "protocol), or only `warm` ones (items with a train interaction), so that an item new at test time is "
        "never trained as a negative and keeps the score its features give it")
    sampling: Literal["interactions", "users"] = Field(
        "interactions", description="what an epoch of BPR triples is drawn over: every train `interactions` once, "
        "shuffled (mmbench's default), or `users`: as many triples as train pairs, each from a user drawn uniformly "
        "(with replacement) and a uniformly drawn train item of theirs, as the LightGCN and NGCF reference code do")


#: Train settings added after results were recorded, with their defaults: a model's resolved ``train`` leaves
#: them out while they are at the default, so that adding one re-keys no existing recipe hash (every other
#: field is resolved explicitly, defaults included).
ADDED_TRAIN_DEFAULTS: dict[str, Any] = {"negatives": "all", "sampling": "interactions"}


class ModelSpec(ComponentSpec):
    """A trained recommender; ``train`` overrides fields of the recipe-level ``train`` for this model."""

    train: dict[str, Any] = Field(default_factory=dict)
    tuning: dict[str, Any] | None = Field(None, description="written by a tuning study: its budget, best trial and "
                                          "summary; provenance only, not part of the recipe hash")


class TeacherSpec(ModelSpec):
    """The teacher, with the fusion module it uses."""

    fusion: ComponentSpec | None = None


class DistillSpec(ComponentSpec):
    """One distillation loss with its weight in the student's objective."""

    weight: float = Field(1.0, gt=0)


class RobustnessSpec(_Strict):
    """Missing-modality evaluation: metrics when a share of items lose a modality (item-level masks)."""

    enabled: bool = False
    rates: list[Rate] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0], min_length=1)
    modalities: list[str] = Field(default_factory=list)
    mask_seeds: PositiveInt = 3
    imputers: list[ComponentSpec] = Field(default_factory=list)


class LatencySpec(_Strict):
    """Serving latency: warm-up, then timed single-user requests (score all items + top-K)."""

    enabled: bool = False
    warmup: int = Field(10, ge=0)
    repeats: PositiveInt = 100
    k: PositiveInt = 20
    batch_size: PositiveInt = 1024


class EvalSpec(_Strict):
    """Full-ranking evaluation settings."""

    ks: list[PositiveInt] = Field(default_factory=lambda: [5, 10, 20], min_length=1)
    metrics: list[str] = Field(default_factory=lambda: ["hr", "ndcg", "recall", "mrr"], min_length=1)
    batch_size: PositiveInt = 4096
    robustness: RobustnessSpec = Field(default_factory=RobustnessSpec)
    latency: LatencySpec = Field(default_factory=LatencySpec)

    _ks_unique = field_validator("ks", "metrics")(_unique)


class KDGateSpec(_Strict):
    """Whether the teacher is worth distilling: compared with the no-KD student on valid before KD.

    The teacher passes when its validation ``train.select_metric`` (at its selected epoch) exceeds the no-KD
    student's by more than ``min_gain`` (relative); test is never read for this.
    """

    on_weak_teacher: Literal["warn", "skip", "fail"] = Field(
        "warn", description="a teacher that does not pass: warn and distil anyway, skip KD (the student is the "
        "no-KD model), or fail the run before distilling")
    min_gain: float = Field(0.0, gt=-1.0, description="relative margin the teacher must beat the no-KD student "
                            "by on valid: teacher > no-KD * (1 + min_gain); negative tolerates a weaker teacher")


class ModelSlot(NamedTuple):
    """A model of a recipe: its role on the leaderboard, its path in the YAML, and its spec."""

    role: str
    loc: tuple[Any, ...]
    spec: ModelSpec


# a recipe's name: lowercase letters and digits joined by single - _ or . (it names result files and leaderboard rows)
RECIPE_NAME = r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$"


class Recipe(_Strict):
    """A complete benchmark recipe: data, encoders, teacher, student, distillation, training, evaluation."""

    schema_version: Literal[1]
    name: str | None = Field(None, pattern=RECIPE_NAME)
    description: str = ""
    plugins: list[str] = Field(default_factory=list)
    dataset: DatasetSpec
    encoders: dict[str, EncoderSpec] = Field(default_factory=dict)
    teacher: TeacherSpec | None = None
    student: ModelSpec
    baselines: list[ModelSpec] = Field(default_factory=list)
    distill: list[DistillSpec] = Field(default_factory=list)
    kd_gate: KDGateSpec = Field(default_factory=KDGateSpec)
    modality_dropout: dict[str, Rate] = Field(default_factory=dict)
    imputer: ComponentSpec | None = None
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)

    _seeds_unique = field_validator("seeds")(_unique)

    def train_for(self, spec: ModelSpec) -> TrainSpec:
        """The effective training settings of one model: recipe ``train`` updated by the model's own."""
        return TrainSpec.model_validate({**self.train.model_dump(), **spec.train})

    def models(self) -> list[ModelSlot]:
        """Every model the recipe trains, teacher first, with its role and its path in the recipe."""
        out = [ModelSlot("teacher", ("teacher",), self.teacher)] if self.teacher else []
        return out + [ModelSlot("student", ("student",), self.student)] + [
            ModelSlot("baseline", ("baselines", i), b) for i, b in enumerate(self.baselines)]
