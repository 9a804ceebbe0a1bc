"""What the four fidelity checks share: find and import MMRec, shim what it needs, build toy data, report.

MMRec's code is never copied here: it is imported from the user's checkout (``--mmrec-src`` or ``MMREC_SRC``).
The shims below are ours and stand in for what MMRec assumes of its environment:

- SciPy ≥ 1.12 dropped ``dok_matrix._update`` (a ``dict.update``), which MMRec's ``get_norm_adj_mat`` calls;
- ``torch_scatter`` (a compiled extension) is used only for a 1-d ``scatter_add`` in ``get_sparse_laplacian``;
- ``Tensor.cuda()`` is called unconditionally on the item graphs: a no-op while a model is built;
- MMRec reads features from, and saves k-NN graphs to, ``data_path/dataset``: a temp dir per model.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import sys
import tempfile
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from mmbench.components._items import ItemSide
from mmbench.data.types import TrainGraph

COMMIT = "e775373b3ab1354a92165b0885ce4ab3dc4d7497"
N_USERS, N_ITEMS, D_IMAGE, D_TEXT = 40, 30, 16, 24
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def load(module: str, name: str, doc: str | None = None) -> type:
    """Parses ``--mmrec-src``, installs the shims and returns MMRec's class ``models.<module>.<name>``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mmrec-src", type=Path, default=os.environ.get("MMREC_SRC") or None,
                        help="MMRec's src folder (default: $MMREC_SRC)")
    src = parser.parse_args().mmrec_src
    if src is None or not (src / "models" / f"{module}.py").is_file():
        found = "no --mmrec-src or MMREC_SRC given" if src is None else f"{src}/models/{module}.py not found"
        parser.error(f"needs MMRec's source ({found}). Get it with\n"
                     f"  git clone https://github.com/enoche/MMRec && git -C MMRec checkout {COMMIT}\n"
                     "then pass --mmrec-src MMRec/src (or set MMREC_SRC=MMRec/src).")
    sys.path.insert(0, str(src.resolve()))
    if not hasattr(sp.dok_matrix, "_update"):
        sp.dok_matrix._update = _dok_update
    if importlib.util.find_spec("torch_scatter") is None:
        stand_in = types.ModuleType("torch_scatter")
        stand_in.scatter_add = _scatter_add
        sys.modules["torch_scatter"] = stand_in
    # MMRec's deprecated torch calls (torch.sparse.FloatTensor, ...) would warn on every model built
    warnings.filterwarnings("ignore", module=r"(models|common|utils)(\.|$)")
    torch.set_num_threads(1)
    return getattr(importlib.import_module(f"models.{module}"), name)


def _dok_update(self: sp.dok_matrix, entries: dict) -> None:
    for key, value in entries.items():
        self[key] = value


def _scatter_add(src: torch.Tensor, index: torch.Tensor, dim: int = 0, dim_size: int | None = None) -> torch.Tensor:
    if dim != 0 or src.ndim != 1:
        raise NotImplementedError("the torch_scatter stand-in only sums a 1-d src along dim 0")
    size = int(index.max()) + 1 if dim_size is None else dim_size
    return torch.zeros(size, dtype=src.dtype).index_add_(0, index, src)


@contextlib.contextmanager
def _cuda_noop() -> Iterator[None]:
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda = cuda


class _Loader:
    """What MMRec's GeneralRecommender and models read from their dataloader and its ``dataset``."""

    def __init__(self, graph: TrainGraph) -> None:
        self.dataset, self.graph = self, graph

    def get_user_num(self) -> int:
        return self.graph.n_users

    def get_item_num(self) -> int:
        return self.graph.n_items

    def inter_matrix(self, form: str = "coo") -> sp.coo_matrix:
        if form != "coo":
            raise NotImplementedError(form)
        g = self.graph
        return sp.coo_matrix((np.ones(len(g.user)), (g.user, g.item)), shape=(g.n_users, g.n_items))


def build(cls: type, graph: TrainGraph, features: dict[str, np.ndarray], **config: Any) -> Any:
    """MMRec's ``cls(config, dataloader)`` on ``graph``, its image and text features read from a temp dir."""
    with tempfile.TemporaryDirectory(prefix="mmrec-") as tmp:
        folder = Path(tmp) / "toy"
        folder.mkdir()
        np.save(folder / "image.npy", features["image"])
        np.save(folder / "text.npy", features["text"])
        base = {"USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "NEG_PREFIX": "neg__", "device": "cpu",
                "end2end": False, "is_multimodal_model": True, "data_path": tmp + "/", "dataset": "toy",
                "vision_feature_file": "image.npy", "text_feature_file": "text.npy"}
        with _cuda_noop():
            return cls({**base, **config}, _Loader(graph))


def toy_data(seed: int, n_edges: int, *, uniform: bool = False) -> tuple[TrainGraph, dict[str, np.ndarray]]:
    """40 users × 30 items with ``n_edges`` distinct edges; image 16-d and text 24-d features (normal or U[0, 1))."""
    rng = np.random.default_rng(seed)
    keys = rng.choice(N_USERS * N_ITEMS, n_edges, replace=False)
    draw = rng.random if uniform else rng.normal
    features = {"image": draw(size=(N_ITEMS, D_IMAGE)).astype(np.float32),
                "text": draw(size=(N_ITEMS, D_TEXT)).astype(np.float32)}
    return TrainGraph(N_USERS, N_ITEMS, keys // N_ITEMS, keys % N_ITEMS), features


def item_side(graph: TrainGraph, features: dict[str, np.ndarray], order: tuple[str, ...]) -> ItemSide:
    """Every item available in every modality; ``order`` matters where a model draws one mask per modality."""
    return ItemSide(graph, {m: (features[m], np.ones(graph.n_items, dtype=bool)) for m in order})


def toy_batch(graph: TrainGraph, size: int, seed: int, *, distinct: bool) -> Batch:
    """(users, positives, negatives): ``size`` train edges, distinct or drawn with replacement, random negatives."""
    gen = torch.Generator().manual_seed(seed)
    n = len(graph.user)
    idx = torch.randperm(n, generator=gen)[:size] if distinct else torch.randint(n, (size,), generator=gen)
    return (torch.as_tensor(graph.user)[idx].long(), torch.as_tensor(graph.item)[idx].long(),
            torch.randint(graph.n_items, (size,), generator=gen))


def scores(official: Any, ours: Any, seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval mode, every user: MMRec's ``full_sort_predict`` (after ``torch.manual_seed(seed)`` if given), ours."""
    official.eval()
    ours.eval()
    users = torch.arange(official.n_users)
    with torch.no_grad():
        mine = ours.score(users)
        if seed is not None:
            torch.manual_seed(seed)
        return official.full_sort_predict((users,)), mine


def losses(official: Any, ours: Any, batch: Batch, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Train mode, the global RNG seeded with ``seed`` before each side: both losses, after backward on both.

    Ours runs in deterministic mode as mmbench's trainer runs it; its warnings are printed and returned.
    """
    official.train()
    ours.train()
    torch.manual_seed(seed)
    theirs = official.calculate_loss(batch)
    torch.manual_seed(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            mine = ours.loss(*batch)
            mine.backward()
        finally:
            torch.use_deterministic_algorithms(False)
    theirs.sum().backward()
    messages = [str(w.message) for w in caught]
    for message in messages:
        print(f"   warning (ours, deterministic mode): {message}")
    return theirs.detach().reshape(()), mine.detach(), messages


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Max absolute difference, in float64."""
    return float((a.detach().double() - b.detach().double()).abs().max())


class Report:
    """Prints every comparison with its tolerance; :meth:`finish` gives the exit status (1 if any failed)."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.checked = 0
        self.section = ""

    def title(self, text: str) -> None:
        self.section = text
        print(text)

    def check(self, name: str, value: float, tol: float, *, relative: bool = False) -> None:
        """A max difference that must not exceed ``tol`` (absolute, or relative to the compared values' scale)."""
        self.checked += 1
        ok = value <= tol  # False for NaN
        if not ok:
            self.failed.append(f"{self.section}: {name}")
        kind = "rel" if relative else "abs"
        print(f"  {name:<40} {value:10.3g}   {kind} tol {tol:g}{'' if ok else '   FAIL'}")

    def control(self, name: str, value: float, floor: float) -> None:
        """A difference that must reach ``floor``, or the comparison it controls proves nothing."""
        self.checked += 1
        ok = value >= floor
        if not ok:
            self.failed.append(f"{self.section}: {name}")
        print(f"  {name:<40} {value:10.3g}   must be ≥ {floor:g}{'' if ok else '   FAIL'}")

    def info(self, name: str, value: float) -> None:
        print(f"  {name:<40} {value:10.3g}")

    def finish(self) -> int:
        if self.failed:
            print(f"FAIL: {len(self.failed)} of {self.checked} comparisons out of tolerance: " + "; ".join(self.failed))
            return 1
        print(f"PASS: all {self.checked} comparisons within tolerance")
        return 0
