"""The component kinds: one :class:`~mmbench.registry.Registry` per kind, its decorator and its contract.

A contract is a small ``Protocol`` (at most three methods) that every member of the kind satisfies; the
registry checks at registration that the methods exist. Keyword-only constructor parameters are the
component's recipe ``params`` (see :mod:`mmbench.params`); positional ones are supplied by the runner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from mmbench.registry import Registry

if TYPE_CHECKING:
    import numpy as np
    import torch

    from pathlib import Path

    from mmbench.data.raw import RawData
    from mmbench.data.types import TrainGraph
    from mmbench.metrics.ranking import RankInfo


class DatasetContract(Protocol):
    """Dataset: ``sources()`` names the raw inputs, ``load()`` reads them into :class:`RawData`.

    Constructed with keyword-only recipe params only; must work offline for embedded datasets. ``sources()``
    is cheap and returns file paths (hashed by content) or immutable identifier strings (e.g. a hub
    revision); together with the params they key the processed cache. Preprocessing (filters, k-core, ids,
    modality masks, the card) is shared, in :mod:`mmbench.data.prepare`.
    """

    def sources(self) -> Sequence[str | Path]: ...

    def load(self) -> RawData: ...


class EncoderContract(Protocol):
    """Encoder: turns one modality's raw item inputs into a feature matrix plus an availability mask.

    Registered with ``consumes`` — what ``encode`` receives per item: ``"text"`` (a string, or ``None``),
    ``"image"`` (a local image path or a PIL image, or ``None``) or ``"item"`` (an
    :class:`~mmbench.data.item_inputs.ItemInputs`: raw item ids plus the dataset's own feature sources).
    ``encode(inputs)`` returns ``(features [n, d] float32, available [n] bool)``; a missing or undecodable
    input yields ``available=False`` and a zero row that is never used, never a fabricated vector. Results
    do not depend on how the inputs are chunked. ``identity()`` returns what the feature cache keys on:
    the weights' identity and every parameter that changes the output (never the batch size or device).
    """

    def encode(self, inputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]: ...

    def identity(self) -> Mapping[str, Any]: ...


class FusionContract(Protocol):
    """Fusion (``torch.nn.Module``): fuses per-modality item tokens into one item representation.

    ``forward(tokens, available)`` takes ``{modality: [n, d]}`` and ``{modality: [n] bool}`` and returns
    ``[n, d]``; an unavailable modality must not influence the output.
    """

    def forward(self, tokens: Mapping[str, torch.Tensor], available: Mapping[str, torch.Tensor]) -> torch.Tensor: ...


class RecommenderContract(Protocol):
    """Recommender (``torch.nn.Module``; teachers and students): trained on BPR triples, scores all items.

    Constructed as ``cls(graph, **params)`` where ``graph`` is the train-split :class:`TrainGraph`.
    ``loss(users, pos, neg)`` returns a scalar training loss for a batch of triples; ``score(users)``
    returns ``[len(users), n_items]`` scores (higher is better). A model without trainable parameters
    (e.g. popularity) is fitted in its constructor and skips training.
    """

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor: ...

    def score(self, users: torch.Tensor) -> torch.Tensor: ...


class DistillLossContract(Protocol):
    """Distillation loss (``torch.nn.Module``): ``forward(student, teacher)`` returns a scalar loss.

    Both arguments map ``"scores"`` to ``[B, C]`` scores over a shared candidate set and, where the loss
    needs them, ``"users"`` / ``"items"`` to embeddings. The loss is 0 when student equals teacher.
    """

    def forward(self, student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]) -> torch.Tensor: ...


class ImputerContract(Protocol):
    """Imputer: ``impute(features, available, graph)`` fills the rows of unavailable items.

    Available rows are returned unchanged; a graph-based imputer uses train edges only.
    """

    def impute(self, features: torch.Tensor, available: torch.Tensor, graph: TrainGraph) -> torch.Tensor: ...


class MetricContract(Protocol):
    """Ranking metric: ``metric(ranks, k)`` returns one value per user from a :class:`RankInfo`.

    Registered with ``label`` (the column prefix, ``NDCG`` -> ``NDCG@10``) and ``higher_is_better``.
    """

    def __call__(self, ranks: RankInfo, k: int) -> torch.Tensor: ...


DATASETS: Registry[type[DatasetContract]] = Registry("dataset", contract=DatasetContract)
ENCODERS: Registry[type[EncoderContract]] = Registry("encoder", contract=EncoderContract,
                                                    required_meta=("consumes",))
FUSIONS: Registry[type[FusionContract]] = Registry("fusion", contract=FusionContract)
TEACHERS: Registry[type[RecommenderContract]] = Registry("teacher", contract=RecommenderContract)
STUDENTS: Registry[type[RecommenderContract]] = Registry("student", contract=RecommenderContract)
DISTILL_LOSSES: Registry[type[DistillLossContract]] = Registry(
    "distill-loss", contract=DistillLossContract, plural="distill-losses")
IMPUTERS: Registry[type[ImputerContract]] = Registry("imputer", contract=ImputerContract)
METRICS: Registry[MetricContract] = Registry("metric", contract=MetricContract,
                                              required_meta=("label", "higher_is_better"))

register_dataset = DATASETS.register
register_encoder = ENCODERS.register
register_fusion = FUSIONS.register
register_teacher = TEACHERS.register
register_student = STUDENTS.register
register_distill_loss = DISTILL_LOSSES.register
register_imputer = IMPUTERS.register
register_metric = METRICS.register

KINDS: dict[str, Registry[Any]] = {
    r.kind: r for r in (DATASETS, ENCODERS, FUSIONS, TEACHERS, STUDENTS, DISTILL_LOSSES, IMPUTERS, METRICS)
}


def registry_of(kind: str) -> Registry[Any]:
    """The registry of ``kind`` (singular or plural, e.g. ``student`` or ``students``)."""
    for reg in KINDS.values():
        if kind in (reg.kind, reg.plural):
            return reg
    import difflib

    hint = difflib.get_close_matches(kind, list(KINDS), n=1)
    suffix = f" Did you mean {hint[0]!r}?" if hint else ""
    from mmbench.registry import UnknownComponentError

    raise UnknownComponentError(f"unknown component kind {kind!r}.{suffix} Kinds: {', '.join(KINDS)}")
