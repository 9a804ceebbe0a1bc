"""Knowledge distillation: the teacher's embeddings and top items computed once, candidates per step.

The teacher is trained (and selected on valid) first. Its user and item tables are then computed once, and
so is every user's top-T item list (train items excluded); each training step only gathers rows of them.
A step's candidate set per batch user is its teacher top-T (in the teacher's order) followed by M items
sampled uniformly from those the user has not interacted with in train. The student's scores on the
candidates, its embeddings of the batch users and items, and the teacher's, go to each registered
distillation loss; their weighted sum is added to the student's own BPR objective.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from mmbench.data.types import TrainGraph
from mmbench.errors import MMBenchError
from mmbench.kinds import DISTILL_LOSSES
from mmbench.memory import rows_per_block
from mmbench.recipe.schema import DistillSpec
from mmbench.runner.sampling import sample_unseen, train_keys


def _tables(model: nn.Module, role: str, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not callable(getattr(model, "embeddings", None)):
        raise MMBenchError(f"{role} {name!r} has no embeddings() (user and item tables with score = users @ "
                           f"items.T), which distillation needs; fix: pick a {role} that provides it")
    return model.embeddings()


class Distiller(nn.Module):
    """The distillation term of a student's objective: weighted registered losses on shared candidates."""

    def __init__(self, teacher: nn.Module, teacher_name: str, student: nn.Module, student_name: str,
                 graph: TrainGraph, specs: Sequence[DistillSpec], chunk: int = 2048) -> None:
        super().__init__()
        was = teacher.training
        teacher.eval()
        with torch.no_grad():
            u_t, i_t = _tables(teacher, "teacher", teacher_name)
            d_s = _tables(student, "student", student_name)[0].shape[1]
        teacher.train(was)
        self.register_buffer("u_t", u_t.detach().clone(), persistent=False)
        self.register_buffer("i_t", i_t.detach().clone(), persistent=False)
        self.names = [s.name if [x.name for x in specs].count(s.name) == 1 else f"{s.name}#{i}"
                      for i, s in enumerate(specs)]
        self.weights = [s.weight for s in specs]
        self.losses = nn.ModuleList(DISTILL_LOSSES.get(s.name)(d_s, u_t.shape[1], **s.params) for s in specs)
        self.n_items = graph.n_items
        self.n_top = max([int(getattr(loss, "n_top", 0)) for loss in self.losses] + [0])
        self.n_sampled = max([int(getattr(loss, "n_sampled", 0)) for loss in self.losses] + [0])
        self.keys = train_keys(graph)
        self.register_buffer("top", self._teacher_top(graph, chunk), persistent=False)

    def _teacher_top(self, graph: TrainGraph, chunk: int) -> torch.Tensor:
        """Each user's top-T items by teacher score, train items excluded (computed once)."""
        t = min(self.n_top, self.n_items)
        if t == 0:
            return torch.zeros((graph.n_users, 0), dtype=torch.long)
        users = torch.as_tensor(graph.user, dtype=torch.long)
        items = torch.as_tensor(graph.item, dtype=torch.long)
        out = []
        chunk = rows_per_block(self.n_items, cap=chunk)  # a [chunk, n_items] block of scores at a time
        with torch.no_grad():
            for s in range(0, graph.n_users, chunk):
                scores = self.u_t[s:s + chunk] @ self.i_t.T
                sel = (users >= s) & (users < s + chunk)
                scores[users[sel] - s, items[sel]] = -torch.inf
                out.append(torch.topk(scores, t, dim=1).indices)
        return torch.cat(out)

    def candidates(self, users: torch.Tensor) -> torch.Tensor:
        """``[B, T + M]``: teacher top-T, then M uniform items outside the user's train items."""
        rows = users.cpu()[:, None].expand(-1, self.n_sampled)  # sampled on the CPU (its generator), any device
        return torch.cat([self.top[users], sample_unseen(self.keys, self.n_items, rows).to(users.device)], dim=1)

    def forward(self, student: nn.Module, users: torch.Tensor, pos: torch.Tensor, max_users: int | None = None,
                tables: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The weighted distillation losses of one batch (at most ``max_users`` distinct users), by loss name.

        ``tables``: the student's training-mode embeddings when the step already has them (from
        ``loss_and_embeddings``), so that they are not computed twice.
        """
        u_s, i_s = tables if tables is not None else student.embeddings()
        uu = torch.unique(users)
        if max_users is not None and len(uu) > max_users:  # the batch order is random: so is this subset
            first = torch.zeros(len(uu), dtype=torch.long, device=uu.device).scatter_reduce(
                0, torch.searchsorted(uu, users), torch.arange(len(users), device=uu.device), "amin",
                include_self=False)
            uu = uu[torch.argsort(first)[:max_users]].sort().values
        cand = self.candidates(uu)
        # the candidates' rows only ([B, C, d] @ [B, d, 1]): its cost does not grow with the catalogue, where a
        # dense [B, n_items] product and a gather did (5-7x slower on Amazon Beauty's 12k items, 1 thread)
        s_scores = torch.bmm(i_s[cand], u_s[uu].unsqueeze(2)).squeeze(2)
        with torch.no_grad():
            t_scores = torch.bmm(self.i_t[cand], self.u_t[uu].unsqueeze(2)).squeeze(2)
        # the batch's user and item rows only when a loss reads them (embedding, contrastive; the ranking losses do
        # not): computed on first access, once per step
        batch_items = _Once(lambda: torch.unique(pos))
        s_in = _Inputs({"scores": s_scores}, {"users": lambda: u_s[uu], "items": lambda: i_s[batch_items()]})
        t_in = _Inputs({"scores": t_scores, "n_top": torch.tensor(self.top.shape[1]),
                        "n_items": torch.tensor(self.n_items)},
                       {"users": lambda: self.u_t[uu], "items": lambda: self.i_t[batch_items()]})
        return {name: w * loss(s_in, t_in) for name, w, loss in zip(self.names, self.weights, self.losses)}


class _Once:
    """A value computed on the first call and kept."""

    def __init__(self, make: Callable[[], torch.Tensor]) -> None:
        self.make, self.value = make, None

    def __call__(self) -> torch.Tensor:
        if self.value is None:
            self.value = self.make()
        return self.value


class _Inputs(Mapping[str, torch.Tensor]):
    """A distillation loss's inputs: ``ready`` values, and ``lazy`` ones computed on first access."""

    def __init__(self, ready: dict[str, torch.Tensor], lazy: dict[str, Callable[[], torch.Tensor]]) -> None:
        self.values = dict(ready)
        self.lazy = {k: _Once(f) for k, f in lazy.items()}

    def __getitem__(self, key: str) -> torch.Tensor:
        if key in self.values:
            return self.values[key]
        return self.lazy[key]()

    def __iter__(self) -> Iterator[str]:
        return iter([*self.values, *self.lazy])

    def __len__(self) -> int:
        return len(self.values) + len(self.lazy)
