"""What the embedding recommenders share: dot-product scoring with cached tables, BPR, L2 and InfoNCE terms."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmbench.components._items import ItemSide


def check_params(component: str, **rules: tuple[Any, bool, str]) -> None:
    """One ``ValueError`` naming every parameter of ``component`` that breaks its rule, with the value it got.

    ``rules``: ``name=(value, ok, need)``, e.g. ``dim=(dim, dim >= 1, "≥ 1")``; the message reads
    ``"<component>: bad parameters: dim=0 (need ≥ 1); …"``.
    """
    bad = [f"{name}={value!r} (need {need})" for name, (value, ok, need) in rules.items() if not ok]
    if bad:
        raise ValueError(f"{component}: bad parameters: {'; '.join(bad)}")


def bpr_loss(u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Mean BPR loss ``-log σ(u·p - u·n)`` of a batch."""
    return -F.logsigmoid((u * pos).sum(-1) - (u * neg).sum(-1)).mean()


def l2(*tensors: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm of the batch's embeddings divided by the batch size (per-triple regularisation)."""
    return sum(t.square().sum() for t in tensors) / len(tensors[0])  # type: ignore[return-value]


class _InfoNCE(torch.autograd.Function):
    """InfoNCE of normalised rows, forward and backward in the fewest passes over the B × N logits.

    Row i of ``a`` (already divided by the temperature) has its positive at row ``targets[i]`` of ``b`` (row i
    when ``targets`` is None: an in-batch InfoNCE of row-aligned views) and every other row of ``b`` as a
    negative; the loss is the sum over rows times ``scale`` (1 / B for a mean). Every logit lies in
    ``[-bound, bound]``, ``bound`` = 1 / temperature: while ``exp(bound)`` cannot overflow float32 (``bound`` ≤
    80) the exponentials are taken as they are, otherwise each row is shifted by its maximum first
    (log-sum-exp). The unnormalised exponentials and their row sums are kept for the backward, whose gradients
    are ``scale (P - Y) b`` and ``scale (P - Y)ᵀ a`` with ``P`` the row softmax and ``Y`` the positives' one-hot
    rows: three matrix products, no B × N allocation besides the logits and three elementwise passes over them,
    where autograd through ``cross_entropy(a @ b.T / τ)`` makes about ten. The backward works in place, so it
    runs once per forward (training never needs more).

    ``counts`` (in-batch only) stands for a batch with repeated rows given once each: row i stands for
    ``counts[i]`` identical rows, as an anchor (its loss term counts that often) and as a negative of every row
    (its exponential counts that often in each row sum), which is the loss of the batch with its repeats, the
    products shrunk to the distinct rows.
    """

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, targets: torch.Tensor | None, bound: float,  # type: ignore[override]
                scale: float, counts: torch.Tensor | None = None) -> torch.Tensor:
        logits = a @ b.T
        rows = torch.arange(len(a), device=a.device)
        cols = rows if targets is None else targets
        positive = (a * b[cols]).sum(1)
        if bound <= 80.0:
            top = None
            p = logits.exp_()
        else:
            top = logits.amax(dim=1, keepdim=True)
            p = logits.sub_(top).exp_()
        if counts is not None:
            p.mul_(counts)
        total = p.sum(dim=1, keepdim=True)
        lse = total.log() if top is None else top + total.log()
        terms = lse.squeeze(1).sub(positive)
        loss = (terms if counts is None else terms * counts).sum() * scale
        ctx.save_for_backward(a, b, p, total, cols, counts)
        ctx.scale = scale
        return loss

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None, None, None, None]:  # type: ignore[override]
        if getattr(ctx, "spent", False):
            raise RuntimeError("info_nce: a second backward through the same loss is not supported (the first one "
                               "reused the kept exponentials in place); compute the loss again instead")
        ctx.spent = True
        a, b, p, total, cols, counts = ctx.saved_tensors
        w = grad * ctx.scale
        if counts is not None:
            w = (w * counts)[:, None]
        d = p.mul_(w / total)  # in place: a fresh B × N tensor costs as much as a matrix product here
        d[torch.arange(len(a), device=a.device), cols] -= w.squeeze(1) if counts is not None else w
        return d @ b, d.T @ a, None, None, None, None


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean InfoNCE of row-aligned views: row i of ``b`` is the positive of row i of ``a``, the batch's other
    rows of ``b`` its negatives, on cosine similarities divided by ``temperature``.

    Equals ``F.cross_entropy(F.normalize(a) @ F.normalize(b).T / temperature, arange(B))`` (MGCN's and SMORE's
    ``InfoNCE``, written there as ``-log(exp(pos) / Σ exp)``) up to float rounding, value and gradients, in
    under half the time (0.14 s against 0.30 s at B = 4,096, d = 64, one CPU thread, forward and backward;
    ``tests/benchmarks/test_bench_info_nce.py``): the B × B logits dominate these models' training steps on a CPU.
    """
    return _InfoNCE.apply(F.normalize(a, dim=1) / temperature, F.normalize(b, dim=1), None, 1.0 / temperature,
                          1.0 / len(a))


def batch_info_nce(a: torch.Tensor, b: torch.Tensor, rows: torch.Tensor, temperature: float) -> torch.Tensor:
    """:func:`info_nce` of ``a[rows]`` against ``b[rows]`` (row-aligned tables, a batch's user or item rows), with
    each distinct row computed once and counted as often as the batch repeats it.

    The same loss, value and gradients up to float rounding (a repeated row is an anchor that often and a
    negative that often, as in the reference), on a smaller logits matrix: a Beauty batch of 4,096 pairs holds
    about 85% distinct users and 70% distinct items, so the products shrink to ~0.72× and ~0.49×.
    """
    distinct, counts = torch.unique(rows, return_counts=True)
    return _InfoNCE.apply(F.normalize(a[distinct], dim=1) / temperature, F.normalize(b[distinct], dim=1), None,
                          1.0 / temperature, 1.0 / len(rows), counts.to(a.dtype))


def table_info_nce(anchor: torch.Tensor, table: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Summed InfoNCE of each ``anchor`` row against every row of ``table``, its positive at ``targets``.

    Equals ``F.cross_entropy(F.normalize(anchor) @ F.normalize(table).T / temperature, targets, reduction="sum")``
    (LGMRec's hypergraph contrast over all users or all items) up to float rounding, value and gradients.
    """
    return _InfoNCE.apply(F.normalize(anchor, dim=1) / temperature, F.normalize(table, dim=1), targets,
                          1.0 / temperature, 1.0)


class EmbeddingRecommender(nn.Module):
    """Base for models whose score is ``users @ items.T``: :meth:`embeddings` is all a subclass provides.

    In eval mode the tables are computed once and reused for every ``score`` call (evaluation batches,
    latency requests); switching mode, loading weights or changing the item side's robustness condition
    (a missing-modality mask or another imputer) drops them.
    """

    def __init__(self) -> None:
        super().__init__()
        self._tables: tuple[torch.Tensor, torch.Tensor] | None = None
        self._tables_key: tuple[int, ...] = ()
        self._sides: list[ItemSide] | None = None

    def _condition(self) -> tuple[int, ...]:
        # every item side this model reads (its own, an adapter's): tables computed under one mask never serve
        # another; the list is found once, so a cached request costs no module walk
        if self._sides is None:
            self._sides = [m for m in self.modules() if isinstance(m, ItemSide)]
        return tuple(side.condition_key() for side in self._sides)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(users [n_users, d], items [n_items, d])`` with ``score = users @ items.T``."""
        raise NotImplementedError

    def loss_and_embeddings(self, users: torch.Tensor, pos: torch.Tensor,
                            neg: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The batch loss and the training-mode embeddings, for a step that needs both (a KD student's: its BPR
        loss and the distillation term). A model whose loss already computes its tables (a graph model's
        propagation) overrides this to return those, so a step propagates once; this default calls both."""
        return self.loss(users, pos, neg), self.embeddings()  # type: ignore[attr-defined]

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The embeddings, cached while the model is in eval mode."""
        if self.training:
            return self.embeddings()
        key = self._condition()
        if self._tables is None or key != self._tables_key:
            with torch.no_grad():
                u, i = self.embeddings()
            self._tables, self._tables_key = (u.detach(), i.detach()), key
        return self._tables

    def score(self, users: torch.Tensor) -> torch.Tensor:
        u, i = self.tables()
        return u[users] @ i.T

    def train(self, mode: bool = True) -> EmbeddingRecommender:
        self._tables = None
        return super().train(mode)

    def _apply(self, fn: Any, recurse: bool = True) -> EmbeddingRecommender:
        """``to(device)``, ``double()``, ...: also the sparse graphs kept as plain attributes (and cached tables are
        dropped), so that the whole model, graphs included, lives on one device."""
        from mmbench.components._graph import move_sparse

        super()._apply(fn, recurse)
        self._tables = None
        for module in self.modules() if recurse else [self]:
            if module is not self and isinstance(module, EmbeddingRecommender):
                continue  # a nested model moves its own graphs (super()._apply called its _apply)
            for name, value in list(vars(module).items()):
                if name in ("_parameters", "_buffers", "_modules"):
                    continue
                moved = move_sparse(value, fn)
                if moved is not value:
                    object.__setattr__(module, name, moved)
        return self

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        self._tables = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
