"""The run record: one JSON file per (recipe, seed) run, with everything needed to trust and repeat it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RECORD_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RecipeInfo(_Record):
    name: str
    hash: str
    path: str | None = None
    resolved: dict[str, Any]


class DatasetInfo(_Record):
    name: str
    key: str = Field(description="name plus non-default params: the leaderboard's dataset key")
    split: str
    content_hash: str
    split_hash: str
    card: dict[str, Any]


class ModelResult(_Record):
    role: Literal["teacher", "student", "baseline"]
    component: str
    params: dict[str, Any]
    selected_on: Literal["valid"] = "valid"
    best_epoch: int
    epochs_run: int
    stopped: str
    metrics: dict[Literal["valid", "test"], dict[str, float]]
    size: dict[str, int]
    latency: dict[str, Any] | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    distill: dict[str, Any] | None = Field(None, description="KD students: teacher, losses, candidate set; "
                                           "`skipped` (the reason) when the KD gate served the no-KD model instead")
    without_kd_of: str | None = Field(None, description="'student': this baseline is the student without KD")
    items: dict[str, Any] | None = Field(None, description="item side: modalities used / absent, dropout, imputer")
    served: str | None = Field(None, description="how the served model differs from the trained one")
    resumed_from_epoch: int | None = None
    cache_key: str | None = Field(None, description="trained-model cache key: a hash of everything the trained "
                                  "weights depend on (mmbench.runner.model_cache); None with --no-reuse")
    reused_from: str | None = Field(None, description="trained-model cache key when the trained weights were "
                                    "reused from an identical earlier training (mmbench.runner.model_cache)")
    robustness: dict[str, Any] | None = Field(None, description="test metrics under missing modalities "
                                               "(mmbench.runner.robustness)")
    slices: dict[str, dict[str, Any]] | None = Field(None, description="test metrics on the pairs of cold items "
                                                     "(no train interaction) and of warm ones: {slice: {pairs, "
                                                     "users, metrics}} (mmbench.runner.slices)")

    def test_values(self) -> dict[str, float]:
        """The test metrics plus one column per slice metric, e.g. ``NDCG@20[cold]``."""
        out = dict(self.metrics["test"])
        for name, part in (self.slices or {}).items():
            out.update({f"{col}[{name}]": value for col, value in part["metrics"].items()})
        return out


class RunRecord(_Record):
    """One run of one recipe with one seed."""

    record_version: Literal[1] = RECORD_VERSION
    run_id: str
    created_at: str
    status: Literal["ok"] = "ok"
    recipe: RecipeInfo
    dataset: DatasetInfo
    seed: int
    git: dict[str, Any]
    versions: dict[str, str]
    hardware: dict[str, Any]
    features: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                 description="per modality: encoder, identity, cache key, availability")
    models: list[ModelResult]
    kd: dict[str, Any] | None = Field(None, description="KD report: retention, gain over the no-KD student, "
                                      "parameter and latency ratios, paired per-user tests, the KD gate on valid")
    timings: dict[str, float]
