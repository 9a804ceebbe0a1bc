"""The compatibility shims RecBole 1.2.1 needs on current numpy, scipy, torch and without ``ray``.

RecBole 1.2.1 (2022) predates numpy 2, scipy 1.12 and torch 2.6. Nothing here is applied when mmbench is
imported: call :func:`apply` (idempotent) before using RecBole, and wrap RecBole's loading of its own saved
models in :func:`recbole_checkpoints`. Each shim only fills in something that is missing, never replaces it:

* numpy aliases. ``recbole.config.Config`` runs ``np.float = np.float_`` (and ``np.complex_``,
  ``np.unicode_``) on construction and its metrics use ``np.float`` / ``np.bool``; numpy 2 removed the
  ``*_`` spellings and numpy 1.24 the builtin-named ones, so Config fails with AttributeError. The aliases
  are restored to the types they meant (``np.float`` was the builtin ``float``, ``np.float_`` float64, ...).
* ``scipy.sparse.dok_matrix._update``. LightGCN (also NGCF, GCMC, NCL, SpectralCF) fills its adjacency
  with ``A._update(dict)``, which scipy 1.12 removed when ``dok_matrix`` stopped subclassing ``dict``. The old
  method was ``dict.update(self, data)``: store every entry with no checks; the shim does exactly that on the
  matrix's entry dict.
* ``ray``. ``recbole.quick_start`` imports ``ray.tune`` at module level but uses it only in
  ``objective_function`` (hyperparameter tuning); RecBole pins ``ray<=2.6.3`` (no wheels for Python ≥ 3.12,
  untested with numpy 2), which mmbench does not install. If ray is absent, ``recbole.quick_start`` is
  imported once with a stand-in ``ray`` placed in ``sys.modules`` only for that import; calling
  ``tune.report`` then raises an ImportError.
* ``torch.load``. torch ≥ 2.6 defaults to ``weights_only=True``, and RecBole's checkpoints pickle its Config
  (and numpy state), so ``Trainer.evaluate(load_best_model=True)``, ``resume_checkpoint`` and
  ``load_data_and_model`` fail. :func:`recbole_checkpoints` makes ``weights_only=False`` the default only while
  it is active, for files RecBole itself wrote; ``torch.load`` is the original again on exit. mmbench's own
  loading is never affected.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

# name -> what it meant; set only where numpy no longer defines the name
NUMPY_ALIASES: dict[str, Any] = {
    "float": float, "int": int, "bool": bool, "complex": complex, "object": object, "str": str,
    "long": int, "unicode": str, "float_": np.float64, "complex_": np.complex128, "unicode_": np.str_,
}


def _numpy_aliases() -> None:
    for name, value in NUMPY_ALIASES.items():
        if name not in np.__dict__:  # not hasattr: numpy warns on the expired builtin names
            setattr(np, name, value)


def _dok_update(self: Any, data: dict) -> None:
    """scipy < 1.12's ``dok_matrix._update``: ``dict.update`` of the entries, no index or value checks."""
    self._dict.update(data)


def _scipy_dok() -> None:
    import scipy.sparse as sp

    if not hasattr(sp.dok_matrix, "_update"):
        sp.dok_matrix._update = _dok_update


class _NoRay(types.ModuleType):
    """Stand-in for ``ray`` and ``ray.tune`` while ``recbole.quick_start`` is imported without ray."""

    def report(self, *args: Any, **kwargs: Any) -> None:
        raise ImportError("RecBole's hyperparameter tuning needs ray (RecBole 1.2.1 pins ray<=2.6.3); "
                          "install ray in a separate environment to use recbole.quick_start.objective_function")


def _quick_start_without_ray() -> None:
    if "recbole.quick_start" in sys.modules or importlib.util.find_spec("recbole") is None \
            or importlib.util.find_spec("ray") is not None:
        return
    ray, tune = _NoRay("ray"), _NoRay("ray.tune")
    ray.tune = tune  # type: ignore[attr-defined]
    saved = {k: sys.modules.get(k) for k in ("ray", "ray.tune")}
    sys.modules.update({"ray": ray, "ray.tune": tune})
    try:
        import recbole.quick_start  # noqa: F401  (binds the stand-in as recbole.quick_start.quick_start.tune)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def apply() -> None:
    """Install every shim RecBole 1.2.1 needs (idempotent; each one only fills in what is missing)."""
    _numpy_aliases()
    _scipy_dok()
    _quick_start_without_ray()


@contextmanager
def recbole_checkpoints() -> Iterator[None]:
    """``torch.load`` defaults to ``weights_only=False`` inside the block, for RecBole's own checkpoints only."""
    import torch

    original = torch.load

    def load(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("weights_only", False)
        return original(*args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original
