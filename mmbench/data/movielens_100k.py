"""MovieLens-100K (943 users, 1,682 movies, 100,000 ratings) read from the copy inside the RecBole wheel.

The MovieLens license (GroupLens) forbids redistributing the data, so mmbench does not embed it; the PyPI
wheel ``recbole`` ships ``recbole/dataset_example/ml-100k/`` as RecBole atomic files, and this loader reads
those files through :class:`~mmbench.data.atomic.AtomicDataset` without importing recbole (``find_spec`` on a
top-level package locates it without executing it, so none of recbole's heavy dependencies are needed).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mmbench.data.atomic import AtomicDataset
from mmbench.data.raw import RawData
from mmbench.errors import DataError
from mmbench.kinds import register_dataset

_NO_RECBOLE = ("movielens-100k is read from the RecBole wheel; fix: pip install --no-deps recbole==1.2.1 (the "
               "wheel is all this dataset needs) or set dataset.params.path")


def recbole_ml100k_dir() -> Path:
    """``recbole/dataset_example/ml-100k`` of the installed recbole, located without importing it."""
    try:
        spec = importlib.util.find_spec("recbole")
    except (ImportError, ValueError):  # a broken or half-imported install counts as absent
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DataError(_NO_RECBOLE)
    return Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / "ml-100k"


@register_dataset("movielens-100k")
class MovieLens100KDataset:
    """MovieLens-100K from the RecBole wheel (not redistributable): timestamped 1–5 ratings, titles and genres."""

    def __init__(self, *, path: str | None = None, k_core: int = 0, min_rating: float | None = None) -> None:
        """Args:
            path: a folder holding ``ml-100k.inter`` / ``ml-100k.item`` (default: the installed RecBole wheel's).
            k_core: iterative k-core (0 = as released; every user already has ≥ 20 ratings).
            min_rating: keep ratings ≥ this (e.g. 4 to treat only liked movies as positives).
        """
        folder = Path(path).expanduser() if path else recbole_ml100k_dir()
        self.atomic = AtomicDataset(path=str(folder), name="ml-100k", text_fields=["movie_title", "class"],
                                    k_core=k_core, min_rating=min_rating)
        self.atomic.notes.update(image="MovieLens-100K ships no posters or image features",
                                 text="title and genres only (genres are the 'class' field)")

    def sources(self) -> list[Path]:
        return self.atomic.sources()

    def load(self) -> RawData:
        return self.atomic.load()
