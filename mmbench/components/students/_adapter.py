"""The item-side modality adapter of a student (the "distill layer"), folded away after training, and the
content head that gives cold items their vectors."""

from __future__ import annotations

import torch
from torch import nn

from mmbench.components._items import ItemSide
from mmbench.errors import MMBenchError


def _projections(items: ItemSide | None, dim: int, *, student: str, option: str, off: str) -> nn.ModuleDict:
    """One ``Linear(d_m, dim)`` per modality the items have, or the error that names the missing features."""
    if items is None or not items.names:
        have = "no encoders" if items is None else f"no item has {', '.join(items.absent)}"
        raise MMBenchError(f"{student}: {option} needs item features, but the recipe has {have}; "
                           f"fix: add `encoders:` with a modality the dataset has, or {off}")
    return nn.ModuleDict({m: nn.Linear(d, dim) for m, d in items.dims.items()})


def _mean_projection(proj: nn.ModuleDict, values: dict[str, torch.Tensor],
                     avail: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean of the per-modality projections over each item's available modalities (zeros for none)."""
    total = count = None
    for m, lin in proj.items():
        a = avail[m][:, None]
        part = torch.where(a, lin(values[m]), torch.zeros((), dtype=values[m].dtype))
        total = part if total is None else total + part
        count = a.float() if count is None else count + a.float()
    return total / count.clamp(min=1.0)


class ItemAdapter(nn.Module):
    """Maps an item's modality features to an offset of its ID embedding: mean of per-modality projections.

    Trained with the student (and with modality dropout, through the :class:`ItemSide`). Missing
    modalities are left out of the mean; an item with none gets no offset. After training the offset is
    added to the item table once (:meth:`offsets`), so serving costs exactly what the ID-only student costs.
    """

    def __init__(self, items: ItemSide | None, dim: int, *, student: str) -> None:
        super().__init__()
        self.items = items
        self.proj = _projections(items, dim, student=student, option="adapter: true", off="set adapter: false")
        for lin in self.proj.values():  # start as the ID-only student; the offset grows only if it helps
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self) -> torch.Tensor:
        return _mean_projection(self.proj, *self.items())

    @torch.no_grad()
    def offsets(self) -> torch.Tensor:
        """The item offsets without dropout, for folding into the item table."""
        was = self.training
        self.eval()
        try:
            return self.forward().detach().clone()
        finally:
            self.train(was)


class ContentHead(nn.Module):
    """Item vectors from content alone, for the items the train graph never saw (DropoutNet-style cold start).

    The same form as :class:`ItemAdapter` (mean of per-modality projections over an item's available
    modalities), but started at a random direction and read from the features without dropout
    (:meth:`ItemSide.frozen`): no gradient ever reaches the features or the student, and no draw is taken
    from the global RNG (its initialisation uses ``generator``), so the student beside it trains exactly as
    it would alone. Its student trains it against the student's own detached vectors (see
    :class:`~mmbench.components.students.lightgcn.LightGCNStudent`, ``cold_head``).
    """

    def __init__(self, items: ItemSide | None, dim: int, *, student: str, generator: torch.Generator) -> None:
        super().__init__()
        self.items = items
        with torch.random.fork_rng(devices=[]):  # nn.Linear's own initialisation draws from the global RNG
            self.proj = _projections(items, dim, student=student, option="cold_head", off="remove cold_head")
        for lin in self.proj.values():
            nn.init.xavier_uniform_(lin.weight, generator=generator)
            nn.init.zeros_(lin.bias)

    def forward(self, rows: torch.Tensor | None = None,
                inputs: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] | None = None) -> torch.Tensor:
        """``[len(rows), dim]`` content vectors of ``rows`` (every item when None); zeros for an item with no
        available modality. ``inputs``: the item side's :meth:`~ItemSide.frozen` output, when the caller has
        it already (several heads over one batch)."""
        values, avail = inputs if inputs is not None else self.items.frozen()
        if rows is not None:
            values, avail = {m: v[rows] for m, v in values.items()}, {m: a[rows] for m, a in avail.items()}
        return _mean_projection(self.proj, values, avail)
