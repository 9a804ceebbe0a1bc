"""Top-K recommendations from an export folder: raw user id in, ranked raw item ids and scores out.

``Recommender.load(folder).recommend(user, k=10, exclude_seen=True)`` reads the folder (numpy and safetensors
only, see :mod:`mmbench.serve.format`), scores every item by ``users[u] · items[i]`` and returns the ``k`` best
as ``(item, score)`` pairs, ties broken by the item's row in the table (lower first); a user's answer is the
same alone and in any batch. ``exclude_seen`` removes
the user's train ∪ valid items, exactly the items the evaluator masks at test time. A ``k`` larger than the
candidates left is clamped: the list is then shorter than ``k``. ``ann=True`` searches a faiss HNSW index
instead (:mod:`mmbench.serve.ann`): ``k`` + the user's seen count are fetched and the seen ones dropped, so the
exclusion holds with approximate search too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mmbench.errors import ServeError
from mmbench.serve.ann import AnnIndex, HnswIndex
from mmbench.serve.cold import ColdItemMap
from mmbench.serve.format import ANN, ExportData, load_export


class Scored(NamedTuple):
    """One recommended item: its raw id and its score."""

    item: str
    score: float


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest finite scores of a row, best first, ties by lower position (deterministic,
    unlike ``argpartition`` alone). ``-inf`` marks excluded positions and is never returned."""
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    above = np.flatnonzero(scores > kth)
    chosen = np.concatenate([above, np.flatnonzero(scores == kth)[:k - len(above)]])
    return chosen[np.lexsort((chosen, -scores[chosen]))]


class Recommender:
    """An exported model, ready to serve (see the module docstring)."""

    def __init__(self, data: ExportData, n_catalogue: int | None = None) -> None:
        self.data = data
        self.manifest: dict[str, Any] = data.manifest
        self.users, self.items = data.users, data.items
        self.user_ids, self.item_ids = data.user_ids, data.item_ids
        self.n_catalogue = len(data.items) if n_catalogue is None else n_catalogue
        self._user_row: dict[str, int] | None = None
        self._ann: AnnIndex | None = None

    @classmethod
    def load(cls, folder: str | Path, *, verify: bool = True) -> Recommender:
        """Read an export folder (``verify``: check every file against the manifest's sha256 first)."""
        return cls(load_export(Path(folder), verify=verify))

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def user_row(self, user: str | int) -> int:
        """The table row of a raw user id, or one error naming it and what the export holds."""
        if self._user_row is None:
            self._user_row = {u: i for i, u in enumerate(self.user_ids)}
        row = self._user_row.get(str(user))
        if row is None:
            raise ServeError(f"unknown user {str(user)!r}: this export has {self.n_users} users (raw ids of "
                             f"{self.manifest['dataset']['key']}, e.g. {self.user_ids[0]!r}); a user absent from "
                             f"the training data has no embedding; fix: pass a user id listed in ids.json")
        return row

    def user_rows(self, users: Sequence[str | int]) -> np.ndarray:
        """The table rows of raw user ids; every unknown one is named in one error."""
        if self._user_row is None:
            self._user_row = {u: i for i, u in enumerate(self.user_ids)}
        unknown = [str(u) for u in users if str(u) not in self._user_row]
        if len(unknown) > 1:
            raise ServeError(f"{len(unknown)} unknown users, e.g. {unknown[:5]}: this export has {self.n_users} "
                             f"users (raw ids of {self.manifest['dataset']['key']}, e.g. {self.user_ids[0]!r}); a "
                             f"user absent from the training data has no embedding; fix: pass user ids listed in "
                             f"ids.json")
        return np.asarray([self.user_row(u) for u in users], dtype=np.int64)

    def seen(self, row: int) -> np.ndarray:
        """The catalogue rows of a user's train ∪ valid items."""
        return self.data.seen_items[self.data.seen_indptr[row]:self.data.seen_indptr[row + 1]]

    def recommend(self, user: str | int, k: int = 10, *, exclude_seen: bool = False, ann: bool = False,
                  candidates: Sequence[str] | None = None) -> list[Scored]:
        """The ``k`` best items for ``user``; ``candidates``: rank only these raw item ids (exact search)."""
        return self.recommend_many([user], k, exclude_seen=exclude_seen, ann=ann, candidates=candidates)[0]

    def recommend_many(self, users: Sequence[str | int], k: int = 10, *, exclude_seen: bool = False,
                       ann: bool = False, candidates: Sequence[str] | None = None,
                       batch_size: int = 1024) -> list[list[Scored]]:
        """:meth:`recommend` for many users, scored in batches of ``batch_size`` (every id checked first)."""
        if k < 1:
            raise ServeError(f"k must be at least 1, got {k}")
        if ann and candidates is not None:
            raise ServeError("approximate search ranks the whole catalogue; leave out --ann to rank chosen items")
        rows = self.user_rows(users)
        cols = None if candidates is None else self._item_rows(candidates)
        out: list[list[Scored]] = []
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            found = self.search_ann(batch, k, exclude_seen) if ann else self.search(batch, k, exclude_seen, cols)
            out.extend([Scored(self.item_ids[i], float(s)) for i, s in zip(idx, sc)] for idx, sc in found)
        return out

    def _item_rows(self, ids: Sequence[str]) -> np.ndarray:
        index = {item: i for i, item in enumerate(self.item_ids)}
        unknown = [i for i in ids if str(i) not in index]
        if unknown:
            raise ServeError(f"unknown item(s) {unknown[:5]} among the candidates ({len(unknown)} of {len(ids)}); "
                             f"this export has {self.n_items} items")
        return np.asarray([index[str(i)] for i in ids], dtype=np.int64)

    def _seen_mask(self, rows: np.ndarray, scores: np.ndarray, cols: np.ndarray | None) -> None:
        """Set the scores of each row's seen items to -inf (in place)."""
        starts, ends = self.data.seen_indptr[rows], self.data.seen_indptr[rows + 1]
        lens = ends - starts
        flat = self.data.seen_items[np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())]
        where = np.repeat(np.arange(len(rows)), lens)
        if cols is not None:  # seen items as positions among the candidates
            pos = np.full(self.n_items, -1, dtype=np.int64)
            pos[cols] = np.arange(len(cols))
            flat = pos[flat]
            where, flat = where[flat >= 0], flat[flat >= 0]
        scores[where, flat] = -np.inf

    def search(self, rows: np.ndarray, k: int, exclude_seen: bool,
               cols: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Exact top-``k`` of user rows ``rows``: per row, (item rows, scores), best first."""
        items = self.items if cols is None else self.items[cols]
        # one matrix-vector product per user, whatever the batch: a user's scores (and so its ties and ranking)
        # are then bit for bit the same alone and in any batch, which one matrix product does not promise
        scores = np.empty((len(rows), len(items)), dtype=np.float32)
        for j, r in enumerate(rows):
            np.dot(items, self.users[r], out=scores[j])
        if exclude_seen:
            self._seen_mask(rows, scores, cols)
        out = []
        for row_scores in scores:
            pos = top_k(row_scores, k)
            out.append((pos if cols is None else cols[pos], row_scores[pos]))
        return out

    def search_ann(self, rows: np.ndarray, k: int, exclude_seen: bool) -> list[tuple[np.ndarray, np.ndarray]]:
        """Approximate top-``k`` of user rows ``rows``, with each row's seen items fetched beyond ``k`` and
        dropped when ``exclude_seen``."""
        index = self.ann_index()
        extra = int(max(len(self.seen(r)) for r in rows)) if exclude_seen and len(rows) else 0
        scores, labels = index.search(self.users[rows], min(k + extra, self.n_items))
        out = []
        for r, sc, lab in zip(rows, scores, labels):
            keep = lab >= 0
            if exclude_seen:
                keep &= ~np.isin(lab, self.seen(r))
            out.append((lab[keep][:k].astype(np.int64), sc[keep][:k]))
        return out

    def ann_index(self) -> AnnIndex:
        """The approximate index: the one set with :meth:`use_ann`, else the export's ``ann.faiss`` when it covers
        this item table, else an HNSW index built now (kept for later calls)."""
        if self._ann is None:
            spec = self.manifest.get("ann")
            if spec and spec.get("items") == self.n_items:
                self._ann = HnswIndex.read(self.data.folder / ANN, spec)
            else:
                self._ann = HnswIndex.build(self.items)
        return self._ann

    def use_ann(self, index: AnnIndex) -> None:
        """Search with ``index`` when ``ann=True`` (any :class:`~mmbench.serve.ann.AnnIndex` over this table)."""
        self._ann = index

    def cold_map(self) -> ColdItemMap:
        """The exported feature → item vector map, or one error saying why this export has none."""
        spec = self.manifest.get("cold_items")
        if not spec or self.data.cold is None:
            why = (self.manifest.get("cold_items_note")
                   or "the exported model does not map item features to item vectors")
            raise ServeError(f"this export cannot score new items: {why}; fix: export a student trained with "
                             f"`adapter: true` (or a served cold head)")
        return ColdItemMap(self.data.cold, spec)

    def with_new_items(self, ids: Sequence[str], features: Mapping[str, np.ndarray]) -> Recommender:
        """A recommender whose catalogue also holds new items, scored from their ``features`` through the
        exported map (:meth:`cold_map`); they are never seen by any user, and approximate search builds its
        index anew over the grown table."""
        ids = [str(i) for i in ids]
        vectors = self.cold_map().encode(features)
        if len(vectors) != len(ids):
            raise ServeError(f"{len(ids)} new item id(s) for {len(vectors)} feature row(s); give one id per row")
        clash = sorted(set(ids) & set(self.item_ids))
        if clash or len(set(ids)) != len(ids):
            raise ServeError(f"new item ids must be distinct and not in the catalogue; clashing: "
                             f"{clash[:5] or 'a repeated id'}")
        grown = replace(self.data, items=np.concatenate([self.items, vectors]), item_ids=[*self.item_ids, *ids])
        return Recommender(grown, n_catalogue=self.n_catalogue)

