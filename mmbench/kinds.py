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
    modality masks, the card) is shared, in :mod:`mmbench.data.prepare`. Optional: ``external_ids()``
    returns ``{"users": {id: external id}, "items": {...}}`` (ids as strings) when the ids in the data are
    not the ones the world uses (Amazon Beauty's integers for reviewerIDs and ASINs): ``mmbench export`` then
    serves by the external ids.
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
    """Fusion (``torch.nn.Module``): fuses an item's modality tokens and its ID token into one vector.

    Constructed as ``cls(modalities, dim, **params)``: the feature modality names (e.g. ``["text", "image"]``)
    and the token size. ``forward(tokens, available)`` takes ``{"id": [n, dim], modality: [n, dim], ...}`` and
    ``{modality: [n] bool}`` (the ``"id"`` token is always available and may be absent from ``available``)
    and returns ``[n, dim]``. A modality whose ``available`` is False must not influence its item's output:
    changing that token's values changes nothing. Works for any number of modalities, including none.
    """

    def forward(self, tokens: Mapping[str, torch.Tensor], available: Mapping[str, torch.Tensor]) -> torch.Tensor: ...


class RecommenderContract(Protocol):
    """Recommender (``torch.nn.Module``; teachers and students): trained on BPR triples, scores all items.

    Constructed as ``cls(graph, **params)`` where ``graph`` is the train-split :class:`TrainGraph`; a model
    registered with ``features=True`` is constructed as ``cls(graph, items, **params)`` where ``items`` is
    the recipe's :class:`~mmbench.components._items.ItemSide` (encoder features, availability masks,
    modality dropout, imputer, fusion), or ``None`` when the recipe has no encoders.
    ``loss(users, pos, neg)`` returns a scalar training loss for a batch of triples; ``score(users)``
    returns ``[len(users), n_items]`` scores (higher is better). A model without trainable parameters
    (e.g. popularity) is fitted in its constructor and skips training. Optional: ``embeddings()`` returns
    ``(users [n_users, d], items [n_items, d])`` with ``score == users @ items.T`` (knowledge distillation
    needs it), ``new_epoch()`` is called before each training epoch, ``folded()`` returns the model to
    serve after training (an item adapter folded into the embedding table), and ``train_batches(batch_size)``
    replaces the BPR triples with the model's own epoch of ``(users, items, loss)`` batches (RecBole models).
    """

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor: ...

    def score(self, users: torch.Tensor) -> torch.Tensor: ...


class DistillLossContract(Protocol):
    """Distillation loss (``torch.nn.Module``): ``forward(student, teacher)`` returns a scalar loss.

    Constructed as ``cls(student_dim, teacher_dim, **params)``. Reads its candidate-set needs from the
    attributes ``n_top`` (teacher top items per user) and ``n_sampled`` (uniformly sampled items) that
    the constructor sets. Both arguments map ``"scores"`` to ``[B, C]`` scores over one candidate set per
    user: columns ``[0, T)`` are the teacher's top-T items in the teacher's order (the user's train items
    excluded), columns ``[T, C)`` are sampled items; ``teacher["n_top"]`` is T (a 0-d tensor, T ≥ the
    loss's ``n_top``; C - T ≥ its ``n_sampled``) and ``teacher["n_items"]`` the catalogue size. ``"users"``
    ``[B, d]`` holds the batch users' embeddings and ``"items"`` ``[N, d]`` the batch items' (student and
    teacher dims may differ). Divergence losses are 0 when the student equals the teacher and positive
    otherwise; likelihood losses (of the teacher's ranking) are lowest for the student that agrees with it.
    """

    def forward(self, student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]) -> torch.Tensor: ...


class ImputerContract(Protocol):
    """Imputer (``torch.nn.Module``): ``impute(features, available, graph)`` fills the rows of unavailable items.

    Constructed as ``cls(dim, **params)`` (the feature size). Available rows are returned unchanged; a
    graph-based imputer uses the train edges of ``graph`` only. Imputed rows then count as available: the
    imputer is part of the result key. Without an imputer, models mask missing modalities instead.
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
